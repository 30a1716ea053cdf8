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

#[cfg(test)]
mod tests {
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
