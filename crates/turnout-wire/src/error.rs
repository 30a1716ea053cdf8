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
}

impl std::fmt::Display for ErrorType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
