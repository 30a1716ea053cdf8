//! Loader tests: a full valid file, every class of problem with its line and field, and many
//! problems in one file. `${VAR}` goes through a test-local lookup, never the process env.

use std::str::FromStr;
use std::time::Duration;

use rust_decimal::Decimal;
use secrecy::ExposeSecret;

use super::*;

mod status;
mod telemetry;

fn env(name: &str) -> Option<String> {
    match name {
        "TURNOUT_CFG_TEST_API_KEY" => Some("tk-static-1".to_owned()),
        "TURNOUT_CFG_TEST_OPENAI_KEY" => Some("sk-test-openai".to_owned()),
        "TURNOUT_CFG_TEST_BASE" => Some("https://api.example.test/v1".to_owned()),
        "TURNOUT_CFG_TEST_EMPTY" => Some(String::new()),
        _ => None,
    }
}

fn load(source: &str) -> Result<Config, ConfigErrors> {
    load_str_with_env(source, "t.toml", env)
}

/// `(line, field, message)` of every problem.
fn problems(source: &str) -> Vec<(Option<usize>, String, String)> {
    match load(source) {
        Ok(_) => Vec::new(),
        Err(errors) => errors
            .problems
            .into_iter()
            .map(|p| (p.line, p.field, p.message))
            .collect(),
    }
}

/// `(line, field)` of every problem.
fn located(source: &str) -> Vec<(Option<usize>, String)> {
    problems(source)
        .into_iter()
        .map(|(line, field, _)| (line, field))
        .collect()
}

/// The one problem of `source`, which must have exactly one.
fn only(source: &str) -> (Option<usize>, String, String) {
    let mut all = problems(source);
    assert_eq!(all.len(), 1, "expected one problem, got {all:#?}");
    all.remove(0)
}

/// A valid file to break: one provider (line 1–4), one model with one endpoint (line 6–12).
const BASE: &str = r#"[[providers]]
slug = "openai"
kind = "openai"
base_url = "https://api.openai.com/v1"

[[models]]
id = "openai/gpt-4o-mini"
  [[models.endpoints]]
  provider = "openai"
  upstream_model = "gpt-4o-mini"
  prompt_price = "0.00000015"
  completion_price = "0.0000006"
"#;

const FULL: &str = r#"
[server]
listen = "127.0.0.1:8080"
max_body_bytes = 10_485_760

[storage]
database_url = "sqlite://turnout.db"
# redis_url = "redis://127.0.0.1:6379"

[auth]
require_key = true
keys = ["${TURNOUT_CFG_TEST_API_KEY}"]

[[providers]]
slug = "openai"
name = "OpenAI"
kind = "openai"
base_url = "https://api.openai.com/v1"
api_key = "${TURNOUT_CFG_TEST_OPENAI_KEY}"
data_collection = "deny"
timeouts = { connect_ms = 5000, first_token_ms = 60000, idle_ms = 30000, total_ms = 600000 }

[[providers]]
slug = "azure-east"
kind = "azure"
base_url = "${TURNOUT_CFG_TEST_BASE}"
api_version = "2024-10-21"
headers = { "X-Title" = "Turnout $${literal}" }

[[providers]]
slug = "ollama"
kind = "openai"
base_url = "http://127.0.0.1:11434/v1"

[[models]]
id = "openai/gpt-4o-mini"
name = "OpenAI: GPT-4o mini"
context_length = 128000

  [[models.endpoints]]
  provider = "openai"
  upstream_model = "gpt-4o-mini"
  prompt_price = "0.00000015"             # USD per token, decimal strings
  completion_price = "0.0000006"
  max_completion_tokens = 16384

  [[models.endpoints]]
  provider = "azure-east"
  upstream_model = "gpt-4o-mini-deployment"
  prompt_price = "0.00000015"
  completion_price = "0.0000006"
  cache_read_price = "0.000000075"
  request_price = 0
  supported_parameters = ["tools", "response_format"]
  quantization = "fp8"
  zdr = true
  tier = "priority"
  timeouts = { first_token_ms = 20000 }

[[models]]
id = "ollama/*"
  [[models.endpoints]]
  provider = "ollama"
  prompt_price = "0"
  completion_price = 0.5

[routing]
retry = { initial_ms = 250, multiplier = 2.0, jitter = 0.2, max_ms = 4000, budget_ratio = 0.2 }
breaker = { failure_ratio = 0.5, min_requests = 10, window_s = 30, consecutive = 5, cooldown_s = 10, max_cooldown_s = 300 }

[status]
name = "Turnout status"
"#;

#[test]
fn full_file_loads() {
    let config = match load(FULL) {
        Ok(config) => config,
        Err(errors) => panic!("{errors}"),
    };
    assert_eq!(config.server.listen, "127.0.0.1:8080");
    assert_eq!(config.server.max_body_bytes, 10_485_760);
    assert_eq!(config.server.shutdown_grace_ms, 30_000);
    assert_eq!(config.storage.database_url, "sqlite://turnout.db");
    assert!(config.auth.require_key);
    let keys: Vec<&str> = config.auth.keys.iter().map(|k| k.expose_secret()).collect();
    assert_eq!(keys, ["tk-static-1"]);

    assert_eq!(config.providers.len(), 3);
    let openai = config
        .provider("openai")
        .map(|p| (p.display_name(), p.kind));
    assert_eq!(openai, Some(("OpenAI", ProviderKind::Openai)));
    let openai = &config.providers[0];
    assert_eq!(
        openai.api_key.as_ref().map(|k| k.expose_secret()),
        Some("sk-test-openai")
    );
    assert_eq!(openai.data_collection, DataCollection::Deny);
    assert_eq!(openai.timeouts.connect_ms, Some(5000));
    let azure = config.provider("azure-east");
    assert_eq!(azure.map(ProviderConfig::display_name), Some("azure-east"));
    assert_eq!(
        azure.map(|p| p.base_url.as_str()),
        Some("https://api.example.test/v1")
    );
    assert_eq!(
        azure
            .and_then(|p| p.headers.get("X-Title"))
            .map(|v| v.expose_secret()),
        Some("Turnout ${literal}")
    );
    assert!(config.provider("nope").is_none());

    assert_eq!(config.models.len(), 2);
    let mini = &config.models[0];
    assert_eq!(mini.context_length, Some(128_000));
    assert_eq!(mini.endpoints.len(), 2);
    let first = &mini.endpoints[0];
    assert_eq!(first.prompt_price.to_string(), "0.00000015");
    assert_eq!(
        first.prompt_price,
        Decimal::from_str("0.00000015").unwrap_or_default()
    );
    assert_eq!(first.completion_price.to_string(), "0.0000006");
    assert_eq!(first.effective_cache_read_price(), first.prompt_price);
    let second = &mini.endpoints[1];
    assert_eq!(
        second.effective_cache_read_price().to_string(),
        "0.000000075"
    );
    assert_eq!(second.request_price, Some(Decimal::ZERO));
    assert_eq!(second.tier, Some(Tier::Priority));
    assert!(second.zdr);
    assert_eq!(second.timeouts.first_token_ms, Some(20_000));

    let wildcard = &config.models[1];
    assert!(wildcard.is_wildcard());
    assert_eq!(wildcard.wildcard_prefix(), Some("ollama"));
    assert_eq!(wildcard.endpoints[0].completion_price.to_string(), "0.5");
    assert!(config.model("ollama/*").is_some());

    assert_eq!(config.routing.retry.max_ms, 4000);
    assert_eq!(config.routing.breaker.max_cooldown_s, 300);
    assert_eq!(config.status.name, "Turnout status");
}

#[test]
fn minimal_file_takes_defaults() {
    let config = match load(BASE) {
        Ok(config) => config,
        Err(errors) => panic!("{errors}"),
    };
    assert_eq!(config.server.listen, "127.0.0.1:8080");
    assert_eq!(config.storage.database_url, "sqlite://turnout.db");
    assert!(config.auth.require_key);
    assert_eq!(config.routing.retry.initial_ms, 250);
    assert_eq!(config.routing.breaker.failure_ratio, 0.5);
    assert!(config.status.enabled);
    assert_eq!(config.status.name, "Turnout");
}

#[test]
fn prices_accept_numbers_and_keep_strings_exact() {
    let source = BASE
        .replace(r#""0.00000015""#, "0.00000015")
        .replace(r#""0.0000006""#, "1");
    let config = load(&source).map_err(|e| e.to_string());
    let endpoint = config.as_ref().map(|c| &c.models[0].endpoints[0]);
    assert_eq!(
        endpoint.map(|e| e.prompt_price.to_string()),
        Ok("0.00000015".to_owned())
    );
    assert_eq!(endpoint.map(|e| e.completion_price), Ok(Decimal::ONE));

    let source = BASE.replace(r#""0.00000015""#, r#""0.000000000000000000000000123""#);
    let config = load(&source).map_err(|e| e.to_string());
    assert_eq!(
        config.map(|c| c.models[0].endpoints[0].prompt_price.to_string()),
        Ok("0.000000000000000000000000123".to_owned())
    );

    let (line, field, message) = only(&BASE.replace(r#""0.00000015""#, r#""cheap""#));
    assert_eq!(line, Some(11));
    assert_eq!(field, "models[0].endpoints[0].prompt_price");
    assert!(message.contains("decimal"), "{message}");
}

#[test]
fn wildcard_model_id_is_accepted() {
    let source = BASE.replace("openai/gpt-4o-mini", "openai/*");
    let config = load(&source).map_err(|e| e.to_string());
    assert_eq!(config.map(|c| c.models[0].is_wildcard()), Ok(true));
}

#[test]
fn timeouts_merge_and_resolve() {
    let endpoint = TimeoutsConfig {
        first_token_ms: Some(1_000),
        ..TimeoutsConfig::default()
    };
    let provider = TimeoutsConfig {
        connect_ms: Some(2_000),
        first_token_ms: Some(9_000),
        ..TimeoutsConfig::default()
    };
    let merged = endpoint.merged(provider);
    assert_eq!(
        merged,
        TimeoutsConfig {
            connect_ms: Some(2_000),
            first_token_ms: Some(1_000),
            idle_ms: None,
            total_ms: None,
        }
    );
    let resolved = merged.resolved();
    assert_eq!(resolved.connect, Duration::from_secs(2));
    assert_eq!(resolved.first_token, Duration::from_secs(1));
    assert_eq!(
        resolved.idle,
        Duration::from_millis(TimeoutsConfig::DEFAULT_IDLE_MS)
    );
    assert_eq!(resolved.total, Duration::from_secs(600));
    let defaults = ResolvedTimeouts::default();
    assert_eq!(defaults.connect, Duration::from_secs(5));
    assert_eq!(defaults.first_token, Duration::from_secs(60));
    assert_eq!(defaults.idle, Duration::from_secs(30));
    assert_eq!(defaults.total, Duration::from_secs(600));
}

// ---- many problems at once ---------------------------------------------------------------

#[test]
fn every_problem_is_reported_with_its_line() {
    let source = r#"[server]
listen = "127.0.0.1:8080"
lisen = "x"

[[providers]]
slug = "openai"
kind = "openai"
base_url = "https://api.openai.com/v1"
timeouts = { connect_ms = 1000, conect_ms = 5 }

[[models]]
id = "openai/gpt-4o-mini"
  [[models.endpoints]]
  provider = "opena"
  prompt_price = "0.1"
  completion_price = "0.2"
  max_tokens = 5
"#;
    let errors = match load(source) {
        Ok(_) => panic!("loaded a bad file"),
        Err(errors) => errors,
    };
    let found: Vec<(Option<usize>, Option<usize>, &str)> = errors
        .problems
        .iter()
        .map(|p| (p.line, p.column, p.field.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (Some(3), Some(1), "server.lisen"),
            (Some(9), Some(33), "providers[0].timeouts.conect_ms"),
            (Some(14), Some(14), "models[0].endpoints[0].provider"),
            (Some(17), Some(3), "models[0].endpoints[0].max_tokens"),
        ]
    );
    assert_eq!(
        errors.to_string(),
        "t.toml:3:1: server.lisen: unknown key `lisen`, expected one of `listen`, \
         `max_body_bytes`, `shutdown_grace_ms`\n\
         t.toml:9:33: providers[0].timeouts.conect_ms: unknown key `conect_ms`, expected one of \
         `connect_ms`, `first_token_ms`, `idle_ms`, `total_ms`\n\
         t.toml:14:14: models[0].endpoints[0].provider: unknown provider `opena` (defined: openai)\n\
         t.toml:17:3: models[0].endpoints[0].max_tokens: unknown key `max_tokens`, expected one \
         of `provider`, `upstream_model`, `prompt_price`, `completion_price`, `cache_read_price`, \
         `cache_write_price`, `request_price`, `max_completion_tokens`, `context_length`, \
         `supported_parameters`, `quantization`, `zdr`, `tier`, `timeouts`"
    );
}

#[test]
fn type_errors_missing_keys_and_semantics_together() {
    let source = r#"[server]
max_body_bytes = "big"

[[providers]]
slug = "a"
kind = "openai"

[[providers]]
slug = 7
kind = 2
base_url = "https://b.example/v1"
timeouts = 3

[[models]]
id = "nope"
  [[models.endpoints]]
  provider = "a"
  prompt_price = "-1"
  completion_price = "0"
  zdr = "yes"
"#;
    assert_eq!(
        located(source),
        [
            (Some(2), "server.max_body_bytes".to_owned()),
            (Some(4), "providers[0].base_url".to_owned()),
            (Some(9), "providers[1].slug".to_owned()),
            (Some(10), "providers[1].kind".to_owned()),
            (Some(12), "providers[1].timeouts".to_owned()),
            (Some(15), "models[0].id".to_owned()),
            (Some(18), "models[0].endpoints[0].prompt_price".to_owned()),
            (Some(20), "models[0].endpoints[0].zdr".to_owned()),
        ]
    );
}

// ---- one class of problem at a time ------------------------------------------------------

#[test]
fn unknown_keys_anywhere() {
    let cases: [(String, usize, &str); 6] = [
        (format!("bogus = 1\n{BASE}"), 1, "bogus"),
        (format!("{BASE}[auth]\nkey = []\n"), 14, "auth.key"),
        (
            BASE.replace("kind = \"openai\"", "kind = \"openai\"\nflavor = 1"),
            4,
            "providers[0].flavor",
        ),
        (
            format!("{BASE}  tiers = \"flex\"\n"),
            13,
            "models[0].endpoints[0].tiers",
        ),
        (
            format!("{BASE}[routing]\nretry = {{ initial_ms = 1, max = 2 }}\n"),
            14,
            "routing.retry.max",
        ),
        (
            format!("{BASE}[routing.breaker]\nratio = 0.5\n"),
            14,
            "routing.breaker.ratio",
        ),
    ];
    for (source, line, field) in cases {
        let (got_line, got_field, message) = only(&source);
        assert_eq!(
            (got_line, got_field.as_str()),
            (Some(line), field),
            "{source}"
        );
        assert!(message.starts_with("unknown key `"), "{message}");
    }
}

#[test]
fn wrong_types() {
    let (line, field, message) = only(&format!("{BASE}[server]\nmax_body_bytes = \"big\"\n"));
    assert_eq!((line, field.as_str()), (Some(14), "server.max_body_bytes"));
    assert_eq!(
        message,
        "wrong type: found string \"big\", expected a non-negative integer"
    );

    let (line, field, message) = only(&BASE.replace("slug = \"openai\"", "slug = [\"openai\"]"));
    assert_eq!((line, field.as_str()), (Some(2), "providers[0].slug"));
    assert!(
        message.starts_with("wrong type: found sequence"),
        "{message}"
    );

    let (line, field, _) = only(&format!("{BASE}  zdr = 1\n"));
    assert_eq!(
        (line, field.as_str()),
        (Some(13), "models[0].endpoints[0].zdr")
    );

    let (line, field, message) = only(&format!("{BASE}  tier = \"fast\"\n"));
    assert_eq!(
        (line, field.as_str()),
        (Some(13), "models[0].endpoints[0].tier")
    );
    assert_eq!(
        message,
        "unknown value `fast`, expected one of `standard`, `priority`, `flex`"
    );

    let (line, field, _) = only(&format!("{BASE}[auth]\nkeys = [\"a\", 2]\n"));
    assert_eq!((line, field.as_str()), (Some(14), "auth.keys[1]"));

    // A table where a struct is expected, and an array of tables where a table is expected.
    let (line, field, message) = only(&format!("{BASE}[[server]]\nlisten = \"127.0.0.1:1\"\n"));
    assert_eq!((line, field.as_str()), (Some(13), "server"));
    assert_eq!(message, "wrong type: found sequence, expected a table");
    // Nor are a struct's fields given in order.
    let (line, field, _) =
        only(&BASE.replace("kind = \"openai\"", "kind = \"openai\"\ntimeouts = [1, 2]"));
    assert_eq!((line, field.as_str()), (Some(4), "providers[0].timeouts"));
    let (line, field, message) = only(&format!(
        "providers = {{}}\n{}",
        &BASE[BASE.find("[[models]]").unwrap_or(0)..]
    ));
    assert_eq!((line, field.as_str()), (Some(1), "providers"));
    assert!(message.ends_with("expected an array"), "{message}");
}

#[test]
fn missing_required_keys() {
    let (line, field, message) =
        only(&BASE.replace("base_url = \"https://api.openai.com/v1\"\n", ""));
    assert_eq!((line, field.as_str()), (Some(1), "providers[0].base_url"));
    assert_eq!(message, "required key is missing");

    let (line, field, _) = only(&BASE.replace("  completion_price = \"0.0000006\"\n", ""));
    assert_eq!(
        (line, field.as_str()),
        (Some(8), "models[0].endpoints[0].completion_price")
    );

    // An inline table points at its own line.
    let source = BASE.replace(
        "[[providers]]\nslug = \"openai\"\nkind = \"openai\"\nbase_url = \"https://api.openai.com/v1\"\n",
        "providers = [\n  { slug = \"openai\", kind = \"openai\", base_url = \"https://x.test\" },\n  { slug = \"b\" },\n]\n",
    );
    assert_eq!(
        located(&source),
        [
            (Some(3), "providers[1].kind".to_owned()),
            (Some(3), "providers[1].base_url".to_owned()),
        ]
    );

    // Top-level keys have no line to point at.
    assert_eq!(
        located("[server]\nlisten = \"127.0.0.1:1\"\n"),
        [(None, "providers".to_owned()), (None, "models".to_owned())]
    );
    assert_eq!(
        load("").map(|_| ()).map_err(|e| e.to_string()),
        Err(
            "t.toml: providers: required key is missing\nt.toml: models: required key is missing"
                .to_owned()
        )
    );
}

#[test]
fn syntax_errors_stop_with_a_line() {
    let all = problems("[[providers]]\nslug = \"a\nkind = \"openai\"\n");
    assert!(!all.is_empty());
    assert_eq!(all[0].0, Some(2), "{all:?}");
    assert_eq!(all[0].1, "");

    let all = problems(&format!("{BASE}\n[server]\nlisten = \n"));
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].0, Some(15));

    // A key defined twice is a TOML error too.
    let all = problems(&BASE.replace("kind = \"openai\"", "kind = \"openai\"\nslug = \"x\""));
    assert_eq!(all.first().map(|p| p.0), Some(Some(4)), "{all:?}");
}

#[test]
fn unset_environment_variables() {
    let source = BASE.replace(
        "base_url = \"https://api.openai.com/v1\"",
        "base_url = \"${TURNOUT_CFG_TEST_UNSET_BASE}\"\napi_key = \"Bearer ${TURNOUT_CFG_TEST_UNSET_KEY}\"\nheaders = { X-Org = \"${9bad}\" }",
    );
    let all = problems(&source);
    assert_eq!(
        all,
        [
            (
                Some(4),
                "providers[0].base_url".to_owned(),
                "environment variable `TURNOUT_CFG_TEST_UNSET_BASE` is not set".to_owned()
            ),
            (
                Some(5),
                "providers[0].api_key".to_owned(),
                "environment variable `TURNOUT_CFG_TEST_UNSET_KEY` is not set".to_owned()
            ),
            (
                Some(6),
                "providers[0].headers.X-Org".to_owned(),
                "`${9bad}` is not a valid variable reference (names are letters, digits and `_`; \
                 write `$${` for a literal `${`)"
                    .to_owned()
            ),
        ]
    );

    let (line, field, message) = only(&format!(
        "{BASE}[storage]\ndatabase_url = \"postgres://u:${{TURNOUT_CFG_TEST_NO_PW}}@db/turnout\"\n"
    ));
    assert_eq!((line, field.as_str()), (Some(14), "storage.database_url"));
    assert!(message.contains("TURNOUT_CFG_TEST_NO_PW"), "{message}");
}

#[test]
fn secrets_from_the_environment_stay_out_of_messages() {
    let source = BASE.replace(
        "kind = \"openai\"",
        "kind = \"openai\"\ntimeouts = { connect_ms = \"${TURNOUT_CFG_TEST_OPENAI_KEY}\" }",
    );
    let (line, field, message) = only(&source);
    assert_eq!(
        (line, field.as_str()),
        (Some(4), "providers[0].timeouts.connect_ms")
    );
    assert!(!message.contains("sk-test-openai"), "{message}");
    assert!(
        message.contains("${TURNOUT_CFG_TEST_OPENAI_KEY}"),
        "{message}"
    );

    let source = BASE.replace(
        "\"https://api.openai.com/v1\"",
        "\"${TURNOUT_CFG_TEST_OPENAI_KEY}\"",
    );
    let (_, field, message) = only(&source);
    assert_eq!(field, "providers[0].base_url");
    assert!(!message.contains("sk-test-openai"), "{message}");

    let (_, field, message) = only(&format!(
        "{BASE}[auth]\nkeys = [\"${{TURNOUT_CFG_TEST_EMPTY}}\"]\n"
    ));
    assert_eq!(field, "auth.keys[0]");
    assert_eq!(message, "a static key must not be empty");
}

#[test]
fn unknown_and_duplicate_providers() {
    let (line, field, message) =
        only(&BASE.replace("provider = \"openai\"", "provider = \"opneai\""));
    assert_eq!(
        (line, field.as_str()),
        (Some(9), "models[0].endpoints[0].provider")
    );
    assert_eq!(message, "unknown provider `opneai` (defined: openai)");

    let source = format!(
        "{BASE}\n[[providers]]\nslug = \"openai\"\nkind = \"anthropic\"\nbase_url = \"https://api.anthropic.com/v1\"\n"
    );
    let (line, field, message) = only(&source);
    assert_eq!((line, field.as_str()), (Some(15), "providers[1].slug"));
    assert_eq!(
        message,
        "duplicate provider slug `openai` (first defined at line 2)"
    );
}

#[test]
fn duplicate_models_and_missing_endpoints() {
    let source = format!("{BASE}\n[[models]]\nid = \"openai/gpt-4o-mini\"\nendpoints = []\n");
    assert_eq!(
        problems(&source),
        [
            (
                Some(15),
                "models[1].id".to_owned(),
                "duplicate model id `openai/gpt-4o-mini` (first defined at line 7)".to_owned()
            ),
            (
                Some(16),
                "models[1].endpoints".to_owned(),
                "a model needs at least one endpoint".to_owned()
            ),
        ]
    );
    // No `endpoints` at all is a missing key.
    let (line, field, _) = only(&format!("{BASE}\n[[models]]\nid = \"openai/gpt-4o\"\n"));
    assert_eq!((line, field.as_str()), (Some(14), "models[1].endpoints"));
}

#[test]
fn invalid_model_ids() {
    for id in [
        "gpt-4o-mini",
        "openai/",
        "/gpt",
        "a/b/c",
        "openai/gpt-*",
        "*",
    ] {
        let (line, field, message) = only(&BASE.replace("openai/gpt-4o-mini", id));
        assert_eq!((line, field.as_str()), (Some(7), "models[0].id"), "{id}");
        assert!(
            message.starts_with(&format!("invalid model id `{id}`")),
            "{message}"
        );
    }
}

#[test]
fn bad_base_urls() {
    for (url, expect) in [
        ("api.openai.com/v1", "is not a valid URL"),
        (
            "ftp://files.example/v1",
            "must be an http:// or https:// URL",
        ),
        ("http://", "is not a valid URL"),
    ] {
        let (line, field, message) = only(&BASE.replace("https://api.openai.com/v1", url));
        assert_eq!(
            (line, field.as_str()),
            (Some(4), "providers[0].base_url"),
            "{url}"
        );
        assert!(message.contains(expect), "{url}: {message}");
    }
}

#[test]
fn bad_listen_and_storage() {
    let (line, field, message) = only(&format!("{BASE}[server]\nlisten = \"localhost:80\"\n"));
    assert_eq!((line, field.as_str()), (Some(14), "server.listen"));
    assert!(message.contains("not a socket address"), "{message}");

    let source = format!(
        "{BASE}[storage]\ndatabase_url = \"mysql://u:secret@h/db\"\nredis_url = \"http://127.0.0.1\"\n"
    );
    let all = problems(&source);
    assert_eq!(
        all.iter().map(|p| (p.0, p.1.as_str())).collect::<Vec<_>>(),
        [
            (Some(14), "storage.database_url"),
            (Some(15), "storage.redis_url")
        ]
    );
    assert!(all.iter().all(|p| !p.2.contains("secret")), "{all:?}");

    let ok = format!(
        "{BASE}[storage]\ndatabase_url = \"postgres://u:pw@db:5432/turnout\"\nredis_url = \"redis://127.0.0.1:6379\"\n"
    );
    assert!(load(&ok).is_ok());
}

#[test]
fn negative_prices() {
    let fields = [
        "prompt_price",
        "completion_price",
        "cache_read_price",
        "cache_write_price",
        "request_price",
    ];
    let mut source = BASE
        .replace("  prompt_price = \"0.00000015\"\n", "")
        .replace("  completion_price = \"0.0000006\"\n", "");
    for (i, name) in fields.iter().enumerate() {
        // Strings, integers and floats alike.
        let value = ["\"-0.000001\"", "-1", "-0.5", "\"-2\"", "-3"][i];
        source.push_str(&format!("  {name} = {value}\n"));
    }
    let all = problems(&source);
    assert_eq!(all.len(), 5, "{all:#?}");
    for (i, (line, field, message)) in all.iter().enumerate() {
        assert_eq!(*line, Some(11 + i));
        assert_eq!(field, &format!("models[0].endpoints[0].{}", fields[i]));
        assert!(message.starts_with("must not be negative"), "{message}");
    }
    // Zero is a price.
    let free = BASE
        .replace("\"0.00000015\"", "\"-0\"")
        .replace("\"0.0000006\"", "0");
    assert!(load(&free).is_ok());
}

#[test]
fn zero_timeouts() {
    let source = BASE
        .replace(
            "kind = \"openai\"",
            "kind = \"openai\"\ntimeouts = { connect_ms = 0, total_ms = 10 }",
        )
        .replace(
            "  provider = \"openai\"",
            "  provider = \"openai\"\n  timeouts.idle_ms = 0",
        );
    assert_eq!(
        problems(&source),
        [
            (
                Some(4),
                "providers[0].timeouts.connect_ms".to_owned(),
                "must be greater than 0".to_owned()
            ),
            (
                Some(11),
                "models[0].endpoints[0].timeouts.idle_ms".to_owned(),
                "must be greater than 0".to_owned()
            ),
        ]
    );
}

#[test]
fn azure_needs_api_version() {
    let (line, field, message) = only(&BASE.replace("kind = \"openai\"", "kind = \"azure\""));
    assert_eq!(
        (line, field.as_str()),
        (Some(1), "providers[0].api_version")
    );
    assert!(
        message.starts_with("required when kind = \"azure\""),
        "{message}"
    );
    let fixed = BASE.replace(
        "kind = \"openai\"",
        "kind = \"azure\"\napi_version = \"2024-10-21\"",
    );
    assert!(load(&fixed).is_ok());
}

#[test]
fn azure_v1_needs_no_api_version_and_other_kinds_refuse_it() {
    let v1 = BASE
        .replace("kind = \"openai\"", "kind = \"azure\"")
        .replace(
            "https://api.openai.com/v1",
            "https://res.openai.azure.com/openai/v1/",
        );
    assert!(load(&v1).is_ok(), "{:?}", problems(&v1));
    let stray = BASE.replace(
        "kind = \"openai\"",
        "kind = \"openai\"\napi_version = \"x\"",
    );
    let (line, field, message) = only(&stray);
    assert_eq!(
        (line, field.as_str(), message.as_str()),
        (
            Some(4),
            "providers[0].api_version",
            "only read when kind = \"azure\""
        )
    );
}

#[test]
fn openrouter_app_headers_belong_to_openrouter() {
    let headers = "http_referer = \"https://app.example\"\nx_title = \"My App\"";
    let openrouter = BASE.replace(
        "kind = \"openai\"",
        &format!("kind = \"openrouter\"\n{headers}"),
    );
    let config = load(&openrouter).expect("valid");
    assert_eq!(
        config.providers[0].x_title.as_deref(),
        Some("My App"),
        "read"
    );
    let elsewhere = BASE.replace(
        "kind = \"openai\"",
        &format!("kind = \"openai\"\n{headers}"),
    );
    assert_eq!(
        located(&elsewhere),
        [
            (Some(4), "providers[0].http_referer".to_owned()),
            (Some(5), "providers[0].x_title".to_owned())
        ]
    );
    assert!(
        problems(&elsewhere)
            .iter()
            .all(|(_, _, m)| m == "only sent when kind = \"openrouter\"")
    );
}

#[test]
fn supported_parameters_must_be_known_names() {
    let source = BASE.replace(
        "  completion_price = \"0.0000006\"\n",
        "  completion_price = \"0.0000006\"\n  supported_parameters = [\"tools\", \"max_completion_tokens\",\n    \"tool\"]\n",
    );
    let (line, field, message) = only(&source);
    assert_eq!(
        (line, field.as_str()),
        (Some(14), "models[0].endpoints[0].supported_parameters[2]")
    );
    assert!(
        message.starts_with("unknown parameter `tool` (known: tools, tool_choice"),
        "{message}"
    );
}

#[test]
fn retry_and_breaker_ranges() {
    let source = format!(
        "{BASE}[routing]\n\
         retry = {{ multiplier = 0.5, jitter = 1.5, budget_ratio = -0.1 }}\n\
         breaker = {{ failure_ratio = 0.0 }}\n\
         [routing.retry.x]\n"
    );
    // `[routing.retry.x]` reopens an inline table: a TOML error, reported alone.
    assert_eq!(problems(&source).len(), 1);

    let source = format!(
        "{BASE}[routing.retry]\nmultiplier = 0.5\njitter = 1.5\nbudget_ratio = -0.1\n\
         initial_ms = 500\nmax_ms = 100\n\
         [routing.breaker]\nfailure_ratio = 0.0\nmin_requests = 0\nwindow_s = 0\n\
         consecutive = 0\ncooldown_s = 20\nmax_cooldown_s = 10\n"
    );
    assert_eq!(
        located(&source),
        [
            (Some(14), "routing.retry.multiplier".to_owned()),
            (Some(15), "routing.retry.jitter".to_owned()),
            (Some(16), "routing.retry.budget_ratio".to_owned()),
            (Some(18), "routing.retry.max_ms".to_owned()),
            (Some(20), "routing.breaker.failure_ratio".to_owned()),
            (Some(21), "routing.breaker.min_requests".to_owned()),
            (Some(22), "routing.breaker.window_s".to_owned()),
            (Some(23), "routing.breaker.consecutive".to_owned()),
            (Some(25), "routing.breaker.max_cooldown_s".to_owned()),
        ]
    );
    let edges = format!(
        "{BASE}[routing]\nretry = {{ multiplier = 1, jitter = 0, budget_ratio = 1 }}\n\
         breaker = {{ failure_ratio = 1 }}\n"
    );
    assert!(load(&edges).is_ok());
    let (line, field, _) = only(&format!(
        "{BASE}[routing]\nbreaker = {{ failure_ratio = 1.01 }}\n"
    ));
    assert_eq!(
        (line, field.as_str()),
        (Some(14), "routing.breaker.failure_ratio")
    );
}

#[test]
fn placeholders_do_not_cause_second_complaints() {
    // A provider whose slug is wrong: the endpoint naming it is not also "unknown".
    let source = BASE.replace("slug = \"openai\"", "slug = 1");
    assert_eq!(
        located(&source),
        [(Some(2), "providers[0].slug".to_owned())]
    );
    // A provider that is not a table at all.
    let source = format!(
        "providers = [\"openai\"]\n{}",
        &BASE[BASE.find("[[models]]").unwrap_or(0)..]
    );
    assert_eq!(located(&source), [(Some(1), "providers[0]".to_owned())]);
    // … and the rest of the file is still checked.
    let source = source.replace("id = \"openai/gpt-4o-mini\"", "id = \"gpt\"");
    assert_eq!(
        located(&source),
        [
            (Some(1), "providers[0]".to_owned()),
            (Some(3), "models[0].id".to_owned())
        ]
    );
    // A wrong-typed URL is not also "not a URL".
    let source = BASE.replace("\"https://api.openai.com/v1\"", "42");
    assert_eq!(
        located(&source),
        [(Some(4), "providers[0].base_url".to_owned())]
    );
}

#[test]
fn load_file_reads_and_names_the_file() {
    let missing = std::env::temp_dir().join("turnout-config-test-does-not-exist.toml");
    let errors = load_file(&missing).map(|_| ()).map_err(|e| e.problems);
    let Err(problems) = errors else {
        panic!("loaded a missing file")
    };
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].file, missing.display().to_string());
    assert!(problems[0].message.starts_with("cannot read"));

    let path =
        std::env::temp_dir().join(format!("turnout-config-test-{}.toml", std::process::id()));
    let written = std::fs::write(&path, BASE.replace("kind = \"openai\"", "kind = 1"));
    assert!(written.is_ok());
    let result = load_file(&path).map(|_| ()).map_err(|e| e.to_string());
    let _ = std::fs::remove_file(&path);
    assert_eq!(
        result,
        Err(format!(
            "{}:3:8: providers[0].kind: wrong type: expected a string",
            path.display()
        ))
    );
}

#[test]
fn many_elements_with_problems_are_all_reported() {
    let mut source = BASE.to_owned();
    for i in 0..200 {
        // Each model takes 7 lines; its `zdr` is its last.
        source.push_str(&format!(
            "[[models]]\nid = \"openai/m{i}\"\n  [[models.endpoints]]\n  provider = \"openai\"\n  \
             prompt_price = \"0.1\"\n  completion_price = \"0.2\"\n  zdr = \"yes\"\n"
        ));
    }
    let all = located(&source);
    assert_eq!(all.len(), 200);
    for (i, (line, field)) in all.iter().enumerate() {
        assert_eq!(*line, Some(12 + 7 * (i + 1)));
        assert_eq!(field, &format!("models[{}].endpoints[0].zdr", i + 1));
    }
}
