"""The official OpenRouter Python SDK (Speakeasy-generated, `pip install openrouter`) against Turnout.

The SDK validates every response with pydantic models generated from OpenRouter's own OpenAPI
document, so a field that is missing or mistyped in Turnout's output fails here with
`openrouter.errors.ResponseValidationError` naming the field.

SDK retries are disabled (`retry_config=None`) so the gateway alone is under test.
"""

from __future__ import annotations

from typing import Iterator

import pytest
from openrouter import OpenRouter, errors

MESSAGES = [{"role": "user", "content": "Say hello"}]


@pytest.fixture(scope="module")
def client(api_base: str) -> Iterator[OpenRouter]:
    # `server_url` replaces the SDK's built-in https://openrouter.ai/api/v1.
    with OpenRouter(
        api_key="sk-or-v1-e2e-any", server_url=api_base, retry_config=None, timeout_ms=30_000
    ) as c:
        yield c


def test_chat_send_non_streaming(client: OpenRouter) -> None:
    r = client.chat.send(model="demo/fast", messages=MESSAGES)

    assert r.id.startswith("gen-"), r.id
    assert r.model == "demo/fast"
    assert r.object == "chat.completion"
    assert len(r.choices) == 1
    msg = r.choices[0].message
    assert msg.role == "assistant"
    assert isinstance(msg.content, str) and msg.content.strip()
    assert r.choices[0].finish_reason == "stop"
    assert r.usage is not None
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
    assert r.usage.cost is not None and r.usage.cost > 0


@pytest.mark.parametrize("model", ["demo/fast", "demo/slow"])
def test_chat_send_streaming(client: OpenRouter, model: str) -> None:
    text = []
    finish = []
    usage = []
    n = 0
    with client.chat.send(model=model, messages=MESSAGES, stream=True) as stream:
        for chunk in stream:
            n += 1
            assert chunk.model == model
            assert chunk.id.startswith("gen-"), chunk.id
            for choice in chunk.choices:
                if isinstance(choice.delta.content, str):
                    text.append(choice.delta.content)
                if choice.finish_reason:
                    finish.append(choice.finish_reason)
            if chunk.usage is not None:
                usage.append(chunk.usage)
    assert n > 0
    assert "".join(text).strip(), "no content deltas"
    assert finish == ["stop"], finish
    assert len(usage) == 1 and usage[0].completion_tokens > 0 and usage[0].cost > 0


def test_unknown_model_raises_bad_request(client: OpenRouter) -> None:
    with pytest.raises(errors.BadRequestResponseError) as exc:
        client.chat.send(model="nobody/no-such-model", messages=MESSAGES)
    assert exc.value.status_code == 400
    assert exc.value.data.error.code == 400
    assert "nobody/no-such-model" in exc.value.data.error.message


def test_models_list(client: OpenRouter) -> None:
    res = client.models.list()
    ids = {m.id for m in res.result.data}
    assert {"demo/chat", "demo/fast", "demo/slow"} <= ids, ids
    fast = next(m for m in res.result.data if m.id == "demo/fast")
    assert float(fast.pricing.prompt) > 0 and float(fast.pricing.completion) > 0


def test_providers_list(client: OpenRouter) -> None:
    res = client.providers.list()
    slugs = {p.slug for p in res.data}
    assert slugs, "no providers"
    assert all(p.name for p in res.data)


def test_model_endpoints_list(client: OpenRouter) -> None:
    res = client.endpoints.list(author="demo", slug="fast")
    assert res.data.id == "demo/fast"
    assert res.data.endpoints, "no endpoints"
    for ep in res.data.endpoints:
        assert ep.model_id == "demo/fast"
        assert ep.provider_name
