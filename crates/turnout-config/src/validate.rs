//! Semantic checks on a typed [`Config`]: what serde cannot know (references between tables,
//! duplicates, URLs, ranges). Each problem points at its field's line through the tree.

use std::collections::HashMap;
use std::net::SocketAddr;

use rust_decimal::Decimal;
use secrecy::ExposeSecret;
use url::Url;

mod status;

use crate::doc::{Doc, FieldPath};
use crate::error::ConfigProblem;
use crate::telemetry::TelemetryConfig;
use crate::types::{
    AuthConfig, BreakerConfig, Config, EndpointConfig, ModelConfig, ProviderConfig, ProviderKind,
    RetryConfig, ServerConfig, StorageConfig, TimeoutsConfig,
};

/// Runs every check. Fields under a path in `tainted` (already reported, holding a placeholder)
/// are not checked again.
pub(crate) fn validate(
    config: &Config,
    doc: &Doc<'_>,
    tainted: &[FieldPath],
    problems: &mut Vec<ConfigProblem>,
) {
    let mut checker = Checker {
        doc,
        tainted,
        problems,
    };
    let root = FieldPath::root();
    checker.server(&root.key("server"), &config.server);
    checker.storage(&root.key("storage"), &config.storage);
    checker.auth(&root.key("auth"), &config.auth);
    checker.providers(&root.key("providers"), &config.providers);
    checker.models(&root.key("models"), &config.models, &config.providers);
    checker.retry(&root.key("routing").key("retry"), &config.routing.retry);
    checker.breaker(&root.key("routing").key("breaker"), &config.routing.breaker);
    checker.status(&root.key("status"), config);
    if let Some(telemetry) = &config.telemetry {
        checker.telemetry(&root.key("telemetry"), telemetry);
    }
}

struct Checker<'a, 'i> {
    doc: &'a Doc<'i>,
    tainted: &'a [FieldPath],
    problems: &'a mut Vec<ConfigProblem>,
}

impl Checker<'_, '_> {
    fn is_tainted(&self, path: &FieldPath) -> bool {
        self.tainted.iter().any(|t| path.starts_with(t))
    }

    fn report(&mut self, path: &FieldPath, message: impl Into<String>) {
        if !self.is_tainted(path) {
            self.problems.push(self.doc.problem_at(path, message));
        }
    }

    fn positive(&mut self, path: &FieldPath, value: Option<u64>) {
        if value == Some(0) {
            self.report(path, "must be greater than 0");
        }
    }

    fn at_least_one(&mut self, path: &FieldPath, value: u64) {
        if value == 0 {
            self.report(path, "must be at least 1");
        }
    }

    fn unit_interval(&mut self, path: &FieldPath, value: f64) {
        if !(0.0..=1.0).contains(&value) {
            self.report(path, format!("must be between 0 and 1 (got {value})"));
        }
    }

    fn non_negative(&mut self, path: &FieldPath, value: Option<Decimal>) {
        if let Some(value) = value
            && value.is_sign_negative()
            && !value.is_zero()
        {
            self.report(path, format!("must not be negative (got {value})"));
        }
    }

    fn not_empty(&mut self, path: &FieldPath, value: Option<&str>) {
        if value.is_some_and(|v| v.trim().is_empty()) {
            self.report(path, "must not be empty");
        }
    }

    fn server(&mut self, path: &FieldPath, server: &ServerConfig) {
        if server.listen.parse::<SocketAddr>().is_err() {
            let shown = self.doc.shown(&path.key("listen"), &server.listen);
            self.report(
                &path.key("listen"),
                format!(
                    "{shown} is not a socket address (expected IP:PORT, e.g. \"127.0.0.1:8080\")"
                ),
            );
        }
        if server.max_body_bytes == 0 {
            self.report(&path.key("max_body_bytes"), "must be greater than 0");
        }
    }

    fn storage(&mut self, path: &FieldPath, storage: &StorageConfig) {
        // Never echo these URLs: they may hold passwords.
        let database = path.key("database_url");
        match storage.database_url.split_once(':') {
            Some(("sqlite" | "postgres" | "postgresql", _)) => {}
            Some((scheme, _)) if !scheme.is_empty() && !scheme.contains(char::is_whitespace) => {
                self.report(
                    &database,
                    format!(
                        "unsupported database `{scheme}:` (expected sqlite://… or postgres://…)"
                    ),
                );
            }
            _ => self.report(
                &database,
                "not a database URL (expected sqlite://… or postgres://…)",
            ),
        }
        if let Some(redis) = &storage.redis_url {
            let redis_path = path.key("redis_url");
            match Url::parse(redis) {
                Ok(url) if matches!(url.scheme(), "redis" | "rediss" | "redis+unix" | "unix") => {}
                Ok(url) => self.report(
                    &redis_path,
                    format!(
                        "unsupported scheme `{}` (expected redis://… or rediss://…)",
                        url.scheme()
                    ),
                ),
                Err(error) => self.report(&redis_path, format!("not a valid URL: {error}")),
            }
        }
    }

    fn auth(&mut self, path: &FieldPath, auth: &AuthConfig) {
        for (i, key) in auth.keys.iter().enumerate() {
            if key.expose_secret().trim().is_empty() {
                self.report(&path.key("keys").index(i), "a static key must not be empty");
            }
        }
    }

    fn timeouts(&mut self, path: &FieldPath, timeouts: &TimeoutsConfig) {
        self.positive(&path.key("connect_ms"), timeouts.connect_ms);
        self.positive(&path.key("first_token_ms"), timeouts.first_token_ms);
        self.positive(&path.key("idle_ms"), timeouts.idle_ms);
        self.positive(&path.key("total_ms"), timeouts.total_ms);
    }

    fn http_url(&mut self, path: &FieldPath, value: &str) {
        match Url::parse(value) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            Ok(url) => {
                let shown = self.doc.shown(path, value);
                self.report(
                    path,
                    format!(
                        "{shown} must be an http:// or https:// URL (scheme is `{}`)",
                        url.scheme()
                    ),
                );
            }
            Err(error) => {
                let shown = self.doc.shown(path, value);
                self.report(path, format!("{shown} is not a valid URL: {error}"));
            }
        }
    }

    fn providers(&mut self, path: &FieldPath, providers: &[ProviderConfig]) {
        let mut first_by_slug: HashMap<&str, usize> = HashMap::new();
        for (i, provider) in providers.iter().enumerate() {
            let here = path.index(i);
            let slug = here.key("slug");
            if provider.slug.trim().is_empty() {
                self.report(&slug, "must not be empty");
            } else if provider.slug.contains(char::is_whitespace) {
                self.report(&slug, "must not contain whitespace");
            }
            if !self.is_tainted(&slug) {
                match first_by_slug.get(provider.slug.as_str()) {
                    Some(first) => {
                        let line = self.doc.line_of(&path.index(*first).key("slug"));
                        let message = match line {
                            Some(line) => format!(
                                "duplicate provider slug `{}` (first defined at line {line})",
                                provider.slug
                            ),
                            None => format!("duplicate provider slug `{}`", provider.slug),
                        };
                        self.report(&slug, message);
                    }
                    None => {
                        first_by_slug.insert(&provider.slug, i);
                    }
                }
            }
            self.not_empty(&here.key("name"), provider.name.as_deref());
            self.http_url(&here.key("base_url"), &provider.base_url);
            if !self.is_tainted(&here.key("kind")) {
                self.kind_fields(&here, provider);
            }
            self.timeouts(&here.key("timeouts"), &provider.timeouts);
            for (name, value) in &provider.headers {
                let header = here.key("headers").key(name);
                if !is_header_name(name) {
                    self.report(&header, format!("`{name}` is not a valid HTTP header name"));
                }
                if value.expose_secret().contains(['\r', '\n', '\0']) {
                    self.report(&header, "a header value must not contain CR, LF or NUL");
                }
            }
        }
    }

    /// Fields that only one kind of provider reads.
    fn kind_fields(&mut self, here: &FieldPath, provider: &ProviderConfig) {
        let kind = provider.kind;
        if kind == ProviderKind::Azure {
            match provider.api_version.as_deref() {
                // Azure's v1 API takes no version; the deployment API needs one.
                None if !is_azure_v1(&provider.base_url) => self.report(
                    &here.key("api_version"),
                    "required when kind = \"azure\" (e.g. api_version = \"2024-10-21\"), \
                     unless base_url ends in /openai/v1",
                ),
                None => {}
                Some(version) => self.not_empty(&here.key("api_version"), Some(version)),
            }
        } else if provider.api_version.is_some() {
            self.report(&here.key("api_version"), "only read when kind = \"azure\"");
        }
        for (field, value) in [
            ("http_referer", &provider.http_referer),
            ("x_title", &provider.x_title),
        ] {
            let Some(value) = value else { continue };
            let path = here.key(field);
            if kind != ProviderKind::Openrouter {
                self.report(&path, "only sent when kind = \"openrouter\"");
            } else if value.trim().is_empty() {
                self.report(&path, "must not be empty");
            } else if value.contains(['\r', '\n', '\0']) {
                self.report(&path, "a header value must not contain CR, LF or NUL");
            }
        }
    }

    fn models(&mut self, path: &FieldPath, models: &[ModelConfig], providers: &[ProviderConfig]) {
        let providers_path = FieldPath::root().key("providers");
        // When a provider's slug is itself wrong, an endpoint naming it is not reported again.
        let slugs_uncertain = (0..providers.len())
            .any(|i| self.is_tainted(&providers_path.index(i).key("slug")))
            || self.is_tainted(&providers_path);
        let slugs: Vec<&str> = providers.iter().map(|p| p.slug.as_str()).collect();
        let mut first_by_id: HashMap<&str, usize> = HashMap::new();
        for (i, model) in models.iter().enumerate() {
            let here = path.index(i);
            let id = here.key("id");
            if let Some(why) = model_id_problem(&model.id) {
                self.report(&id, format!("invalid model id `{}`: {why}", model.id));
            }
            if !self.is_tainted(&id) {
                match first_by_id.get(model.id.as_str()) {
                    Some(first) => {
                        let line = self.doc.line_of(&path.index(*first).key("id"));
                        let message = match line {
                            Some(line) => format!(
                                "duplicate model id `{}` (first defined at line {line})",
                                model.id
                            ),
                            None => format!("duplicate model id `{}`", model.id),
                        };
                        self.report(&id, message);
                    }
                    None => {
                        first_by_id.insert(&model.id, i);
                    }
                }
            }
            self.positive(&here.key("context_length"), model.context_length);
            if model.endpoints.is_empty() {
                self.report(
                    &here.key("endpoints"),
                    "a model needs at least one endpoint",
                );
            }
            for (j, endpoint) in model.endpoints.iter().enumerate() {
                let at = here.key("endpoints").index(j);
                if !slugs_uncertain && !slugs.contains(&endpoint.provider.as_str()) {
                    let message = if slugs.is_empty() {
                        format!(
                            "unknown provider `{}` (no providers are defined)",
                            endpoint.provider
                        )
                    } else {
                        format!(
                            "unknown provider `{}` (defined: {})",
                            endpoint.provider,
                            slugs.join(", ")
                        )
                    };
                    self.report(&at.key("provider"), message);
                }
                self.endpoint(&at, endpoint);
            }
        }
    }

    fn endpoint(&mut self, path: &FieldPath, endpoint: &EndpointConfig) {
        self.not_empty(
            &path.key("upstream_model"),
            endpoint.upstream_model.as_deref(),
        );
        self.non_negative(&path.key("prompt_price"), Some(endpoint.prompt_price));
        self.non_negative(
            &path.key("completion_price"),
            Some(endpoint.completion_price),
        );
        self.non_negative(&path.key("cache_read_price"), endpoint.cache_read_price);
        self.non_negative(&path.key("cache_write_price"), endpoint.cache_write_price);
        self.non_negative(&path.key("request_price"), endpoint.request_price);
        self.positive(
            &path.key("max_completion_tokens"),
            endpoint.max_completion_tokens,
        );
        self.positive(&path.key("context_length"), endpoint.context_length);
        self.timeouts(&path.key("timeouts"), &endpoint.timeouts);
        for (i, name) in endpoint.supported_parameters.iter().flatten().enumerate() {
            // A misspelt name would silently drop the parameter it meant to allow.
            if turnout_wire::params::param_of(name).is_none() {
                self.report(
                    &path.key("supported_parameters").index(i),
                    format!(
                        "unknown parameter `{name}` (known: {}, max_completion_tokens)",
                        turnout_wire::params::PARAMETERS.join(", ")
                    ),
                );
            }
        }
    }

    fn retry(&mut self, path: &FieldPath, retry: &RetryConfig) {
        if retry.multiplier.is_nan() || retry.multiplier < 1.0 {
            self.report(
                &path.key("multiplier"),
                format!("must be at least 1 (got {})", retry.multiplier),
            );
        }
        self.unit_interval(&path.key("jitter"), retry.jitter);
        self.unit_interval(&path.key("budget_ratio"), retry.budget_ratio);
        if retry.max_ms < retry.initial_ms {
            self.report(
                &path.key("max_ms"),
                format!("must be at least initial_ms ({})", retry.initial_ms),
            );
        }
    }

    fn breaker(&mut self, path: &FieldPath, breaker: &BreakerConfig) {
        let ratio = breaker.failure_ratio;
        if ratio.is_nan() || ratio <= 0.0 || ratio > 1.0 {
            self.report(
                &path.key("failure_ratio"),
                format!("must be greater than 0 and at most 1 (got {ratio})"),
            );
        }
        self.at_least_one(&path.key("min_requests"), breaker.min_requests);
        self.positive(&path.key("window_s"), Some(breaker.window_s));
        self.at_least_one(&path.key("consecutive"), breaker.consecutive);
        self.positive(&path.key("cooldown_s"), Some(breaker.cooldown_s));
        if breaker.max_cooldown_s < breaker.cooldown_s {
            self.report(
                &path.key("max_cooldown_s"),
                format!("must be at least cooldown_s ({})", breaker.cooldown_s),
            );
        }
    }
}

/// Why `id` is not `author/slug` or `prefix/*`, if it is not.
pub(crate) fn model_id_problem(id: &str) -> Option<&'static str> {
    const EXPECTED: &str = "expected `author/slug` or a wildcard `prefix/*`";
    let Some((author, slug)) = id.split_once('/') else {
        return Some(EXPECTED);
    };
    if author.is_empty() || slug.is_empty() || slug.contains('/') {
        return Some(EXPECTED);
    }
    if id.contains(char::is_whitespace) {
        return Some("must not contain whitespace");
    }
    if author.contains('*') || (slug.contains('*') && slug != "*") {
        return Some("a wildcard is a whole slug: `prefix/*`");
    }
    None
}

/// Azure's v1 API (`https://RESOURCE.openai.azure.com/openai/v1`): the model goes in the
/// body and no `api-version` is needed.
pub fn is_azure_v1(base_url: &str) -> bool {
    base_url.trim_end_matches('/').ends_with("/openai/v1")
}

/// RFC 9110 token characters.
impl Checker<'_, '_> {
    fn telemetry(&mut self, path: &FieldPath, telemetry: &TelemetryConfig) {
        if let Some(endpoint) = &telemetry.otlp_endpoint {
            let at = path.key("otlp_endpoint");
            self.http_url(&at, endpoint);
            if let Ok(url) = Url::parse(endpoint)
                && (url.query().is_some() || url.fragment().is_some())
            {
                let shown = self.doc.shown(&at, endpoint);
                self.report(
                    &at,
                    format!("{shown} must be a base URL without query or fragment (traces go to {{otlp_endpoint}}/v1/traces)"),
                );
            }
        }
        self.not_empty(&path.key("service_name"), telemetry.service_name.as_deref());
        self.unit_interval(&path.key("sample_ratio"), telemetry.sample_ratio);
        let timeout = telemetry.export_timeout;
        if timeout.is_zero() || timeout > std::time::Duration::from_secs(300) {
            self.report(
                &path.key("export_timeout"),
                format!(
                    "must be longer than 0 and at most 5m (got {})",
                    crate::duration::format_duration(timeout)
                ),
            );
        }
        for (name, value) in &telemetry.headers {
            let header = path.key("headers").key(name);
            if !is_header_name(name) {
                self.report(&header, format!("`{name}` is not a valid HTTP header name"));
            }
            if value.expose_secret().contains(['\r', '\n', '\0']) {
                self.report(&header, "a header value must not contain CR, LF or NUL");
            }
        }
    }
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids() {
        for ok in [
            "openai/gpt-4o-mini",
            "ollama/*",
            "deepseek/deepseek-r1:free",
            "a/b",
        ] {
            assert_eq!(model_id_problem(ok), None, "{ok}");
        }
        for bad in [
            "gpt-4o", "/x", "x/", "a/b/c", "*/x", "a/gpt-*", "a /b", "", "/", "*",
        ] {
            assert!(model_id_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn header_names() {
        assert!(is_header_name("X-Title"));
        assert!(is_header_name("HTTP-Referer"));
        assert!(!is_header_name("Bad Header"));
        assert!(!is_header_name(""));
        assert!(!is_header_name("x:y"));
    }
}
