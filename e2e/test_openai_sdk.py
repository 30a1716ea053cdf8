"""The official OpenAI Python SDK, pointed at Turnout, works as it does against OpenRouter.

Client retries are disabled (`max_retries=0`) so that every success is the gateway's own doing:
failover on `demo/chat` must happen inside Turnout, not in the SDK.
"""

from __future__ import annotations

import openai
import pytest

MESSAGES = [{"role": "user", "content": "Say hello"}]


def make_client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="sk-or-v1-e2e-any", max_retries=0, timeout=30.0)


@pytest.fixture(scope="module")
def client(api_base: str) -> openai.OpenAI:
    return make_client(api_base)


@pytest.fixture(scope="module", params=["/api/v1", "/v1"], ids=["api-v1", "v1-alias"])
def any_base_client(request, gateway: str) -> openai.OpenAI:
    return make_client(gateway + request.param)


def test_chat_completion_non_streaming(any_base_client: openai.OpenAI) -> None:
    r = any_base_client.chat.completions.create(model="demo/fast", messages=MESSAGES)

    assert r.object == "chat.completion"
    assert r.id.startswith("gen-"), r.id
    assert r.model == "demo/fast"
    assert len(r.choices) == 1
    choice = r.choices[0]
    assert choice.message.role == "assistant"
    assert isinstance(choice.message.content, str) and choice.message.content.strip()
    assert choice.finish_reason == "stop"

    assert r.usage is not None
    assert r.usage.prompt_tokens > 0
    assert r.usage.completion_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens

    # OpenRouter additions the OpenAI SDK does not model: reachable as extras.
    dump = r.model_dump()
    assert isinstance(dump.get("provider"), str) and dump["provider"], dump.get("provider")
    assert (r.model_extra or {}).get("provider") == dump["provider"]
    usage = dump["usage"]
    assert isinstance(usage.get("cost"), (int, float)) and usage["cost"] > 0, usage
    assert isinstance(usage.get("is_byok"), bool), usage
    assert dump["choices"][0].get("native_finish_reason") is not None, dump["choices"][0]


def _collect_stream(client: openai.OpenAI, model: str):
    stream = client.chat.completions.create(model=model, messages=MESSAGES, stream=True)
    chunks = list(stream)
    assert chunks, "stream produced no chunks"
    text = "".join(
        c.choices[0].delta.content or "" for c in chunks if c.choices and c.choices[0].delta is not None
    )
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    usage = [c.usage for c in chunks if c.usage is not None]
    return chunks, text, finish, usage


@pytest.mark.parametrize("model", ["demo/fast", "demo/slow"])
def test_chat_completion_streaming(client: openai.OpenAI, model: str) -> None:
    # demo/slow sends `: OPENROUTER PROCESSING` comments for ~1.5 s before the first
    # token; the SDK must skip them and still yield every delta.
    chunks, text, finish, usage = _collect_stream(client, model)

    assert text.strip(), "no content deltas"
    assert finish == ["stop"], finish
    ids = {c.id for c in chunks}
    assert len(ids) == 1 and next(iter(ids)).startswith("gen-"), ids
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert all(c.model == model for c in chunks)
    # Usage always arrives once, on the last chunk, with OpenRouter's cost.
    assert len(usage) == 1 and chunks[-1].usage is not None
    assert usage[0].prompt_tokens > 0 and usage[0].completion_tokens > 0
    assert (usage[0].model_extra or {}).get("cost", 0) > 0


def test_streaming_on_v1_alias(gateway: str) -> None:
    _, text, finish, _ = _collect_stream(make_client(gateway + "/v1"), "demo/fast")
    assert text.strip() and finish == ["stop"]


def test_models_list(client: openai.OpenAI) -> None:
    models = list(client.models.list())
    ids = {m.id for m in models}
    assert {"demo/chat", "demo/fast", "demo/slow"} <= ids, ids


def test_unknown_model_is_bad_request(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(model="nobody/no-such-model", messages=MESSAGES)
    err = exc.value
    assert err.status_code == 400
    # The SDK unwraps OpenRouter's `{"error": {...}}` envelope into `body`.
    assert isinstance(err.body, dict) and err.body.get("code") == 400, err.body
    assert "nobody/no-such-model" in err.body.get("message", ""), err.body


def test_flaky_model_fails_over_every_time(client: openai.OpenAI) -> None:
    providers = []
    for i in range(20):
        r = client.chat.completions.create(model="demo/chat", messages=MESSAGES)
        assert r.model == "demo/chat", (i, r.model)
        assert r.choices[0].message.content, i
        providers.append((r.model_extra or {}).get("provider"))
    assert all(providers), providers


def test_flaky_model_streams_fail_over_every_time(client: openai.OpenAI) -> None:
    # A stream binds to its provider only at the first content chunk, so a flaky
    # provider failing before that must be invisible to the client.
    for i in range(10):
        _, text, finish, usage = _collect_stream(client, "demo/chat")
        assert text.strip(), i
        assert finish == ["stop"], (i, finish)
        assert len(usage) == 1, i
