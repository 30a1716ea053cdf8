//! Step 4: answers to the client: a complete JSON body or an SSE stream, under our own id.

pub mod stream;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rand::RngCore;

/// What every response of one generation carries, whichever provider serves it.
#[derive(Debug, Clone)]
pub struct ResponseIdentity {
    /// `gen-<unix>-<20 alnum>`: 4 characters of the time within the second, then 16 random.
    pub id: Arc<str>,
    pub created: u64,
}

impl ResponseIdentity {
    pub fn new() -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let created = now.as_secs();
        // Written by hand (no `format!`), with the random suffix drawn from one buffer of random
        // bytes: per-character sampling and `core::fmt` were a visible share of each request.
        let mut id = String::with_capacity(4 + 20 + 1 + 20);
        id.push_str("gen-");
        push_decimal(&mut id, created);
        id.push('-');
        // Ids sort in the order they were made: the generations table is keyed by id, and
        // random keys within a second made every commit rewrite pages all over the second's
        // range (3.8 page writes per request at 10k req/s); in order, a commit appends.
        push_sub_second(&mut id, now.subsec_nanos());
        push_alphanumeric(&mut id, 16);
        Self {
            id: id.into(),
            created,
        }
    }
}

fn push_decimal(out: &mut String, n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[i..].iter().map(|&d| char::from(d)));
}

/// The position within the second in 4 base-62 digits (steps of ~68 ns), in an alphabet
/// whose byte order is its numeric order, so ids of one second sort by time.
fn push_sub_second(out: &mut String, nanos: u32) {
    const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    const SLOTS: u64 = 62 * 62 * 62 * 62;
    let mut slot = u64::from(nanos.min(999_999_999)) * SLOTS / 1_000_000_000;
    let mut digits = [b'0'; 4];
    for d in digits.iter_mut().rev() {
        *d = DIGITS[(slot % 62) as usize];
        slot /= 62;
    }
    out.extend(digits.iter().map(|&d| char::from(d)));
}

/// `len` characters uniform over `[A-Za-z0-9]`, as `rand::distr::Alphanumeric` draws them:
/// the top six bits of a random byte, rejected when ≥ 62.
fn push_alphanumeric(out: &mut String, len: usize) {
    const CHARSET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let mut left = len;
    while left > 0 {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        for b in bytes {
            if let Some(&c) = CHARSET.get(usize::from(b >> 2)) {
                out.push(char::from(c));
                left -= 1;
                if left == 0 {
                    break;
                }
            }
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

    #[test]
    fn generation_ids_of_one_second_sort_by_time() {
        let at = |nanos: u32| {
            let mut s = String::new();
            push_sub_second(&mut s, nanos);
            s
        };
        assert_eq!(at(0), "0000");
        assert_eq!(at(999_999_999), "zzzz");
        let mut previous = at(0);
        for nanos in (9_999_991..1_000_000_000).step_by(9_999_991) {
            let next = at(nanos);
            assert!(next > previous, "{nanos}: {next} <= {previous}");
            previous = next;
        }
        // Later ids sort after earlier ones (same second, or a later second of equal length).
        let ids: Vec<_> = (0..200).map(|_| ResponseIdentity::new()).collect();
        for pair in ids.windows(2) {
            if pair[0].created == pair[1].created {
                assert!(
                    pair[0].id <= pair[1].id,
                    "{} then {}",
                    pair[0].id,
                    pair[1].id
                );
            }
        }
    }
}
