//! Step 1: who is calling. Static `[auth] keys` from the config (account `default`), then
//! database keys through the accounts' in-memory cache.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use turnout_config::AuthConfig;

use std::sync::Arc;

use turnout_store::{KeyRecord, clock};

use crate::accounting::{Accounts, DEFAULT_ACCOUNT};
use crate::error::ApiError;

/// The caller a request is accounted to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub account: String,
    /// SHA-256 hex of the key, when one was presented (OpenRouter's key id).
    pub key_hash: Option<String>,
    /// The key's settings, for database keys.
    pub key: Option<Arc<KeyRecord>>,
}

impl Principal {
    pub fn is_management(&self) -> bool {
        self.key.as_ref().is_some_and(|k| k.is_management)
    }
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
            account: DEFAULT_ACCOUNT.to_owned(),
            key_hash: Some(hex::encode(presented)),
            key: None,
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
    /// Static keys first, then database keys; without a key only when `require_key = false`.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        accounts: &Accounts,
    ) -> Result<Principal, ApiError> {
        let Some(presented) = bearer(headers) else {
            return if self.require_key {
                Err(ApiError::MissingKey)
            } else {
                Ok(anonymous())
            };
        };
        let digest = digest(presented);
        if let Some(p) = self.store.find(&digest) {
            return Ok(p);
        }
        let hash = hex::encode(digest);
        match accounts.key(&hash).await? {
            Some(k) if k.deleted_at_ms.is_some() => self.unknown(),
            Some(k) if k.disabled => Err(ApiError::KeyDisabled),
            Some(k) if !k.usable_at(clock::now_ms()) => Err(ApiError::KeyExpired),
            Some(k) => Ok(Principal {
                account: k.account.clone(),
                key_hash: Some(hash),
                key: Some(k),
            }),
            None => self.unknown(),
        }
    }

    fn unknown(&self) -> Result<Principal, ApiError> {
        if self.require_key {
            Err(ApiError::InvalidKey)
        } else {
            Ok(anonymous())
        }
    }
}

/// Model-id globs of a key's `allowed_models`: `*` matches any run of characters.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return true;
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let mut parts: Vec<&str> = parts.collect();
    let Some(last) = parts.pop() else {
        // No `*`: the whole text must have been the prefix.
        return rest.is_empty();
    };
    for part in parts {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

fn anonymous() -> Principal {
    Principal {
        account: DEFAULT_ACCOUNT.to_owned(),
        key_hash: None,
        key: None,
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
    fn globs_match_model_ids() {
        assert!(glob_match("openai/*", "openai/gpt-4o"));
        assert!(!glob_match("openai/*", "anthropic/claude"));
        assert!(glob_match("*", "anything"));
        assert!(glob_match("demo/chat", "demo/chat"));
        assert!(!glob_match("demo/chat", "demo/chat2"));
        assert!(glob_match("*/gpt-*-mini", "openai/gpt-4o-mini"));
        assert!(!glob_match("*/gpt-*-mini", "openai/gpt-4o"));
        assert!(!glob_match("a*a", "a"));
    }

    async fn accounts() -> Arc<Accounts> {
        Accounts::open("sqlite::memory:").await.expect("accounts")
    }

    #[tokio::test]
    async fn checks_bearer_keys() {
        let (a, accounts) = (auth(true), accounts().await);
        let p = a
            .authenticate(&headers("Bearer sk-good"), &accounts)
            .await
            .expect("ok");
        assert_eq!(
            p.key_hash.as_deref(),
            Some(hex::encode(digest("sk-good")).as_str())
        );
        assert!(matches!(
            a.authenticate(&headers("Bearer sk-bad"), &accounts).await,
            Err(ApiError::InvalidKey)
        ));
        assert!(matches!(
            a.authenticate(&HeaderMap::new(), &accounts).await,
            Err(ApiError::MissingKey)
        ));
        assert!(matches!(
            a.authenticate(&headers("Bearer "), &accounts).await,
            Err(ApiError::MissingKey)
        ));
    }

    #[tokio::test]
    async fn open_gateway_lets_anyone_in() {
        let (a, accounts) = (auth(false), accounts().await);
        assert!(a.authenticate(&HeaderMap::new(), &accounts).await.is_ok());
        assert!(
            a.authenticate(&headers("Bearer whatever"), &accounts)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn database_keys_carry_their_account_and_stop_when_disabled() {
        let (a, accounts) = (auth(true), accounts().await);
        let store = accounts.store();
        store.ensure_account("acme").await.expect("account");
        let secret = turnout_store::keys::generate();
        let record = store
            .create_key(
                &secret,
                &turnout_store::NewKey {
                    account: "acme".into(),
                    name: "t".into(),
                    ..Default::default()
                },
            )
            .await
            .expect("key");
        let bearer = format!("Bearer {secret}");
        let p = a
            .authenticate(&headers(&bearer), &accounts)
            .await
            .expect("db key");
        assert_eq!(p.account, "acme");
        assert_eq!(p.key_hash.as_deref(), Some(record.hash.as_str()));
        let patch = turnout_store::KeyPatch {
            disabled: Some(true),
            ..Default::default()
        };
        let changed = store
            .update_key(&record.hash, &patch)
            .await
            .expect("update")
            .expect("exists");
        accounts.apply_key_change(changed);
        assert!(matches!(
            a.authenticate(&headers(&bearer), &accounts).await,
            Err(ApiError::KeyDisabled)
        ));
    }
}
