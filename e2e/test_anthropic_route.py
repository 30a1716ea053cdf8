"""The official OpenAI SDK, unchanged, holding a tool-call conversation with a model whose only
endpoint speaks Anthropic's Messages dialect (`demo/claude` → the demo's Anthropic mock):
Turnout translates the request, the tool call, the tool result and the stream both ways."""

from __future__ import annotations

import json

import openai

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def _client(api_base: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=api_base, api_key="sk-or-v1-e2e-any", max_retries=0, timeout=30.0)


def test_tool_call_round_trip(api_base: str) -> None:
    client = _client(api_base)
    messages = [{"role": "user", "content": "What's the weather in Paris?"}]
    first = client.chat.completions.create(model="demo/claude", messages=messages, tools=TOOLS)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls", first
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert isinstance(json.loads(call.function.arguments), dict)
    assert first.model == "demo/claude"
    assert first.usage is not None and first.usage.total_tokens > 0

    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "18 °C, sunny"})
    second = client.chat.completions.create(model="demo/claude", messages=messages, tools=TOOLS)
    assert second.choices[0].finish_reason == "stop"
    assert "18 °C, sunny" in (second.choices[0].message.content or "")


def test_streaming_through_the_anthropic_dialect(api_base: str) -> None:
    client = _client(api_base)
    stream = client.chat.completions.create(
        model="demo/claude",
        messages=[{"role": "user", "content": "Say hello"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finish, usage = "", None, None
    for chunk in stream:
        for c in chunk.choices:
            text += c.delta.content or ""
            finish = c.finish_reason or finish
        usage = chunk.usage or usage
    assert text.strip()
    assert finish == "stop"
    assert usage is not None and usage.completion_tokens > 0
