# Shared by the small bench scripts (callgrind.sh, open-streams.sh); source it.

# one_mock_config GATEWAY_PORT MOCK_PORT MODEL_ID  -> a gateway config on stdout: one
# OpenAI-compatible mock provider and one model on it, with the bench's prices, no keys.
one_mock_config() {
    cat <<CONF
[server]
listen = "127.0.0.1:$1"
shutdown_grace_ms = 1000

[auth]
require_key = false

[[providers]]
slug = "mock"
name = "Bench Mock"
kind = "openai"
base_url = "http://127.0.0.1:$2/v1"

[[models]]
id = "$3"
name = "Bench: $3"
  [[models.endpoints]]
  provider = "mock"
  upstream_model = "mock-model"
  prompt_price = "0.00000015"
  completion_price = "0.0000006"
CONF
}
