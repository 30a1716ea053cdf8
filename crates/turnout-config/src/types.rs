//! The configuration schema of DESIGN.md §3, as typed structs. Every table denies unknown keys.

use std::collections::BTreeMap;
use std::time::Duration;

use rust_decimal::Decimal;
use secrecy::SecretString;
use serde::Deserialize;

/// The whole file. Only `providers` and `models` are required.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub auth: AuthConfig,
    pub providers: Vec<ProviderConfig>,
    pub models: Vec<ModelConfig>,
    #[serde(default)]
    pub routing: RoutingConfig,
    #[serde(default)]
    pub status: crate::status::StatusConfig,
    /// `[telemetry]`: OpenTelemetry traces; `None` (no section) turns them off.
    #[serde(default)]
    pub telemetry: Option<crate::telemetry::TelemetryConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: String,
    pub max_body_bytes: usize,
    /// Bounded time that SIGTERM waits for in-flight requests and streams.
    pub shutdown_grace_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            max_body_bytes: 10 * 1024 * 1024,
            shutdown_grace_ms: 30_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    pub database_url: String,
    pub redis_url: Option<String>,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            database_url: "sqlite://turnout.db".to_owned(),
            redis_url: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub require_key: bool,
    /// Static bearer keys, `${ENV}`-interpolated. Never logged.
    pub keys: Vec<SecretString>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            require_key: true,
            keys: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Openai,
    Anthropic,
    Gemini,
    Azure,
    Openrouter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DataCollection {
    #[default]
    Allow,
    Deny,
}

/// Deadlines of one upstream attempt, in milliseconds. Each is optional so an endpoint can
/// override a provider's value field by field.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsConfig {
    pub connect_ms: Option<u64>,
    pub first_token_ms: Option<u64>,
    pub idle_ms: Option<u64>,
    pub total_ms: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub slug: String,
    /// Display name returned as `provider`; defaults to the slug.
    pub name: Option<String>,
    pub kind: ProviderKind,
    pub base_url: String,
    pub api_key: Option<SecretString>,
    #[serde(default)]
    pub data_collection: DataCollection,
    #[serde(default)]
    pub timeouts: TimeoutsConfig,
    /// Azure only: the `api-version` query parameter (not needed by Azure's v1 API, a
    /// `base_url` ending in `/openai/v1`).
    pub api_version: Option<String>,
    /// OpenRouter only: sent as `HTTP-Referer`, the app's URL in OpenRouter's rankings.
    pub http_referer: Option<String>,
    /// OpenRouter only: sent as `X-OpenRouter-Title` (and the older `X-Title`), the app's name.
    pub x_title: Option<String>,
    /// Extra headers sent on every upstream request (values `${ENV}`-interpolated).
    #[serde(default)]
    pub headers: BTreeMap<String, SecretString>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// `author/slug`, or a wildcard `prefix/*`.
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub context_length: Option<u64>,
    #[serde(default)]
    pub input_modalities: Option<Vec<String>>,
    pub endpoints: Vec<EndpointConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// Slug of a `[[providers]]` entry.
    pub provider: String,
    /// Model name sent upstream; for wildcard models the rest of the requested id is used
    /// when this is absent.
    pub upstream_model: Option<String>,
    /// USD per token. In the file a decimal string (`"0.00000015"`, exact) or a number.
    #[serde(deserialize_with = "crate::price::decimal")]
    pub prompt_price: Decimal,
    #[serde(deserialize_with = "crate::price::decimal")]
    pub completion_price: Decimal,
    /// Defaults to `prompt_price` (see [`EndpointConfig::effective_cache_read_price`]).
    #[serde(default, deserialize_with = "crate::price::opt_decimal")]
    pub cache_read_price: Option<Decimal>,
    /// Defaults to `prompt_price` (see [`EndpointConfig::effective_cache_write_price`]).
    #[serde(default, deserialize_with = "crate::price::opt_decimal")]
    pub cache_write_price: Option<Decimal>,
    /// USD per request.
    #[serde(default, deserialize_with = "crate::price::opt_decimal")]
    pub request_price: Option<Decimal>,
    pub max_completion_tokens: Option<u64>,
    pub context_length: Option<u64>,
    pub supported_parameters: Option<Vec<String>>,
    pub quantization: Option<String>,
    #[serde(default)]
    pub zdr: bool,
    pub tier: Option<Tier>,
    #[serde(default)]
    pub timeouts: TimeoutsConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Standard,
    Priority,
    Flex,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    pub retry: RetryConfig,
    pub breaker: BreakerConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    pub initial_ms: u64,
    pub multiplier: f64,
    pub jitter: f64,
    pub max_ms: u64,
    pub budget_ratio: f64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            initial_ms: 250,
            multiplier: 2.0,
            jitter: 0.2,
            max_ms: 4000,
            budget_ratio: 0.2,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    pub failure_ratio: f64,
    pub min_requests: u64,
    pub window_s: u64,
    pub consecutive: u64,
    pub cooldown_s: u64,
    pub max_cooldown_s: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_ratio: 0.5,
            min_requests: 10,
            window_s: 30,
            consecutive: 5,
            cooldown_s: 10,
            max_cooldown_s: 300,
        }
    }
}

impl Config {
    /// The provider with this slug.
    pub fn provider(&self, slug: &str) -> Option<&ProviderConfig> {
        self.providers.iter().find(|p| p.slug == slug)
    }

    /// The model with exactly this id (a wildcard entry matches only its own `prefix/*` id).
    pub fn model(&self, id: &str) -> Option<&ModelConfig> {
        self.models.iter().find(|m| m.id == id)
    }
}

impl ProviderConfig {
    /// `name`, or the slug when there is none.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.slug)
    }
}

impl ModelConfig {
    /// For a wildcard id `prefix/*`, the `prefix`.
    pub fn wildcard_prefix(&self) -> Option<&str> {
        self.id.strip_suffix("/*")
    }

    /// Whether the id is a wildcard `prefix/*`.
    pub fn is_wildcard(&self) -> bool {
        self.wildcard_prefix().is_some()
    }
}

impl EndpointConfig {
    /// `cache_read_price`, defaulting to `prompt_price`.
    pub fn effective_cache_read_price(&self) -> Decimal {
        self.cache_read_price.unwrap_or(self.prompt_price)
    }

    /// `cache_write_price`, defaulting to `prompt_price`.
    pub fn effective_cache_write_price(&self) -> Decimal {
        self.cache_write_price.unwrap_or(self.prompt_price)
    }
}

impl TimeoutsConfig {
    /// Default time to establish a connection.
    pub const DEFAULT_CONNECT_MS: u64 = 5_000;
    /// Default time from sending the request to the first token (or the whole answer when not
    /// streaming).
    pub const DEFAULT_FIRST_TOKEN_MS: u64 = 60_000;
    /// Default longest silence between two chunks of a stream.
    pub const DEFAULT_IDLE_MS: u64 = 30_000;
    /// Default limit on the whole attempt.
    pub const DEFAULT_TOTAL_MS: u64 = 600_000;

    /// Field by field: this value where set, else `fallback`'s (an endpoint's timeouts merged over
    /// its provider's).
    pub fn merged(self, fallback: TimeoutsConfig) -> TimeoutsConfig {
        TimeoutsConfig {
            connect_ms: self.connect_ms.or(fallback.connect_ms),
            first_token_ms: self.first_token_ms.or(fallback.first_token_ms),
            idle_ms: self.idle_ms.or(fallback.idle_ms),
            total_ms: self.total_ms.or(fallback.total_ms),
        }
    }

    /// Every deadline, with the defaults where unset.
    pub fn resolved(self) -> ResolvedTimeouts {
        ResolvedTimeouts {
            connect: Duration::from_millis(self.connect_ms.unwrap_or(Self::DEFAULT_CONNECT_MS)),
            first_token: Duration::from_millis(
                self.first_token_ms.unwrap_or(Self::DEFAULT_FIRST_TOKEN_MS),
            ),
            idle: Duration::from_millis(self.idle_ms.unwrap_or(Self::DEFAULT_IDLE_MS)),
            total: Duration::from_millis(self.total_ms.unwrap_or(Self::DEFAULT_TOTAL_MS)),
        }
    }
}

/// The deadlines of one upstream attempt, defaults applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedTimeouts {
    pub connect: Duration,
    pub first_token: Duration,
    pub idle: Duration,
    pub total: Duration,
}

impl Default for ResolvedTimeouts {
    fn default() -> Self {
        TimeoutsConfig::default().resolved()
    }
}
