//! `serve --demo`: three in-process mock providers (fast, flaky, slow; the fast one also speaks
//! Anthropic's and Gemini's dialects and plays Azure OpenAI and OpenRouter) and a catalog over
//! them, so a new user can curl a working gateway seconds after building, with no file and no
//! network.

use std::net::SocketAddr;

use anyhow::Context;
use turnout_config::Config;
use turnout_mock::{MockConfig, MockServer};

pub struct DemoMocks {
    _servers: Vec<MockServer>,
}

pub async fn start() -> anyhow::Result<(Config, DemoMocks)> {
    let fast = MockServer::start(MockConfig {
        name: "mock-fast".into(),
        latency_ms: 20,
        chunks: 12,
        chunk_delay_ms: 15,
        ..MockConfig::default()
    })
    .await
    .context("starting the fast mock provider")?;
    let flaky = MockServer::start(MockConfig {
        name: "mock-flaky".into(),
        latency_ms: 40,
        chunks: 12,
        chunk_delay_ms: 20,
        fail_rate: 0.3,
        ..MockConfig::default()
    })
    .await
    .context("starting the flaky mock provider")?;
    let slow = MockServer::start(MockConfig {
        name: "mock-slow".into(),
        latency_ms: 1500,
        chunks: 12,
        chunk_delay_ms: 120,
        ..MockConfig::default()
    })
    .await
    .context("starting the slow mock provider")?;
    let toml = demo_toml(
        &fast.base_url(),
        &flaky.base_url(),
        &slow.base_url(),
        &fast.gemini_base_url(),
        &fast.azure_base_url(),
    );
    let config = turnout_config::load_str(&toml, "<demo>").map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((
        config,
        DemoMocks {
            _servers: vec![fast, flaky, slow],
        },
    ))
}

fn demo_toml(fast: &str, flaky: &str, slow: &str, fast_gemini: &str, fast_root: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:8080"

[auth]
require_key = false

[[providers]]
slug = "fast"
name = "Fast Mock"
kind = "openai"
base_url = "{fast}"

[[providers]]
slug = "flaky"
name = "Flaky Mock"
kind = "openai"
base_url = "{flaky}"

[[providers]]
slug = "slow"
name = "Slow Mock"
kind = "openai"
base_url = "{slow}"

# The fast mock again, spoken to in Anthropic's Messages dialect: requests and streams are
# translated both ways.
[[providers]]
slug = "anthropic-mock"
name = "Anthropic Mock"
kind = "anthropic"
base_url = "{fast}"
api_key = "demo"

# The fast mock in Google's Gemini dialect (generateContent): tool calls, thought signatures
# and usage are translated both ways.
[[providers]]
slug = "gemini-mock"
name = "Gemini Mock"
kind = "gemini"
base_url = "{fast_gemini}"
api_key = "demo"

# The fast mock as an Azure OpenAI resource: the deployment goes in the URL with an
# api-version, the key as `api-key`, and streams open with Azure's prompt-filter chunk.
[[providers]]
slug = "azure-mock"
name = "Azure Mock"
kind = "azure"
base_url = "{fast_root}"
api_version = "2024-10-21"
api_key = "demo"

# The fast mock as OpenRouter: a request's `provider` preferences go up as sent, and the
# answer names the provider OpenRouter picked and what it charged (usage.cost_details).
[[providers]]
slug = "openrouter-mock"
name = "OpenRouter Mock"
kind = "openrouter"
base_url = "{fast_root}/api/v1"
api_key = "demo"
x_title = "Turnout demo"

# Served by the flaky provider first (it is cheaper); when it fails, Turnout falls over to the
# fast one before the client sees anything.
[[models]]
id = "demo/chat"
name = "Demo: Chat (flaky, then fast)"
context_length = 32768
  [[models.endpoints]]
  provider = "flaky"
  upstream_model = "mock-chat"
  prompt_price = "0.0000001"
  completion_price = "0.0000004"
  max_completion_tokens = 4096
  [[models.endpoints]]
  provider = "fast"
  upstream_model = "mock-chat"
  prompt_price = "0.00000015"
  completion_price = "0.0000006"
  max_completion_tokens = 4096

[[models]]
id = "demo/fast"
name = "Demo: Fast"
context_length = 32768
  [[models.endpoints]]
  provider = "fast"
  upstream_model = "mock-fast"
  prompt_price = "0.00000015"
  completion_price = "0.0000006"
  max_completion_tokens = 4096

# Takes 1.5 s to its first token: streams show ": OPENROUTER PROCESSING" while waiting.
[[models]]
id = "demo/slow"
name = "Demo: Slow"
context_length = 32768
  [[models.endpoints]]
  provider = "slow"
  upstream_model = "mock-slow"
  prompt_price = "0.000001"
  completion_price = "0.000002"
  max_completion_tokens = 4096

[[models]]
id = "demo/claude"
name = "Demo: Claude-style (Anthropic dialect)"
context_length = 200000
  [[models.endpoints]]
  provider = "anthropic-mock"
  upstream_model = "claude-mock"
  prompt_price = "0.000003"
  completion_price = "0.000015"
  max_completion_tokens = 8192

[[models]]
id = "demo/gemini"
name = "Demo: Gemini-style (Gemini dialect)"
context_length = 1048576
  [[models.endpoints]]
  provider = "gemini-mock"
  upstream_model = "gemini-mock"
  prompt_price = "0.0000003"
  completion_price = "0.0000025"
  max_completion_tokens = 8192

[[models]]
id = "demo/azure"
name = "Demo: Azure OpenAI deployment"
context_length = 128000
  [[models.endpoints]]
  provider = "azure-mock"
  upstream_model = "gpt-4o-mini-demo"
  prompt_price = "0.00000015"
  completion_price = "0.0000006"
  max_completion_tokens = 16384

[[models]]
id = "demo/openrouter"
name = "Demo: through OpenRouter"
context_length = 128000
  [[models.endpoints]]
  provider = "openrouter-mock"
  upstream_model = "openai/gpt-4o-mini"
  prompt_price = "0.00000015"
  completion_price = "0.0000006"
  max_completion_tokens = 16384

# Any "mock/<name>" goes to the fast provider as upstream model "<name>".
[[models]]
id = "mock/*"
  [[models.endpoints]]
  provider = "fast"
  prompt_price = "0"
  completion_price = "0"
"#
    )
}

#[allow(clippy::print_stdout)]
pub fn print_hint(addr: SocketAddr) {
    println!(
        "\nTurnout demo is up (mock providers, no network). Try:\n\n  \
         curl -s http://{addr}/api/v1/chat/completions -d '{{\"model\":\"demo/chat\",\"messages\":[{{\"role\":\"user\",\"content\":\"Hello\"}}]}}'\n  \
         curl -sN http://{addr}/api/v1/chat/completions -d '{{\"model\":\"demo/slow\",\"stream\":true,\"messages\":[{{\"role\":\"user\",\"content\":\"Hello\"}}]}}'\n  \
         curl -s http://{addr}/api/v1/models\n"
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_demo_catalog_is_a_valid_config() {
        let toml = super::demo_toml(
            "http://127.0.0.1:1/v1",
            "http://127.0.0.1:2/v1",
            "http://127.0.0.1:3/v1",
            "http://127.0.0.1:1/v1beta",
            "http://127.0.0.1:1",
        );
        let config = turnout_config::load_str(&toml, "<demo>").expect("valid demo config");
        assert_eq!(config.models.len(), 8);
        assert_eq!(config.providers.len(), 7);
        // The demo's catalog must build: every provider kind it uses is supported.
        turnout_gateway::routing::catalog::Catalog::build(&config).expect("demo catalog");
    }
}
