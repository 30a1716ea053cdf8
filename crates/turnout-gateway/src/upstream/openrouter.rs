//! Step 3: OpenRouter as an upstream (`kind = "openrouter"`): the OpenAI-compatible adapter
//! plus what only OpenRouter understands. Up go the client's own routing members
//! (`provider` preferences, `reasoning`, `plugins`, …, see `ingress::parse`), `models` as
//! OpenRouter's ids of the request's later models on this provider (see `routing::plan`), and
//! `usage: {include: true}`. Back come the provider OpenRouter chose (reported as
//! `"OpenRouter (Anthropic)"`), the model it served (one of those `models` is billed as that
//! model), its own charge (`usage.cost`, what the operator paid) and its error envelope.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::attempt::{AttemptError, FailureClass, excerpt};
use crate::ingress::parse::ChatInput;
use crate::routing::catalog::Target;

/// Appends OpenRouter's members to an upstream body being written (before its `}`).
pub fn extend_body(out: &mut Vec<u8>, target: &Target, input: &ChatInput) {
    // Deprecated upstream but harmless: older deployments report cost only when asked.
    out.extend_from_slice(b",\"usage\":{\"include\":true}");
    if !input.openrouter.is_empty() {
        out.push(b',');
        out.extend_from_slice(&input.openrouter);
    }
    if let Some(fallbacks) = &target.fallbacks {
        out.extend_from_slice(b",\"models\":[");
        for (i, t) in fallbacks.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            turnout_wire::json::string(out, &t.upstream_model);
        }
        out.push(b']');
    }
}

/// Who answered: the target whose model OpenRouter says it served (the planned one unless it
/// fell back to one of `models`), and our display name with OpenRouter's provider in it.
pub fn served_by<'a>(
    target: &'a Target,
    model: Option<&str>,
    provider: Option<&str>,
) -> (&'a Target, Option<String>) {
    let served = match (model, &target.fallbacks) {
        (Some(m), Some(fallbacks)) if m != target.upstream_model => fallbacks
            .iter()
            .find(|t| t.upstream_model == m)
            .unwrap_or(target),
        _ => target,
    };
    let label = provider
        .filter(|p| !p.is_empty())
        .map(|p| format!("{} ({p})", target.endpoint.provider.name));
    (served, label)
}

/// The members of a stream chunk that say who serves.
#[derive(Deserialize)]
struct Who<'a> {
    #[serde(default, borrow)]
    model: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    provider: Option<std::borrow::Cow<'a, str>>,
}

/// Per-stream state: the first chunk that names a provider or model decides who serves; the
/// chunks themselves are OpenAI's.
#[derive(Debug, Default)]
pub struct OpenRouterStream {
    resolved: bool,
}

impl OpenRouterStream {
    pub fn translate(
        &mut self,
        t: &mut super::openai::StreamTranslator,
        data: &str,
        target: &mut Target,
    ) -> Result<super::openai::Translated, AttemptError> {
        if !self.resolved
            && let Ok(who) = serde_json::from_str::<Who>(data)
            && (who.model.is_some() || who.provider.is_some())
        {
            self.resolved = true;
            let (served, label) = served_by(target, who.model.as_deref(), who.provider.as_deref());
            if !std::ptr::eq(served, &*target) {
                *target = served.clone();
            }
            t.provider_label = label.map(String::into_boxed_str);
        }
        t.translate(data, target)
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    error: Option<ErrorBody<'a>>,
}

#[derive(Deserialize)]
struct ErrorBody<'a> {
    #[serde(default, borrow)]
    message: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    metadata: Option<Metadata<'a>>,
}

#[derive(Deserialize)]
struct Metadata<'a> {
    /// The upstream provider's own error, as text or JSON.
    #[serde(default, borrow)]
    raw: Option<&'a RawValue>,
    #[serde(default, borrow)]
    provider_name: Option<std::borrow::Cow<'a, str>>,
    /// Moderation refusals list why the input was flagged.
    #[serde(default, borrow)]
    reasons: Option<&'a RawValue>,
    #[serde(default, borrow)]
    flagged_input: Option<&'a RawValue>,
}

/// Reads OpenRouter's error envelope (`{"error":{"code","message","metadata":{"raw",
/// "provider_name",…}}}`): names the provider behind it, shows the upstream's own message,
/// and refines the class where the status alone misleads.
pub fn refine_error(err: &mut AttemptError, body: &str) {
    let Ok(Envelope { error: Some(error) }) = serde_json::from_str::<Envelope>(body) else {
        return;
    };
    let message = error.message.as_deref().unwrap_or("");
    let meta = error.metadata.as_ref();
    if let Some(name) = meta
        .and_then(|m| m.provider_name.as_deref())
        .filter(|n| !n.is_empty())
    {
        err.provider = format!("{} ({name})", err.provider).into();
    }
    if let Some(raw) = meta.and_then(|m| m.raw) {
        let text = serde_json::from_str::<String>(raw.get()).unwrap_or_else(|_| raw.get().into());
        err.detail = format!("{message}: {}", excerpt(&text, 500)).into();
    }
    let lower = message.to_ascii_lowercase();
    if lower.contains("no endpoints") {
        // OpenRouter has no provider for the model right now (or none that the passed-on
        // preferences allow): another of our endpoints may still serve.
        err.class = FailureClass::ServerError;
    } else if lower.contains("is not a valid model id") {
        // Our configured upstream model, not the client's request.
        err.class = FailureClass::Misconfigured;
    } else if meta.is_some_and(|m| m.reasons.is_some() || m.flagged_input.is_some()) {
        err.class = FailureClass::ContentPolicy;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::catalog::test_target_of;
    use crate::upstream::attempt::classify_status;

    const FIXTURES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/openrouter/"
    );

    fn classified(status: u16, body: &str) -> AttemptError {
        let target = test_target_of("openrouter", "0", "0");
        let (class, message) = classify_status(status, body);
        let mut err = AttemptError::new(class, &target, message);
        err.upstream_status = Some(status);
        refine_error(&mut err, body);
        err
    }

    #[test]
    fn a_real_upstream_rate_limit_names_the_provider_behind_openrouter() {
        let body = std::fs::read_to_string(format!(
            "{FIXTURES}real_error_429_upstream_rate_limited.json"
        ))
        .expect("fixture");
        let err = classified(429, &body);
        assert_eq!(err.class, FailureClass::RateLimited);
        assert_eq!(&*err.provider, "Acme AI (DeepInfra)");
        assert!(
            err.detail.starts_with(
                "Provider returned error: deepseek/deepseek-v4-pro-0813 is temporarily rate-limited"
            ),
            "{}",
            err.detail
        );
    }

    #[test]
    fn openrouter_errors_classify_as_the_operator_needs() {
        let no_endpoints = r#"{"error":{"code":404,"message":"No endpoints found for meta-llama/llama-3.2-1b-instruct:free."}}"#;
        assert_eq!(
            classified(404, no_endpoints).class,
            FailureClass::ServerError
        );
        let unavailable =
            r#"{"error":{"code":503,"message":"No endpoints available for this model"}}"#;
        assert_eq!(
            classified(503, unavailable).class,
            FailureClass::ServerError
        );
        let credits = r#"{"error":{"code":402,"message":"Insufficient credits. Add more using https://openrouter.ai/credits"}}"#;
        assert_eq!(classified(402, credits).class, FailureClass::Misconfigured);
        let bad_id = r#"{"error":{"code":400,"message":"acme/nope is not a valid model ID"}}"#;
        assert_eq!(classified(400, bad_id).class, FailureClass::Misconfigured);
        let flagged = r#"{"error":{"code":403,"message":"Input flagged","metadata":{"reasons":["violence"],"flagged_input":"…","provider_name":"OpenAI","model_slug":"x"}}}"#;
        assert_eq!(classified(403, flagged).class, FailureClass::ContentPolicy);
        let client = r#"{"error":{"code":400,"message":"Provider returned error","metadata":{"raw":"{\"error\":{\"message\":\"bad tool schema\"}}","provider_name":"Anthropic"}}}"#;
        let err = classified(400, client);
        assert_eq!(
            err.class,
            FailureClass::InvalidRequest {
                context_length: false
            }
        );
        assert!(err.detail.contains("bad tool schema"), "{}", err.detail);
    }

    #[test]
    fn the_served_model_and_provider_are_read_back() {
        let mut target = test_target_of("openrouter", "0.000001", "0.000002");
        let mut later = target.clone();
        later.model_id = "acme/other".into();
        later.upstream_model = "other/up".into();
        target.fallbacks = Some(vec![later].into());
        let (served, label) = served_by(&target, Some("other/up"), Some("Anthropic"));
        assert_eq!(served.model_id, "acme/other");
        assert_eq!(label.as_deref(), Some("Acme AI (Anthropic)"));
        let (served, label) = served_by(&target, Some("up"), None);
        assert_eq!((served.model_id.as_str(), label), ("acme/chat", None));
        let (served, _) = served_by(&target, Some("unknown/model"), None);
        assert_eq!(
            served.model_id, "acme/chat",
            "an unknown answer is the planned one"
        );
    }
}
