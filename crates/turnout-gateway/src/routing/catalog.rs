//! Step 2: the catalog maps a model id to its endpoints (provider × upstream model × price).

use std::collections::HashMap;

use rustc_hash::FxHashMap;
use std::sync::Arc;

use rust_decimal::Decimal;
use secrecy::SecretString;
use turnout_config::{
    Config, DataCollection, EndpointConfig, ModelConfig, ProviderConfig, ProviderKind,
    ResolvedTimeouts, Tier,
};
use turnout_wire::params::ParamSet;

use crate::upstream::client::Upstream;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("provider `{slug}`: `{url}` is not a valid URL")]
    Url { slug: String, url: String },
    #[error("provider `{slug}`: cannot build its HTTP client: {source}")]
    Client {
        slug: String,
        source: std::io::Error,
    },
    #[error("provider `{slug}`: header `{name}` cannot be sent: {reason}")]
    Header {
        slug: String,
        name: String,
        reason: String,
    },
}

/// One upstream provider with its connection pool.
#[derive(Debug)]
pub struct Provider {
    pub slug: String,
    pub name: String,
    pub kind: ProviderKind,
    /// Without a trailing slash; the adapter appends the path.
    pub base_url: String,
    /// Where the adapter posts a chat: `{base_url}/chat/completions`, or `{base_url}/messages`
    /// for Anthropic; parsed once (parsing a URL per request is measurable). For Gemini,
    /// whose path names the model, `{base_url}/models`, which the adapter extends.
    pub chat_uri: http::Uri,
    /// Every header sent on every request: authorization (marked sensitive) and the
    /// configured extras, built once.
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// Azure's deployment API names the deployment in the path: endpoints with a configured
    /// upstream model have their URI built once; wildcard ones build it from these parts.
    pub azure_deployments: Option<AzureDeployments>,
    /// The provider's models list, which status checks read with its credentials.
    pub models_url: String,
    pub data_collection: DataCollection,
    pub upstream: Upstream,
}

/// `{base_url}/openai/deployments/` + deployment + `/chat/completions?api-version=…`.
#[derive(Debug)]
pub struct AzureDeployments {
    prefix: String,
    suffix: String,
}

impl AzureDeployments {
    fn new(base_url: &str, api_version: &str) -> Self {
        let resource = azure_resource(base_url);
        Self {
            prefix: format!("{resource}/openai/deployments/"),
            suffix: format!("/chat/completions?api-version={api_version}"),
        }
    }

    /// The chat URI of one deployment, `None` when the name does not fit in a path segment.
    pub fn uri(&self, deployment: &str) -> Option<http::Uri> {
        if deployment.is_empty() || deployment.contains(['/', '?', '#', '%']) {
            return None;
        }
        format!("{}{deployment}{}", self.prefix, self.suffix)
            .parse()
            .ok()
    }
}

/// An Azure resource URL, given with or without its `/openai` path.
fn azure_resource(base_url: &str) -> &str {
    base_url.strip_suffix("/openai").unwrap_or(base_url)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pricing {
    pub prompt: Decimal,
    pub completion: Decimal,
    pub cache_read: Option<Decimal>,
    pub cache_write: Option<Decimal>,
    pub request: Option<Decimal>,
}

/// A provider serving a model, as configured (the upstream model may come from the request
/// for wildcard entries).
#[derive(Debug)]
pub struct Endpoint {
    /// `provider-slug|model-id`: names this endpoint in health, breakers and metrics.
    pub key: Arc<str>,
    pub provider: Arc<Provider>,
    pub upstream_model: Option<String>,
    pub pricing: Pricing,
    pub max_completion_tokens: Option<u64>,
    pub context_length: Option<u64>,
    /// The request parameters this endpoint honours: its `supported_parameters` (default:
    /// all) within what its provider's adapter can send. The rest are dropped from requests,
    /// or exclude the endpoint under `provider.require_parameters`.
    pub supported: ParamSet,
    /// Whether `supported_parameters` was configured (listings show a default set otherwise).
    pub parameters_configured: bool,
    /// Where this endpoint's chats go when not to its provider's `chat_uri` (an Azure
    /// deployment), built once.
    pub chat_uri: Option<http::Uri>,
    pub quantization: Option<String>,
    pub zdr: bool,
    pub tier: Option<Tier>,
    pub timeouts: ResolvedTimeouts,
}

#[derive(Debug)]
pub struct Model {
    pub id: String,
    pub name: String,
    pub description: String,
    pub context_length: Option<u64>,
    pub input_modalities: Vec<String>,
    pub endpoints: Vec<Arc<Endpoint>>,
}

impl Model {
    /// The model's listed price: its cheapest endpoint's (prompt + completion).
    pub fn cheapest(&self) -> Option<&Arc<Endpoint>> {
        self.endpoints
            .iter()
            .min_by_key(|e| e.pricing.prompt + e.pricing.completion)
    }

    pub fn context_length(&self) -> Option<u64> {
        self.context_length
            .or_else(|| self.endpoints.iter().filter_map(|e| e.context_length).max())
    }
}

/// A model-id suffix that changes routing rather than the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Sort by throughput; priority-tier endpoints are admitted.
    Nitro,
    /// Sort by price; flex-tier endpoints are admitted.
    Floor,
}

/// One endpoint chosen for a concrete model id.
#[derive(Debug, Clone)]
pub struct Target {
    /// Our model id, as the response's `model` names it.
    pub model_id: String,
    pub upstream_model: String,
    pub endpoint: Arc<Endpoint>,
    /// For an OpenRouter endpoint that is the last of its model in a plan: the request's
    /// later models on the same provider, which OpenRouter may fall back to itself (they go
    /// up as `models`; an answer from one of them is billed as that one).
    pub fallbacks: Option<Arc<[Target]>>,
}

impl Target {
    /// The URI a chat for this target is posted to.
    pub fn chat_uri(&self) -> Option<http::Uri> {
        let e = &self.endpoint;
        match (&e.chat_uri, &e.provider.azure_deployments) {
            (Some(uri), _) => Some(uri.clone()),
            (None, Some(deployments)) => deployments.uri(&self.upstream_model),
            (None, None) => Some(e.provider.chat_uri.clone()),
        }
    }
}

#[derive(Debug, Default)]
pub struct Catalog {
    /// FxHash (the maps keyed by config entries use it): keys come from the config file, so
    /// no client can flood a bucket, and SipHash would cost a few hundred instructions per
    /// lookup.
    exact: FxHashMap<String, Arc<Model>>,
    /// `prefix/` → model, for ids like `ollama/*`; longest prefix wins.
    wildcards: Vec<(String, Arc<Model>)>,
    /// Config order, for listings.
    ordered: Vec<Arc<Model>>,
    providers: Vec<Arc<Provider>>,
}

/// Variant suffixes that select a sort order rather than another model.
const VARIANTS: [(&str, Variant); 2] = [(":nitro", Variant::Nitro), (":floor", Variant::Floor)];

/// What a requested model id resolves to.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub targets: Vec<Target>,
    pub variant: Option<Variant>,
}

impl Catalog {
    pub fn build(config: &Config) -> Result<Catalog, CatalogError> {
        let mut providers = HashMap::new();
        let mut provider_list = Vec::new();
        for p in &config.providers {
            let timeouts = p.timeouts.resolved();
            let base_url = p.base_url.trim_end_matches('/').to_owned();
            let azure_deployments = match (p.kind, p.api_version.as_deref()) {
                (ProviderKind::Azure, Some(version)) if !turnout_config::is_azure_v1(&base_url) => {
                    Some(AzureDeployments::new(&base_url, version))
                }
                _ => None,
            };
            let chat = match (p.kind, p.api_version.as_deref()) {
                (ProviderKind::Anthropic, _) => format!("{base_url}/messages"),
                (ProviderKind::Gemini, _) => format!("{base_url}/models"),
                // Azure's v1 API: the model goes in the body; a version only for previews.
                (ProviderKind::Azure, Some(v)) if azure_deployments.is_none() => {
                    format!("{base_url}/chat/completions?api-version={v}")
                }
                _ => format!("{base_url}/chat/completions"),
            };
            let chat_uri: http::Uri = chat.parse().map_err(|_| CatalogError::Url {
                slug: p.slug.clone(),
                url: chat.clone(),
            })?;
            let upstream = Upstream::for_base(&chat_uri, &timeouts).map_err(|source| {
                CatalogError::Client {
                    slug: p.slug.clone(),
                    source,
                }
            })?;
            let headers = provider_headers(p)?;
            let models_url = match (&azure_deployments, p.api_version.as_deref()) {
                (Some(_), Some(v)) => {
                    format!(
                        "{}/openai/models?api-version={v}",
                        azure_resource(&base_url)
                    )
                }
                _ => format!("{base_url}/models"),
            };
            let provider = Arc::new(Provider {
                slug: p.slug.clone(),
                chat_uri,
                name: p.display_name().to_owned(),
                kind: p.kind,
                base_url,
                headers,
                azure_deployments,
                models_url,
                data_collection: p.data_collection,
                upstream,
            });
            providers.insert(p.slug.clone(), (provider.clone(), p.timeouts));
            provider_list.push(provider);
        }
        let mut catalog = Catalog {
            providers: provider_list,
            ..Catalog::default()
        };
        for m in &config.models {
            let model = Arc::new(build_model(m, &providers));
            match m.id.strip_suffix('*') {
                Some(prefix) => catalog.wildcards.push((prefix.to_owned(), model.clone())),
                None => {
                    catalog.exact.insert(m.id.clone(), model.clone());
                }
            }
            catalog.ordered.push(model);
        }
        catalog
            .wildcards
            .sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        Ok(catalog)
    }

    /// Resolves a requested id (with an optional `:nitro`/`:floor` variant) to its endpoints.
    /// The targets' model id is the id without the variant: that is what is billed.
    pub fn resolve(&self, requested: &str) -> Option<Resolved> {
        let (id, variant) = VARIANTS
            .iter()
            .find_map(|(suffix, v)| requested.strip_suffix(suffix).map(|id| (id, Some(*v))))
            .unwrap_or((requested, None));
        if let Some(model) = self.exact.get(id) {
            return Some(Resolved {
                targets: targets(model, id, None),
                variant,
            });
        }
        let (prefix, model) = self
            .wildcards
            .iter()
            .find(|(prefix, _)| id.starts_with(prefix.as_str()) && id.len() > prefix.len())?;
        Some(Resolved {
            targets: targets(model, id, Some(&id[prefix.len()..])),
            variant,
        })
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Model>> {
        self.exact.get(id)
    }

    /// Concrete models in config order (wildcards have no single id to list).
    pub fn models(&self) -> impl Iterator<Item = &Arc<Model>> {
        self.ordered.iter().filter(|m| !m.id.ends_with('*'))
    }

    pub fn providers(&self) -> &[Arc<Provider>] {
        &self.providers
    }
}

fn provider_headers(
    p: &ProviderConfig,
) -> Result<Vec<(http::HeaderName, http::HeaderValue)>, CatalogError> {
    use secrecy::ExposeSecret;
    let (slug, kind, extra) = (&p.slug, p.kind, &p.headers);
    let api_key: Option<&SecretString> = p.api_key.as_ref();
    let bad = |name: &str, reason: &str| CatalogError::Header {
        slug: slug.to_owned(),
        name: name.to_owned(),
        reason: reason.to_owned(),
    };
    let mut out = Vec::with_capacity(extra.len() + 4);
    out.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static(concat!("turnout/", env!("CARGO_PKG_VERSION"))),
    ));
    if kind == ProviderKind::Anthropic {
        out.push((
            http::HeaderName::from_static("anthropic-version"),
            http::HeaderValue::from_static(turnout_wire::anthropic::API_VERSION),
        ));
    }
    if let Some(key) = api_key {
        let (name, value) = match kind {
            ProviderKind::Anthropic => (
                http::HeaderName::from_static("x-api-key"),
                key.expose_secret().to_owned(),
            ),
            ProviderKind::Gemini => (
                http::HeaderName::from_static("x-goog-api-key"),
                key.expose_secret().to_owned(),
            ),
            // Both of Azure's APIs take the key as `api-key`.
            ProviderKind::Azure => (
                http::HeaderName::from_static("api-key"),
                key.expose_secret().to_owned(),
            ),
            _ => (
                http::header::AUTHORIZATION,
                format!("Bearer {}", key.expose_secret()),
            ),
        };
        let mut v = http::HeaderValue::from_str(&value)
            .map_err(|_| bad(name.as_str(), "the API key is not a valid header value"))?;
        v.set_sensitive(true);
        out.push((name, v));
    }
    // OpenRouter's app attribution; `X-Title` is the name older deployments read.
    let app = [
        ("http-referer", &p.http_referer),
        ("x-openrouter-title", &p.x_title),
        ("x-title", &p.x_title),
    ];
    for (name, value) in app {
        if let Some(value) = value {
            let v = http::HeaderValue::from_str(value).map_err(|_| bad(name, "invalid value"))?;
            out.push((http::HeaderName::from_static(name), v));
        }
    }
    for (name, value) in extra {
        let n =
            http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad(name, "invalid name"))?;
        let mut v = http::HeaderValue::from_str(value.expose_secret())
            .map_err(|_| bad(name, "invalid value"))?;
        v.set_sensitive(true);
        out.push((n, v));
    }
    Ok(out)
}

fn targets(model: &Model, id: &str, wildcard_rest: Option<&str>) -> Vec<Target> {
    model
        .endpoints
        .iter()
        .map(|e| Target {
            model_id: id.to_owned(),
            upstream_model: e
                .upstream_model
                .clone()
                .or_else(|| wildcard_rest.map(str::to_owned))
                .unwrap_or_else(|| id.to_owned()),
            endpoint: e.clone(),
            fallbacks: None,
        })
        .collect()
}

fn build_model(
    m: &ModelConfig,
    providers: &HashMap<String, (Arc<Provider>, turnout_config::TimeoutsConfig)>,
) -> Model {
    let endpoints = m
        .endpoints
        .iter()
        .filter_map(|e| {
            // Validation guarantees the provider exists; a stale reference is skipped.
            let (provider, provider_timeouts) = providers.get(&e.provider)?;
            let key: Arc<str> = format!("{}|{}", e.provider, m.id).into();
            Some(Arc::new(build_endpoint(
                key,
                e,
                provider.clone(),
                *provider_timeouts,
            )))
        })
        .collect();
    Model {
        id: m.id.clone(),
        name: m.name.clone().unwrap_or_else(|| m.id.clone()),
        description: m.description.clone().unwrap_or_default(),
        context_length: m.context_length,
        input_modalities: m
            .input_modalities
            .clone()
            .unwrap_or_else(|| vec!["text".to_owned()]),
        endpoints,
    }
}

fn build_endpoint(
    key: Arc<str>,
    e: &EndpointConfig,
    provider: Arc<Provider>,
    provider_timeouts: turnout_config::TimeoutsConfig,
) -> Endpoint {
    let configured = e
        .supported_parameters
        .as_ref()
        .map_or(ParamSet::ALL, |names| {
            ParamSet::of(names.iter().map(String::as_str))
        });
    let chat_uri = match (&provider.azure_deployments, &e.upstream_model) {
        (Some(deployments), Some(model)) => deployments.uri(model),
        _ => None,
    };
    Endpoint {
        key,
        supported: configured.intersection(adapter_parameters(provider.kind)),
        parameters_configured: e.supported_parameters.is_some(),
        chat_uri,
        provider,
        upstream_model: e.upstream_model.clone(),
        pricing: Pricing {
            prompt: e.prompt_price,
            completion: e.completion_price,
            cache_read: e.cache_read_price,
            cache_write: e.cache_write_price,
            request: e.request_price,
        },
        max_completion_tokens: e.max_completion_tokens,
        context_length: e.context_length,
        quantization: e.quantization.clone(),
        zdr: e.zdr,
        tier: e.tier,
        timeouts: e.timeouts.merged(provider_timeouts).resolved(),
    }
}

/// What a provider kind's adapter can send upstream: the translating adapters declare their
/// set; OpenAI-compatible APIs (Azure and OpenRouter included) take every parameter.
pub fn adapter_parameters(kind: ProviderKind) -> ParamSet {
    let names = match kind {
        ProviderKind::Anthropic => turnout_wire::anthropic::SUPPORTED_PARAMETERS,
        ProviderKind::Gemini => turnout_wire::gemini::SUPPORTED_PARAMETERS,
        ProviderKind::Openai | ProviderKind::Azure | ProviderKind::Openrouter => {
            return ParamSet::ALL;
        }
    };
    ParamSet::of(names.iter().copied())
}

/// A one-endpoint target for unit tests of adapters and cost (no network is touched).
#[cfg(test)]
pub(crate) fn test_target(prompt_price: &str, completion_price: &str) -> Target {
    test_target_of("openai", prompt_price, completion_price)
}

/// [`test_target`] for a provider of `kind`.
#[cfg(test)]
pub(crate) fn test_target_of(kind: &str, prompt_price: &str, completion_price: &str) -> Target {
    // Azure's deployment API needs a version.
    let version = if kind == "azure" {
        "api_version = \"2024-10-21\"\n"
    } else {
        ""
    };
    let toml = format!(
        "[[providers]]\nslug = \"acme\"\nname = \"Acme AI\"\nkind = \"{kind}\"\n{version}api_key = \"sk-test\"\nbase_url = \"http://127.0.0.1:9/v1\"\n\
         [[models]]\nid = \"acme/chat\"\n  [[models.endpoints]]\n  provider = \"acme\"\n  upstream_model = \"up\"\n  \
         prompt_price = \"{prompt_price}\"\n  completion_price = \"{completion_price}\"\n"
    );
    let config = turnout_config::load_str(&toml, "test.toml").expect("valid");
    let catalog = Catalog::build(&config).expect("catalog");
    catalog
        .resolve("acme/chat")
        .and_then(|r| r.targets.into_iter().next())
        .expect("target")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider_of(extra: &str) -> Arc<Provider> {
        let toml = format!(
            "[[providers]]\nslug = \"p\"\n{extra}\napi_key = \"k\"\n\
             [[models]]\nid = \"a/m\"\n  [[models.endpoints]]\n  provider = \"p\"\n  upstream_model = \"dep-1\"\n  \
             prompt_price = \"0\"\n  completion_price = \"0\"\n"
        );
        let config = turnout_config::load_str(&toml, "t.toml").expect("valid");
        Catalog::build(&config).expect("catalog").providers()[0].clone()
    }

    fn header<'a>(p: &'a Provider, name: &str) -> Option<&'a str> {
        p.headers
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.to_str().ok())
    }

    #[test]
    fn openrouter_sends_the_app_headers_and_a_bearer_key() {
        let p = provider_of(
            "kind = \"openrouter\"\nbase_url = \"https://openrouter.ai/api/v1\"\n\
             http_referer = \"https://app.example\"\nx_title = \"My App\"",
        );
        assert_eq!(header(&p, "authorization"), Some("Bearer k"));
        assert_eq!(header(&p, "http-referer"), Some("https://app.example"));
        assert_eq!(header(&p, "x-openrouter-title"), Some("My App"));
        assert_eq!(header(&p, "x-title"), Some("My App"));
        assert_eq!(p.chat_uri, "https://openrouter.ai/api/v1/chat/completions");
    }

    #[test]
    fn azure_deployment_uris_are_built_once_and_the_v1_api_keeps_the_body_model() {
        let toml = "[[providers]]\nslug = \"az\"\nkind = \"azure\"\nbase_url = \"https://res.openai.azure.com/openai/\"\napi_version = \"2024-10-21\"\napi_key = \"k\"\n\
             [[models]]\nid = \"a/m\"\n  [[models.endpoints]]\n  provider = \"az\"\n  upstream_model = \"dep-1\"\n  prompt_price = \"0\"\n  completion_price = \"0\"\n\
             [[models]]\nid = \"az/*\"\n  [[models.endpoints]]\n  provider = \"az\"\n  prompt_price = \"0\"\n  completion_price = \"0\"\n";
        let config = turnout_config::load_str(toml, "t.toml").expect("valid");
        let catalog = Catalog::build(&config).expect("catalog");
        let target = catalog.resolve("a/m").expect("model").targets.remove(0);
        assert_eq!(
            target
                .endpoint
                .chat_uri
                .as_ref()
                .map(ToString::to_string)
                .as_deref(),
            Some(
                "https://res.openai.azure.com/openai/deployments/dep-1/chat/completions?api-version=2024-10-21"
            )
        );
        assert_eq!(header(&target.endpoint.provider, "api-key"), Some("k"));
        assert!(header(&target.endpoint.provider, "authorization").is_none());
        // A wildcard's deployment comes from the request.
        let wild = catalog
            .resolve("az/other-dep")
            .expect("model")
            .targets
            .remove(0);
        assert_eq!(
            wild.chat_uri().map(|u| u.to_string()).as_deref(),
            Some(
                "https://res.openai.azure.com/openai/deployments/other-dep/chat/completions?api-version=2024-10-21"
            )
        );
        let bad = catalog.resolve("az/a/b").expect("model").targets.remove(0);
        assert!(bad.chat_uri().is_none(), "a deployment is one path segment");

        let v1 =
            provider_of("kind = \"azure\"\nbase_url = \"https://res.openai.azure.com/openai/v1\"");
        assert_eq!(
            v1.chat_uri,
            "https://res.openai.azure.com/openai/v1/chat/completions"
        );
        assert!(v1.azure_deployments.is_none());
        assert_eq!(
            v1.models_url,
            "https://res.openai.azure.com/openai/v1/models"
        );
        assert_eq!(
            target.endpoint.provider.models_url,
            "https://res.openai.azure.com/openai/models?api-version=2024-10-21"
        );
    }
}
