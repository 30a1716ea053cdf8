//! Step 2: sticky sessions. A conversation keeps going to the endpoint that last served it, so
//! provider-side prompt caches stay warm: explicitly (`session_id` / `x-session-id`) always,
//! implicitly (hash of the first system and first user message) only where the endpoint's
//! cache reads are cheaper than its prompts. Ten minutes of inactivity forget it.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const STICKY_FOR: Duration = Duration::from_secs(600);
/// Expired sessions are swept on insert, at most this often.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Identifies one conversation of one account on one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionKey(u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// `session_id` or `x-session-id`: sticks to any endpoint.
    Explicit,
    /// Derived from the conversation: sticks only where caching pays.
    Implicit,
}

impl SessionKey {
    pub fn new(account: &str, model: &str, conversation: &str) -> Self {
        let mut h = DefaultHasher::new();
        (account, model, conversation).hash(&mut h);
        SessionKey(h.finish())
    }
}

#[derive(Debug, Default)]
pub struct StickyTable {
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    map: HashMap<SessionKey, (Arc<str>, Instant)>,
    last_sweep: Option<Instant>,
}

impl StickyTable {
    /// The endpoint key this session last used, if still fresh.
    pub fn get(&self, key: SessionKey, now: Instant) -> Option<Arc<str>> {
        let entries = self.entries.lock().ok()?;
        entries
            .map
            .get(&key)
            .filter(|(_, last)| now.saturating_duration_since(*last) < STICKY_FOR)
            .map(|(endpoint, _)| endpoint.clone())
    }

    /// A successful request: (re)binds the session and resets its timer.
    pub fn bind(&self, key: SessionKey, endpoint: Arc<str>, now: Instant) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries
            .last_sweep
            .is_none_or(|t| now.saturating_duration_since(t) >= SWEEP_EVERY)
        {
            entries
                .map
                .retain(|_, (_, last)| now.saturating_duration_since(*last) < STICKY_FOR);
            entries.last_sweep = Some(now);
        }
        entries.map.insert(key, (endpoint, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_after_ten_minutes_of_inactivity() {
        let t = StickyTable::default();
        let k = SessionKey::new("default", "a/m", "s1");
        let t0 = Instant::now();
        t.bind(k, "p|a/m".into(), t0);
        assert_eq!(
            t.get(k, t0 + Duration::from_secs(599)).as_deref(),
            Some("p|a/m")
        );
        // Use resets the timer.
        t.bind(k, "p|a/m".into(), t0 + Duration::from_secs(599));
        assert!(t.get(k, t0 + Duration::from_secs(1100)).is_some());
        assert!(t.get(k, t0 + Duration::from_secs(1300)).is_none());
        assert_ne!(
            k,
            SessionKey::new("other", "a/m", "s1"),
            "accounts do not share sessions"
        );
    }
}
