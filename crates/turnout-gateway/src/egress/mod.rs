//! Step 4: answers to the client: a complete JSON body or an SSE stream, under our own id.

pub mod stream;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng;
use rand::distr::Alphanumeric;

/// What every response of one generation carries, whichever provider serves it.
#[derive(Debug, Clone)]
pub struct ResponseIdentity {
    /// `gen-<unix>-<20 alnum>`.
    pub id: Arc<str>,
    pub created: u64,
}

impl ResponseIdentity {
    pub fn new() -> Self {
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let suffix: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(20)
            .map(char::from)
            .collect();
        Self {
            id: format!("gen-{created}-{suffix}").into(),
            created,
        }
    }
}

impl Default for ResponseIdentity {
    fn default() -> Self {
        Self::new()
    }
}

/// `openrouter_metadata`, sent when the client asks with `X-OpenRouter-Metadata: enabled`:
/// what was requested, which endpoints were available, and every attempt.
pub fn openrouter_metadata(
    requested: &str,
    plan: &crate::routing::plan::Plan,
    attempts: &[crate::upstream::attempt::AttemptSummary],
    served: &crate::routing::catalog::Target,
) -> serde_json::Value {
    let available: Vec<serde_json::Value> = plan
        .candidates()
        .map(|c| {
            serde_json::json!({
                "provider": c.target.endpoint.provider.name,
                "model": c.target.model_id,
                "selected": std::sync::Arc::ptr_eq(&c.target.endpoint, &served.endpoint)
                    && c.target.model_id == served.model_id,
            })
        })
        .collect();
    serde_json::json!({
        "requested": requested,
        "strategy": if attempts.len() > 1 { "fallback" } else { "direct" },
        "attempt": attempts.len(),
        "is_byok": false,
        "endpoints": { "total": available.len(), "available": available },
        "attempts": attempts,
    })
}

/// Whether the client asked for `openrouter_metadata` (the legacy header name too).
pub fn wants_metadata(headers: &axum::http::HeaderMap) -> bool {
    [
        "x-openrouter-metadata",
        "x-openrouter-experimental-metadata",
    ]
    .iter()
    .filter_map(|h| headers.get(*h))
    .any(|v| {
        v.to_str()
            .is_ok_and(|v| v.trim().eq_ignore_ascii_case("enabled"))
    })
}

/// Adds one member to a JSON object we serialized ourselves.
pub fn append_member(object: &mut Vec<u8>, key: &str, value: &serde_json::Value) {
    if object.last() == Some(&b'}')
        && let (Ok(k), Ok(v)) = (serde_json::to_vec(key), serde_json::to_vec(value))
    {
        object.pop();
        if object.len() > 1 {
            object.push(b',');
        }
        object.extend_from_slice(&k);
        object.push(b':');
        object.extend_from_slice(&v);
        object.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn append_member_keeps_the_object_valid() {
        let mut o = br#"{"a":1}"#.to_vec();
        super::append_member(&mut o, "b", &serde_json::json!({"c": [1]}));
        assert_eq!(o, br#"{"a":1,"b":{"c":[1]}}"#);
        let mut e = b"{}".to_vec();
        super::append_member(&mut e, "x", &serde_json::json!(null));
        assert_eq!(e, br#"{"x":null}"#);
    }

    use super::*;

    #[test]
    fn generation_ids_have_openrouters_shape() {
        let a = ResponseIdentity::new();
        let parts: Vec<&str> = a.id.split('-').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], "gen");
        assert_eq!(parts[1], a.created.to_string());
        assert_eq!(parts[2].len(), 20);
        assert!(parts[2].chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(ResponseIdentity::new().id, a.id);
    }
}
