//! Wire formats, no IO: OpenRouter/OpenAI chat types, the error envelope, SSE.
