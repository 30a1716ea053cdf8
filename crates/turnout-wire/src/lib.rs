//! Wire formats, no IO: OpenRouter/OpenAI chat types, Anthropic Messages and its
//! translation, the error envelope, SSE.

pub mod anthropic;
pub mod chat;
pub mod error;
pub mod json;
pub mod sse;
