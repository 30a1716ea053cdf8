//! Step 1, Messages skin: an Anthropic Messages body (`POST /api/v1/messages`) is read as the
//! chat request it amounts to, so the one pipeline routes, holds, bills and fails over for it;
//! the original body is kept for Anthropic endpoints, which get it passed through.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue};
use serde_json::{Map, Value};
use turnout_wire::anthropic::ingress::{self, ChatRequest};

use super::parse::{self, ChatInput};
use crate::error::ApiError;

/// Members that are OpenRouter's routing vocabulary on this skin: Anthropic would refuse them,
/// so they are cut from a passed-through body.
const NOT_PASSED: &[&str] = &[
    "models",
    "fallbacks",
    "provider",
    "route",
    "session_id",
    "plugins",
    "transforms",
    "usage",
    "debug",
    "trace",
    "reasoning",
    "include_reasoning",
    "user",
    "stream_options",
];

/// The request as the client sent it, for Anthropic endpoints.
#[derive(Debug)]
pub struct NativeMessages {
    /// The body, exactly as received.
    body: String,
    /// The client's `anthropic-beta` header: betas change what a body may contain.
    pub beta: Option<HeaderValue>,
    /// `stop_sequences`, to say which one ended an answer when an upstream tells.
    pub stop_sequences: Vec<String>,
    /// What only an Anthropic endpoint can serve (see [`ChatRequest::inexpressible`]).
    pub inexpressible: Option<String>,
}

impl NativeMessages {
    /// The body for one Anthropic endpoint: byte for byte the client's, but for `model`
    /// (theirs → the endpoint's) and the routing members.
    pub fn upstream_body(&self, upstream_model: &str) -> Vec<u8> {
        let mut model = Vec::with_capacity(upstream_model.len() + 2);
        turnout_wire::json::string(&mut model, upstream_model);
        // The body parsed as an object in `parse_messages`.
        turnout_wire::json::splice_object(&self.body, &[("model", &model)], NOT_PASSED)
            .unwrap_or_default()
    }
}

/// Reads a Messages body into the chat input the pipeline runs on.
pub fn parse_messages(body: &[u8], headers: &HeaderMap) -> Result<ChatInput, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::invalid("Request body must be UTF-8 JSON"))?;
    let map: Map<String, Value> = serde_json::from_str(text).map_err(|e| {
        if e.is_data() {
            ApiError::invalid("Request body must be a JSON object")
        } else {
            ApiError::invalid(format!(
                "Invalid JSON in request body at line {} column {}",
                e.line(),
                e.column()
            ))
        }
    })?;
    let ChatRequest {
        body: chat,
        inexpressible,
    } = ingress::chat_from_messages(&map).map_err(|e| ApiError::invalid(e.to_string()))?;
    let chat = serde_json::to_vec(&chat).map_err(|e| ApiError::Internal {
        detail: format!("messages → chat: {e}"),
    })?;
    let mut input = parse::parse_chat(&chat)?;
    input.native = Some(Arc::new(NativeMessages {
        body: text.to_owned(),
        beta: headers.get("anthropic-beta").cloned(),
        stop_sequences: map
            .get("stop_sequences")
            .and_then(Value::as_array)
            .map(|s| {
                s.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        inexpressible,
    }));
    Ok(input)
}

/// A chat completion body of ours as an Anthropic Message.
pub fn message_body(chat: &[u8], input: &ChatInput) -> Result<Vec<u8>, ApiError> {
    let completion: Value = serde_json::from_slice(chat).map_err(|e| ApiError::Internal {
        detail: format!("chat → message: {e}"),
    })?;
    let stops = input
        .native
        .as_ref()
        .map_or(&[][..], |n| n.stop_sequences.as_slice());
    Ok(ingress::message_from_completion(&completion, stops)
        .to_string()
        .into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passed_through_body_differs_only_by_model_and_routing_fields() {
        let body = "{\n  \"model\": \"acme/claude\",\n  \"max_tokens\": 64,\n  \"provider\": {\"order\": [\"a\"]},\n  \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}],\n  \"future\": {\"x\": 1}\n}";
        let input = parse_messages(body.as_bytes(), &HeaderMap::new()).expect("parses");
        assert_eq!(input.model, "acme/claude");
        assert_eq!(input.max_tokens, Some(64));
        let native = input.native.as_ref().expect("native");
        assert_eq!(
            String::from_utf8(native.upstream_body("claude-up")).expect("utf8"),
            "{\n  \"model\": \"claude-up\",\n  \"max_tokens\": 64,\n  \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}],\n  \"future\": {\"x\": 1}\n}"
        );
    }

    #[test]
    fn the_chat_side_is_validated_too() {
        let err = parse_messages(
            br#"{"model":"a/b","max_tokens":5,"messages":[{"role":"user","content":"x"}],"provider":{"sort":"fastest"}}"#,
            &HeaderMap::new(),
        )
        .expect_err("bad sort");
        assert!(err.to_string().contains("sort"), "{err}");
        let err = parse_messages(b"{\"model\":", &HeaderMap::new()).expect_err("bad json");
        assert!(err.to_string().contains("line 1"), "{err}");
    }
}
