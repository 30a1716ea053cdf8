"""The official OpenAI SDK, unchanged, holding a tool-call conversation with a model whose only
endpoint speaks Google's Gemini dialect (`demo/gemini` → the demo's Gemini mock): Turnout
translates the request, the function call, the function response (whose function name Gemini
needs and only the earlier tool call knows) and the stream both ways."""

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
                "additionalProperties": False,
            },
        },
    }
]


def _client(api_base: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=api_base, api_key="sk-or-v1-e2e-any", max_retries=0, timeout=30.0)


def test_tool_call_round_trip(api_base: str) -> None:
    client = _client(api_base)
    messages = [{"role": "user", "content": "What's the weather in Paris?"}]
    first = client.chat.completions.create(model="demo/gemini", messages=messages, tools=TOOLS)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls", first
    call = choice.message.tool_calls[0]
    assert call.id
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "mock"}
    assert first.model == "demo/gemini"
    assert first.usage is not None and first.usage.total_tokens > 0

    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "18 °C, sunny"})
    second = client.chat.completions.create(model="demo/gemini", messages=messages, tools=TOOLS)
    assert second.choices[0].finish_reason == "stop"
    assert "18 °C, sunny" in (second.choices[0].message.content or "")


def _stream(client: openai.OpenAI, messages: list, **extra) -> tuple[str, list[dict], str | None, object]:
    stream = client.chat.completions.create(
        model="demo/gemini",
        messages=messages,
        tools=TOOLS,
        stream=True,
        stream_options={"include_usage": True},
        **extra,
    )
    text, calls, finish, usage = "", [], None, None
    for chunk in stream:
        assert chunk.model == "demo/gemini"
        for c in chunk.choices:
            text += c.delta.content or ""
            for t in c.delta.tool_calls or []:
                while len(calls) <= t.index:
                    calls.append({"id": None, "type": "function", "function": {"name": "", "arguments": ""}})
                if t.id:
                    calls[t.index]["id"] = t.id
                if t.function and t.function.name:
                    calls[t.index]["function"]["name"] += t.function.name
                if t.function and t.function.arguments:
                    calls[t.index]["function"]["arguments"] += t.function.arguments
            finish = c.finish_reason or finish
        usage = chunk.usage or usage
    return text, calls, finish, usage


def test_streamed_tool_call_round_trip(api_base: str) -> None:
    client = _client(api_base)
    messages = [{"role": "user", "content": "What's the weather in Tokyo?"}]
    _, calls, finish, usage = _stream(client, messages, tool_choice="required")
    assert finish == "tool_calls"
    assert len(calls) == 1 and calls[0]["id"]
    assert calls[0]["function"]["name"] == "get_weather"
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "mock"}
    assert usage is not None and usage.completion_tokens > 0

    messages.append({"role": "assistant", "content": None, "tool_calls": calls})
    messages.append({"role": "tool", "tool_call_id": calls[0]["id"], "content": "25 °C, humid"})
    text, calls, finish, usage = _stream(client, messages)
    assert calls == []
    assert finish == "stop"
    assert "25 °C, humid" in text
    assert usage is not None and usage.prompt_tokens > 0
