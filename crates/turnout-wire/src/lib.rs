//! Wire formats, no IO: OpenRouter/OpenAI chat types, the error envelope, SSE.

pub mod chat;
pub mod error;
pub mod json;
pub mod sse;
