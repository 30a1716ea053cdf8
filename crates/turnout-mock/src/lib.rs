//! Mock upstream providers (OpenAI dialect) with fault injection: used by tests, benchmarks and `serve --demo`.
