//! Step 2: the request's `provider` object (OpenRouter's ProviderPreferences), parsed and
//! checked. Values are validated here so routing itself never sees a malformed preference.

use rust_decimal::Decimal;
use serde_json::Value;

use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    Price,
    Throughput,
    Latency,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partition {
    /// Keep the models of `models[]` in order and sort endpoints within each (default).
    Model,
    /// Sort the endpoints of all models together.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub by: SortBy,
    pub partition: Partition,
}

/// USD per million tokens (prompt, completion) and per request, as OpenRouter takes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MaxPrice {
    pub prompt: Option<Decimal>,
    pub completion: Option<Decimal>,
    pub request: Option<Decimal>,
}

/// A percentile cutoff; a bare number means p50.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Percentiles {
    pub p50: Option<f64>,
    pub p75: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Preferences {
    pub order: Vec<String>,
    pub allow_fallbacks: bool,
    pub require_parameters: bool,
    pub deny_data_collection: bool,
    pub zdr: bool,
    pub only: Vec<String>,
    pub ignore: Vec<String>,
    pub quantizations: Vec<String>,
    pub sort: Option<Sort>,
    pub max_price: MaxPrice,
    /// Tokens per second.
    pub preferred_min_throughput: Option<Percentiles>,
    /// Seconds to first token.
    pub preferred_max_latency: Option<Percentiles>,
}

impl Default for Preferences {
    fn default() -> Self {
        Self {
            order: Vec::new(),
            allow_fallbacks: true,
            require_parameters: false,
            deny_data_collection: false,
            zdr: false,
            only: Vec::new(),
            ignore: Vec::new(),
            quantizations: Vec::new(),
            sort: None,
            max_price: MaxPrice::default(),
            preferred_min_throughput: None,
            preferred_max_latency: None,
        }
    }
}

fn bad(field: &str, expected: &str, got: &Value) -> ApiError {
    let mut text = got.to_string();
    if text.len() > 40 {
        text.truncate(40);
        text.push('…');
    }
    ApiError::invalid(format!("`provider.{field}` must be {expected}, got {text}"))
}

fn strings(field: &str, v: &Value) -> Result<Vec<String>, ApiError> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| bad(field, "an array of strings", v))
            })
            .collect(),
        _ => Err(bad(field, "an array of strings", v)),
    }
}

fn flag(field: &str, v: &Value) -> Result<Option<bool>, ApiError> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        _ => Err(bad(field, "a boolean", v)),
    }
}

/// A price given as a number or a decimal string, not negative.
fn price(field: &str, v: &Value) -> Result<Option<Decimal>, ApiError> {
    let parsed = match v {
        Value::Null => return Ok(None),
        Value::Number(n) => n
            .to_string()
            .parse::<Decimal>()
            .ok()
            .or_else(|| n.as_f64().and_then(Decimal::from_f64_retain)),
        Value::String(s) => s.trim().parse::<Decimal>().ok(),
        _ => None,
    };
    match parsed {
        Some(d) if d >= Decimal::ZERO => Ok(Some(d)),
        _ => Err(bad(
            field,
            "a non-negative number (USD per million tokens)",
            v,
        )),
    }
}

fn percentiles(field: &str, v: &Value) -> Result<Option<Percentiles>, ApiError> {
    let num = |x: &Value, name: &str| -> Result<Option<f64>, ApiError> {
        match x {
            Value::Null => Ok(None),
            Value::Number(n) => n
                .as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(Some)
                .ok_or_else(|| bad(name, "a non-negative number", x)),
            _ => Err(bad(name, "a non-negative number", x)),
        }
    };
    match v {
        Value::Null => Ok(None),
        Value::Number(_) => Ok(Some(Percentiles {
            p50: num(v, field)?,
            ..Percentiles::default()
        })),
        Value::Object(o) => {
            let get = |k: &str| num(o.get(k).unwrap_or(&Value::Null), &format!("{field}.{k}"));
            Ok(Some(Percentiles {
                p50: get("p50")?,
                p75: get("p75")?,
                p90: get("p90")?,
                p99: get("p99")?,
            }))
        }
        _ => Err(bad(field, "a number or an object of percentiles", v)),
    }
}

fn sort_by(field: &str, v: &Value) -> Result<SortBy, ApiError> {
    match v.as_str() {
        Some("price") => Ok(SortBy::Price),
        Some("throughput") => Ok(SortBy::Throughput),
        Some("latency") => Ok(SortBy::Latency),
        _ => Err(bad(
            field,
            "one of \"price\", \"throughput\", \"latency\"",
            v,
        )),
    }
}

fn sort(v: &Value) -> Result<Option<Sort>, ApiError> {
    match v {
        Value::Null => Ok(None),
        Value::String(_) => Ok(Some(Sort {
            by: sort_by("sort", v)?,
            partition: Partition::Model,
        })),
        Value::Object(o) => {
            let by = sort_by("sort.by", o.get("by").unwrap_or(&Value::Null))?;
            let partition = match o.get("partition") {
                None | Some(Value::Null) => Partition::Model,
                Some(Value::String(s)) if s == "model" => Partition::Model,
                Some(Value::String(s)) if s == "none" => Partition::None,
                Some(other) => return Err(bad("sort.partition", "\"model\" or \"none\"", other)),
            };
            Ok(Some(Sort { by, partition }))
        }
        _ => Err(bad("sort", "a string or {by, partition}", v)),
    }
}

impl Preferences {
    /// Parses the `provider` member (absent or null: defaults). Unknown fields are ignored,
    /// as OpenRouter adds new ones often.
    pub fn parse(raw: Option<&serde_json::value::RawValue>) -> Result<Preferences, ApiError> {
        let mut prefs = Preferences::default();
        let Some(raw) = raw else {
            return Ok(prefs);
        };
        let value: Value = serde_json::from_str(raw.get())
            .map_err(|_| ApiError::invalid("`provider` must be an object"))?;
        let obj = match value {
            Value::Null => return Ok(prefs),
            Value::Object(o) => o,
            other => return Err(bad("", "an object", &other)),
        };
        for (key, v) in &obj {
            match key.as_str() {
                "order" => prefs.order = strings("order", v)?,
                "only" => prefs.only = strings("only", v)?,
                "ignore" => prefs.ignore = strings("ignore", v)?,
                "quantizations" => prefs.quantizations = strings("quantizations", v)?,
                "allow_fallbacks" => prefs.allow_fallbacks = flag(key, v)?.unwrap_or(true),
                "require_parameters" => prefs.require_parameters = flag(key, v)?.unwrap_or(false),
                "zdr" => prefs.zdr = flag(key, v)?.unwrap_or(false),
                "data_collection" => {
                    prefs.deny_data_collection = match v {
                        Value::Null => false,
                        Value::String(s) if s == "allow" => false,
                        Value::String(s) if s == "deny" => true,
                        _ => return Err(bad(key, "\"allow\" or \"deny\"", v)),
                    }
                }
                "sort" => prefs.sort = sort(v)?,
                "max_price" => {
                    let o = match v {
                        Value::Null => continue,
                        Value::Object(o) => o,
                        _ => return Err(bad(key, "an object", v)),
                    };
                    let get = |k: &str| {
                        price(&format!("max_price.{k}"), o.get(k).unwrap_or(&Value::Null))
                    };
                    prefs.max_price = MaxPrice {
                        prompt: get("prompt")?,
                        completion: get("completion")?,
                        request: get("request")?,
                    };
                }
                "preferred_min_throughput" => prefs.preferred_min_throughput = percentiles(key, v)?,
                "preferred_max_latency" => prefs.preferred_max_latency = percentiles(key, v)?,
                _ => {}
            }
        }
        Ok(prefs)
    }

    /// Explicit ordering turns load balancing (and stickiness) off.
    pub fn is_load_balanced(&self) -> bool {
        self.order.is_empty() && self.sort.is_none()
    }
}

/// Matches a provider reference from a request (`"deepinfra"`, `"DeepInfra"`,
/// `"deepinfra/turbo"`) against a configured provider, case-insensitively. A base slug also
/// matches its variants (`deepinfra` matches `deepinfra/turbo`).
pub fn provider_matches(reference: &str, slug: &str, name: &str) -> bool {
    let r = reference.trim();
    r.eq_ignore_ascii_case(slug)
        || r.eq_ignore_ascii_case(name)
        || slug
            .split_once('/')
            .is_some_and(|(base, _)| r.eq_ignore_ascii_case(base))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    fn parse(json: &str) -> Result<Preferences, ApiError> {
        let raw = RawValue::from_string(json.to_owned()).expect("raw");
        Preferences::parse(Some(&raw))
    }

    #[test]
    fn parses_every_field() {
        let p = parse(
            r#"{"order":["a","B"],"allow_fallbacks":false,"require_parameters":true,"data_collection":"deny","zdr":true,
                "only":["x"],"ignore":["y"],"quantizations":["fp8"],"sort":{"by":"throughput","partition":"none"},
                "max_price":{"prompt":1,"completion":"2.5","request":null},"preferred_min_throughput":50,
                "preferred_max_latency":{"p90":3},"enforce_distillable_text":true}"#,
        )
        .expect("valid");
        assert_eq!(p.order, vec!["a", "B"]);
        assert!(!p.allow_fallbacks && p.require_parameters && p.deny_data_collection && p.zdr);
        assert_eq!(
            p.sort,
            Some(Sort {
                by: SortBy::Throughput,
                partition: Partition::None
            })
        );
        assert_eq!(p.max_price.prompt, Some(Decimal::ONE));
        assert_eq!(p.max_price.completion, Some("2.5".parse().expect("d")));
        assert_eq!(
            p.preferred_min_throughput.as_ref().expect("t").p50,
            Some(50.0)
        );
        assert_eq!(p.preferred_max_latency.as_ref().expect("l").p90, Some(3.0));
        assert!(!p.is_load_balanced());
    }

    #[test]
    fn defaults_and_nulls() {
        let p = parse(r#"{"sort":null,"order":null,"allow_fallbacks":null}"#).expect("valid");
        assert_eq!(p, Preferences::default());
        assert!(p.is_load_balanced());
        assert_eq!(parse("null").expect("null"), Preferences::default());
        assert_eq!(
            parse(r#"{"sort":"price"}"#)
                .expect("s")
                .sort
                .map(|s| s.partition),
            Some(Partition::Model)
        );
    }

    #[test]
    fn bad_values_name_the_field() {
        for (json, field) in [
            (r#"{"order":"a"}"#, "provider.order"),
            (r#"{"sort":"fastest"}"#, "provider.sort"),
            (
                r#"{"sort":{"by":"price","partition":"all"}}"#,
                "provider.sort.partition",
            ),
            (
                r#"{"max_price":{"prompt":-1}}"#,
                "provider.max_price.prompt",
            ),
            (
                r#"{"max_price":{"completion":"cheap"}}"#,
                "provider.max_price.completion",
            ),
            (r#"{"data_collection":"maybe"}"#, "provider.data_collection"),
            (r#"{"allow_fallbacks":"no"}"#, "provider.allow_fallbacks"),
            (
                r#"{"preferred_max_latency":"fast"}"#,
                "provider.preferred_max_latency",
            ),
            (r#"[1]"#, "`provider"),
        ] {
            let msg = parse(json).expect_err(json).to_string();
            assert!(msg.contains(field), "{json}: {msg}");
        }
    }

    #[test]
    fn provider_references_match_slug_name_and_base_slug() {
        assert!(provider_matches("DeepInfra", "deepinfra", "DeepInfra"));
        assert!(provider_matches(
            "deepinfra",
            "deepinfra/turbo",
            "DeepInfra Turbo"
        ));
        assert!(provider_matches("OPENAI", "openai", "OpenAI"));
        assert!(!provider_matches("openai", "azure", "Azure"));
        assert!(!provider_matches(
            "deepinfra/turbo",
            "deepinfra",
            "DeepInfra"
        ));
    }
}
