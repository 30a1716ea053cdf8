//! API keys at rest: shown once, stored as SHA-256 hex (OpenRouter's key `hash`).

use rand::RngCore;
use sha2::{Digest, Sha256};

pub const KEY_PREFIX: &str = "sk-tn-v1-";

/// A new secret key: `sk-tn-v1-<64 hex>` from 32 random bytes.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{KEY_PREFIX}{}", hex::encode(bytes))
}

pub fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// The key's id everywhere: SHA-256 hex of the full key string.
pub fn hash(key: &str) -> String {
    hex::encode(digest(key))
}

/// What a key looks like in listings: `sk-tn-v1-3a9...f01`, never enough to use it.
pub fn label(key: &str) -> String {
    let body = key.strip_prefix(KEY_PREFIX).unwrap_or(key);
    let (head, tail) = (
        body.get(..3).unwrap_or(""),
        body.get(body.len().saturating_sub(3)..).unwrap_or(""),
    );
    let prefix = if key.starts_with(KEY_PREFIX) {
        KEY_PREFIX
    } else {
        ""
    };
    format!("{prefix}{head}...{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_prefixed_and_masked() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert!(a.starts_with(KEY_PREFIX));
        assert_eq!(a.len(), KEY_PREFIX.len() + 64);
        assert_eq!(hash(&a).len(), 64);
        let l = label(&a);
        assert!(l.starts_with("sk-tn-v1-") && l.contains("..."));
        assert!(l.len() < 20, "{l}");
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
