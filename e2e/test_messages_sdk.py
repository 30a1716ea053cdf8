"""The official `anthropic` Python SDK, unchanged, against Turnout's Messages endpoint.

Give the SDK the gateway's `/api` as its base URL: it appends `/v1/messages`, so requests land
on `/api/v1/messages` (the bare host works too, through the `/v1` alias). `demo/chat` is served
by OpenAI-compatible mocks (translated both ways), `demo/claude` by the Anthropic mock (the
body and the event stream passed through, but for `model`)."""

from __future__ import annotations

import anthropic
import pytest

TOOLS = [
    {
        "name": "get_weather",
        "description": "Current weather for a city",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    }
]


@pytest.fixture(scope="module")
def client(gateway: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=f"{gateway}/api", api_key="sk-ant-e2e-any", max_retries=0, timeout=30.0
    )


@pytest.mark.parametrize("model", ["demo/chat", "demo/claude"])
def test_create(client: anthropic.Anthropic, model: str) -> None:
    message = client.messages.create(
        model=model,
        max_tokens=256,
        system="Be brief.",
        messages=[{"role": "user", "content": "Say hello"}],
    )
    assert message.type == "message" and message.role == "assistant"
    assert message.model == model
    assert message.stop_reason == "end_turn"
    assert message.content[0].type == "text" and message.content[0].text.strip()
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


@pytest.mark.parametrize("model", ["demo/chat", "demo/claude"])
def test_stream(client: anthropic.Anthropic, model: str) -> None:
    with client.messages.stream(
        model=model,
        max_tokens=256,
        messages=[{"role": "user", "content": "Say hello"}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text.strip()
    assert final.content[0].text == text
    assert final.model == model
    assert final.stop_reason == "end_turn"
    assert final.usage.input_tokens > 0 and final.usage.output_tokens > 0


def test_tool_use_round_trip(client: anthropic.Anthropic) -> None:
    messages: list[dict] = [{"role": "user", "content": "What's the weather in Paris?"}]
    with client.messages.stream(
        model="demo/claude", max_tokens=512, tools=TOOLS, messages=messages
    ) as stream:
        first = stream.get_final_message()
    assert first.stop_reason == "tool_use", first
    call = next(b for b in first.content if b.type == "tool_use")
    assert call.name == "get_weather"
    assert call.input == {"city": "mock"}

    messages.append({"role": "assistant", "content": first.content})
    messages.append(
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18 °C, sunny"}],
        }
    )
    second = client.messages.create(
        model="demo/claude", max_tokens=512, tools=TOOLS, messages=messages
    )
    assert second.stop_reason == "end_turn"
    assert "18 °C, sunny" in second.content[0].text


def test_errors_are_the_sdks_exceptions(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as e:
        client.messages.create(
            model="nobody/none", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
        )
    assert e.value.body["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.BadRequestError) as e:
        client.messages.create(model="demo/chat", max_tokens=16, messages=[])
    assert e.value.body["error"]["type"] == "invalid_request_error"
