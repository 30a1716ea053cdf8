//! The OpenRouter error envelope: `{"error":{"code":<status>,"message":"…","metadata":{…}}}`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorBody {
    pub code: u16,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

/// The typed `error.metadata.error_type` vocabulary (spec §5.4) that Turnout emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorType {
    InvalidRequest,
    ContextLengthExceeded,
    Authentication,
    PermissionDenied,
    PaymentRequired,
    NotFound,
    PayloadTooLarge,
    RateLimitExceeded,
    ProviderOverloaded,
    ProviderUnavailable,
    ContentPolicyViolation,
    Timeout,
    Server,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::ContextLengthExceeded => "context_length_exceeded",
            Self::Authentication => "authentication",
            Self::PermissionDenied => "permission_denied",
            Self::PaymentRequired => "payment_required",
            Self::NotFound => "not_found",
            Self::PayloadTooLarge => "payload_too_large",
            Self::RateLimitExceeded => "rate_limit_exceeded",
            Self::ProviderOverloaded => "provider_overloaded",
            Self::ProviderUnavailable => "provider_unavailable",
            Self::ContentPolicyViolation => "content_policy_violation",
            Self::Timeout => "timeout",
            Self::Server => "server",
        }
    }

    /// The inverse of [`ErrorType::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::InvalidRequest,
            Self::ContextLengthExceeded,
            Self::Authentication,
            Self::PermissionDenied,
            Self::PaymentRequired,
            Self::NotFound,
            Self::PayloadTooLarge,
            Self::RateLimitExceeded,
            Self::ProviderOverloaded,
            Self::ProviderUnavailable,
            Self::ContentPolicyViolation,
            Self::Timeout,
            Self::Server,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }

    /// The type an HTTP status stands for when nothing more precise is known.
    pub fn for_status(status: u16) -> Self {
        match status {
            401 => Self::Authentication,
            402 => Self::PaymentRequired,
            403 => Self::PermissionDenied,
            404 => Self::NotFound,
            413 => Self::PayloadTooLarge,
            429 => Self::RateLimitExceeded,
            503 | 529 => Self::ProviderOverloaded,
            502 => Self::ProviderUnavailable,
            408 | 504 | 524 => Self::Timeout,
            400..=499 => Self::InvalidRequest,
            _ => Self::Server,
        }
    }

    /// Anthropic's `error.type` for this kind (spec/openrouter-api.md §5.6; the Messages
    /// skin's one mapping, for error answers and `error` events alike).
    pub fn anthropic(self) -> &'static str {
        match self {
            Self::InvalidRequest | Self::ContextLengthExceeded | Self::ContentPolicyViolation => {
                "invalid_request_error"
            }
            Self::Authentication => "authentication_error",
            Self::PermissionDenied => "permission_error",
            Self::PaymentRequired => "billing_error",
            Self::NotFound => "not_found_error",
            Self::PayloadTooLarge => "request_too_large",
            Self::RateLimitExceeded => "rate_limit_error",
            Self::ProviderOverloaded => "overloaded_error",
            Self::Timeout => "timeout_error",
            Self::ProviderUnavailable | Self::Server => "api_error",
        }
    }
}

impl std::fmt::Display for ErrorType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
