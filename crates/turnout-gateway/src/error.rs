//! Every failure the client can see, typed, and its one mapping to HTTP: the OpenRouter
//! envelope, or Anthropic's for the Messages skin.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use turnout_wire::error::{ErrorBody, ErrorEnvelope, ErrorType};

use crate::upstream::attempt::AttemptError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    InvalidRequest { message: String },
    #[error("No auth credentials found")]
    MissingKey,
    #[error("Invalid API key")]
    InvalidKey,
    #[error("This API key is disabled")]
    KeyDisabled,
    #[error("This API key has expired")]
    KeyExpired,
    #[error("{message}")]
    Forbidden { message: String },
    /// The account's balance or the key's limit cannot cover the request's maximum cost.
    #[error("{message}")]
    InsufficientCredits {
        message: String,
        /// `credits` or `key_limit`.
        limit_source: &'static str,
    },
    /// The key's own rate limit (not an upstream's).
    #[error("Rate limit exceeded: {limit} {unit} per minute for this key")]
    RateLimited {
        limit: u64,
        /// Epoch milliseconds when the next slot frees.
        reset_ms: i64,
        retry_after: Duration,
        unit: &'static str,
    },
    #[error("{message}")]
    NotFound { message: String },
    #[error("{model} is not a valid model ID")]
    UnknownModel { model: String },
    #[error("Model {model} not found")]
    ModelNotFound { model: String },
    #[error("Request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("No endpoints found matching your request for {model}")]
    NoEndpoints { model: String, excluded: Vec<Value> },
    /// Every endpoint that could serve is cooling down or has its breaker open.
    #[error("No provider for {model} is available right now; retry after {} s", retry_after.as_secs().max(1))]
    AllCoolingDown {
        model: String,
        retry_after: Duration,
    },
    #[error("Not found: {path}")]
    RouteNotFound { path: String },
    #[error("Method {method} is not allowed on {path}")]
    MethodNotAllowed { method: String, path: String },
    /// Every candidate of the plan failed; the list holds each attempt in order.
    #[error("{}", upstream_message(.attempts))]
    Upstream { attempts: Vec<AttemptError> },
    #[error("Internal Server Error")]
    Internal { detail: String },
}

impl From<crate::accounting::shared::SharedError> for ApiError {
    fn from(e: crate::accounting::shared::SharedError) -> Self {
        ApiError::Internal {
            detail: format!("accounting: {e}"),
        }
    }
}

impl From<turnout_store::StoreError> for ApiError {
    fn from(e: turnout_store::StoreError) -> Self {
        ApiError::Internal {
            detail: format!("store: {e}"),
        }
    }
}

fn upstream_message(attempts: &[AttemptError]) -> String {
    match decisive(attempts) {
        Some(a) => a.client_message(),
        None => "No provider could serve the request".to_owned(),
    }
}

/// The most informative failure: the client's own fault first, then 429 over 503 over 504 over 502.
fn decisive(attempts: &[AttemptError]) -> Option<&AttemptError> {
    attempts
        .iter()
        .enumerate()
        .max_by_key(|(i, a)| (a.class.informativeness(), *i))
        .map(|(_, a)| a)
}

impl ApiError {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidRequest {
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest { .. } | Self::UnknownModel { .. } => StatusCode::BAD_REQUEST,
            Self::MissingKey | Self::InvalidKey | Self::KeyDisabled | Self::KeyExpired => {
                StatusCode::UNAUTHORIZED
            }
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::InsufficientCredits { .. } => StatusCode::PAYMENT_REQUIRED,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NoEndpoints { .. }
            | Self::RouteNotFound { .. }
            | Self::ModelNotFound { .. }
            | Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::AllCoolingDown { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Upstream { attempts } => decisive(attempts)
                .and_then(|a| StatusCode::from_u16(a.client_status()).ok())
                .unwrap_or(StatusCode::BAD_GATEWAY),
            Self::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn error_type(&self) -> Option<ErrorType> {
        Some(match self {
            Self::InvalidRequest { .. } | Self::UnknownModel { .. } => ErrorType::InvalidRequest,
            Self::MissingKey | Self::InvalidKey | Self::KeyDisabled | Self::KeyExpired => {
                ErrorType::Authentication
            }
            Self::Forbidden { .. } => ErrorType::PermissionDenied,
            Self::InsufficientCredits { .. } => ErrorType::PaymentRequired,
            Self::RateLimited { .. } => ErrorType::RateLimitExceeded,
            Self::PayloadTooLarge { .. } => ErrorType::PayloadTooLarge,
            Self::NoEndpoints { .. }
            | Self::RouteNotFound { .. }
            | Self::ModelNotFound { .. }
            | Self::NotFound { .. } => ErrorType::NotFound,
            Self::MethodNotAllowed { .. } => return None,
            Self::AllCoolingDown { .. } => ErrorType::ProviderUnavailable,
            Self::Upstream { attempts } => decisive(attempts)
                .map(AttemptError::error_type)
                .unwrap_or(ErrorType::ProviderUnavailable),
            Self::Internal { .. } => ErrorType::Server,
        })
    }

    /// Seconds the client should wait, when an upstream told us.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Upstream { attempts } => decisive(attempts).and_then(|a| a.retry_after),
            Self::AllCoolingDown { retry_after, .. } | Self::RateLimited { retry_after, .. } => {
                Some(*retry_after)
            }
            _ => None,
        }
    }

    /// A low-cardinality label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidRequest { .. } => "invalid_request",
            Self::MissingKey | Self::InvalidKey | Self::KeyDisabled | Self::KeyExpired => {
                "unauthorized"
            }
            Self::Forbidden { .. } => "forbidden",
            Self::InsufficientCredits { .. } => "insufficient_credits",
            Self::RateLimited { .. } => "key_rate_limited",
            Self::NotFound { .. } => "not_found",
            Self::UnknownModel { .. } | Self::ModelNotFound { .. } => "unknown_model",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::NoEndpoints { .. } => "no_endpoints",
            Self::AllCoolingDown { .. } => "all_cooling_down",
            Self::RouteNotFound { .. } => "route_not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::Upstream { attempts } => decisive(attempts)
                .map(|a| a.class.as_str())
                .unwrap_or("upstream"),
            Self::Internal { .. } => "internal",
        }
    }

    pub fn body(&self) -> ErrorBody {
        let mut metadata = Map::new();
        if let Some(t) = self.error_type() {
            metadata.insert("error_type".into(), Value::from(t.as_str()));
        }
        match self {
            Self::NoEndpoints { excluded, .. } => {
                metadata.insert("excluded".into(), Value::Array(excluded.clone()));
            }
            Self::InsufficientCredits { limit_source, .. } => {
                metadata.insert("limit_source".into(), Value::from(*limit_source));
            }
            Self::Upstream { attempts } => {
                if let Some(a) = decisive(attempts) {
                    metadata.insert("provider_name".into(), Value::from(&*a.provider));
                    if let Some(raw) = &a.raw {
                        metadata.insert("raw".into(), Value::from(&**raw));
                    }
                    if let Some(code) = a.upstream_status {
                        metadata.insert("provider_code".into(), Value::from(code));
                    }
                    metadata.insert("is_byok".into(), Value::Bool(false));
                }
                let previous: Vec<Value> = attempts
                    .iter()
                    .map(|a| {
                        json!({
                            "provider": a.provider,
                            "model": a.model,
                            "code": a.client_status(),
                            "status": a.upstream_status,
                            "error_type": a.error_type().as_str(),
                            "message": a.client_message(),
                        })
                    })
                    .collect();
                metadata.insert("previous_errors".into(), Value::Array(previous));
            }
            Self::Internal { detail } => {
                tracing::error!(%detail, "internal error");
            }
            _ => {}
        }
        ErrorBody {
            code: self.status().as_u16(),
            message: self.to_string(),
            metadata: (!metadata.is_empty()).then_some(metadata),
        }
    }
}

impl ApiError {
    /// The status on the Messages skin: Anthropic's own where its clients expect one (404
    /// for a model it does not know, 529 when overloaded), else the same as on chat.
    pub fn anthropic_status(&self) -> StatusCode {
        match self {
            Self::UnknownModel { .. } => StatusCode::NOT_FOUND,
            _ if self.error_type() == Some(ErrorType::ProviderOverloaded) => {
                StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
            }
            _ => self.status(),
        }
    }

    /// Anthropic's envelope (spec/openrouter-api.md §5.6), with the generation id as
    /// `request_id`, and the same headers as the OpenRouter rendering.
    pub fn into_anthropic_response(self, request_id: Option<&str>) -> Response {
        let status = self.anthropic_status();
        let kind = match self {
            Self::UnknownModel { .. } => ErrorType::NotFound,
            _ => self
                .error_type()
                .unwrap_or_else(|| ErrorType::for_status(status.as_u16())),
        };
        // `body()` logs internal details once, as on the chat path.
        let message = self.body().message;
        let body =
            turnout_wire::anthropic::ingress::error_body(kind, &message, request_id).to_string();
        self.with_headers((status, body).into_response())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let envelope = ErrorEnvelope { error: self.body() };
        let body = serde_json::to_vec(&envelope).unwrap_or_default();
        self.with_headers((status, body).into_response())
    }
}

impl ApiError {
    /// Content type, `Retry-After` and the rate-limit headers, whatever the envelope.
    fn with_headers(&self, mut response: Response) -> Response {
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(wait) = self.retry_after() {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Self::RateLimited {
            limit, reset_ms, ..
        } = self
        {
            headers.insert("x-ratelimit-limit", HeaderValue::from(*limit));
            headers.insert("x-ratelimit-remaining", HeaderValue::from(0));
            headers.insert("x-ratelimit-reset", HeaderValue::from(*reset_ms));
        }
        response
    }
}

/// What a dashboard page or form can fail with. A browser reads these, so they are answered
/// as an HTML page (or, without a session, a redirect to sign-in), never as the JSON envelope.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("Sign in to continue")]
    SignInRequired,
    /// The request came from another site (its `Origin` is not this host).
    #[error("Refused: this form was not sent from this dashboard")]
    CrossSite,
    /// The form's CSRF token is missing or is not the session's.
    #[error(
        "Refused: this form has expired or did not come from this dashboard. Reload the page and try again."
    )]
    Csrf,
    #[error("Too many failed sign-in attempts from this client. Try again in {} s.", retry_after.as_secs().max(1))]
    Throttled { retry_after: Duration },
    #[error("{0}")]
    BadForm(String),
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl From<turnout_store::StoreError> for DashboardError {
    fn from(e: turnout_store::StoreError) -> Self {
        Self::Api(e.into())
    }
}

impl DashboardError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::SignInRequired => StatusCode::SEE_OTHER,
            Self::CrossSite | Self::Csrf => StatusCode::FORBIDDEN,
            Self::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::BadForm(_) => StatusCode::BAD_REQUEST,
            Self::Api(e) => e.status(),
        }
    }
}

impl IntoResponse for DashboardError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let Self::SignInRequired = self {
            let mut r = status.into_response();
            r.headers_mut().insert(
                header::LOCATION,
                HeaderValue::from_static(crate::web::dashboard::SIGN_IN),
            );
            return r;
        }
        if let Self::Api(ApiError::Internal { detail }) = &self {
            tracing::error!(%detail, "internal error on a dashboard page");
        }
        let mut r = crate::web::dashboard::layout::problem(
            status,
            &self.to_string(),
            matches!(self, Self::Throttled { .. }),
        );
        if let Self::Throttled { retry_after } = &self {
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        r
    }
}
