//! Wire formats, no IO: OpenRouter/OpenAI chat types, Anthropic Messages and Gemini
//! generateContent with their translations, the error envelope, SSE.

pub mod anthropic;
pub mod chat;
pub mod error;
pub mod gemini;
pub mod json;
pub mod params;
pub mod sse;
pub mod translate;
