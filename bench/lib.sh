# Shared by the small bench scripts (callgrind.sh, open-streams.sh); source it.

# gateway_head GATEWAY_PORT MOCK_PORT  -> the start of a gateway config on stdout: server, no
# keys, and the OpenAI-compatible mock as provider "mock".
gateway_head() {
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
CONF
}

# one_mock_config GATEWAY_PORT MOCK_PORT MODEL_ID  -> a whole gateway config: the head and one
# model on the mock, with the bench's prices.
one_mock_config() {
    gateway_head "$1" "$2"
    cat <<CONF

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
