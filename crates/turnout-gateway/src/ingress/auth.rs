//! Step 1: who is calling. Static `[auth] keys` for now; database keys plug in behind
//! [`KeyStore`] when accounts arrive.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use turnout_config::AuthConfig;

use crate::error::ApiError;

/// The caller a request is accounted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub account: String,
    /// SHA-256 hex of the key, when one was presented (OpenRouter's key id).
    pub key_hash: Option<String>,
}

pub trait KeyStore: Send + Sync + std::fmt::Debug {
    /// Looks up a presented key by its SHA-256 digest.
    fn find(&self, digest: &[u8; 32]) -> Option<Principal>;
}

/// Keys listed in the config file, compared by digest in constant time.
#[derive(Debug, Default)]
pub struct StaticKeys {
    digests: Vec<[u8; 32]>,
}

impl StaticKeys {
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            digests: keys.into_iter().map(digest).collect(),
        }
    }
}

impl KeyStore for StaticKeys {
    fn find(&self, presented: &[u8; 32]) -> Option<Principal> {
        // Visit every key so timing does not depend on which one matched.
        let mut found = subtle::Choice::from(0);
        for d in &self.digests {
            found |= d.ct_eq(presented);
        }
        bool::from(found).then(|| Principal {
            account: "default".to_owned(),
            key_hash: Some(hex::encode(presented)),
        })
    }
}

pub fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

#[derive(Debug)]
pub struct Authenticator {
    require_key: bool,
    store: Box<dyn KeyStore>,
}

impl Authenticator {
    pub fn from_config(auth: &AuthConfig) -> Self {
        Self {
            require_key: auth.require_key,
            store: Box::new(StaticKeys::new(auth.keys.iter().map(|k| k.expose_secret()))),
        }
    }

    /// `Authorization: Bearer <key>`; `x-api-key` is accepted too (Anthropic-style clients).
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
        let presented = bearer(headers);
        match presented {
            Some(key) => match self.store.find(&digest(key)) {
                Some(p) => Ok(p),
                None if !self.require_key => Ok(anonymous()),
                None => Err(ApiError::InvalidKey),
            },
            None if !self.require_key => Ok(anonymous()),
            None => Err(ApiError::MissingKey),
        }
    }
}

fn anonymous() -> Principal {
    Principal {
        account: "default".to_owned(),
        key_hash: None,
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        let key = match v.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            _ if v.eq_ignore_ascii_case("bearer") => "",
            _ => v,
        };
        return (!key.is_empty()).then_some(key);
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn auth(require: bool) -> Authenticator {
        Authenticator {
            require_key: require,
            store: Box::new(StaticKeys::new(["sk-good"])),
        }
    }

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(v).expect("hv"));
        h
    }

    #[test]
    fn checks_bearer_keys() {
        let a = auth(true);
        let p = a.authenticate(&headers("Bearer sk-good")).expect("ok");
        assert_eq!(
            p.key_hash.as_deref(),
            Some(hex::encode(digest("sk-good")).as_str())
        );
        assert!(matches!(
            a.authenticate(&headers("Bearer sk-bad")),
            Err(ApiError::InvalidKey)
        ));
        assert!(matches!(
            a.authenticate(&HeaderMap::new()),
            Err(ApiError::MissingKey)
        ));
        assert!(matches!(
            a.authenticate(&headers("Bearer ")),
            Err(ApiError::MissingKey)
        ));
    }

    #[test]
    fn open_gateway_lets_anyone_in() {
        let a = auth(false);
        assert!(a.authenticate(&HeaderMap::new()).is_ok());
        assert!(a.authenticate(&headers("Bearer whatever")).is_ok());
    }
}
