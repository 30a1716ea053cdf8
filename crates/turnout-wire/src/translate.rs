//! What the translating adapters (Anthropic, Gemini) hand back in OpenAI terms: a rendered
//! non-streaming answer, and one step of a stream.

use crate::chat::Usage;

/// What a non-streaming answer becomes in OpenAI terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The `choices[0].message` object, as JSON text.
    pub message: String,
    pub finish_reason: Option<&'static str>,
    pub native_finish_reason: Option<String>,
    pub usage: Usage,
}

/// What one upstream event means for the OpenAI stream.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamStep {
    /// Nothing to send (ping, block stop, unknown events, …).
    Nothing,
    /// One chunk: `choices[0]` with this delta (JSON text) and finish reason.
    Delta(ChunkDelta),
    /// The upstream said the answer is complete (Anthropic's `message_stop`; a Gemini stream
    /// just ends).
    Stop,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChunkDelta {
    pub delta: String,
    pub finish_reason: Option<&'static str>,
    pub native_finish_reason: Option<String>,
    /// Carries generated output (text, reasoning, a tool call, a finish): binds the stream.
    pub content: bool,
    /// Characters generated, for usage estimates when the upstream reports none.
    pub chars: usize,
}
