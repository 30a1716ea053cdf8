"""The official OpenAI SDK, unchanged, through models whose only endpoint is an Azure OpenAI
deployment (`demo/azure` → the demo's mock as an Azure resource) or OpenRouter
(`demo/openrouter` → the demo's mock as OpenRouter): Turnout speaks each one's dialect (the
deployment URL and `api-key`, Azure's prompt-filter chunk; the client's `provider`
preferences passed up to OpenRouter, the provider it picked and its charge reported back) and
the SDK sees plain OpenRouter-compatible answers and streams."""

from __future__ import annotations

import openai
import pytest

MESSAGES = [{"role": "user", "content": "Hello from the SDK"}]


def _client(api_base: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=api_base, api_key="sk-or-v1-e2e-any", max_retries=0, timeout=30.0)


def _extra(obj: object, name: str) -> object:
    """A member the OpenAI SDK does not model (OpenRouter's `provider`, usage `cost`)."""
    return (obj.model_extra or {}).get(name)


@pytest.mark.parametrize(
    ("model", "extra_body", "provider"),
    [
        ("demo/azure", None, "Azure Mock"),
        # Turnout has no provider named Anthropic, so it routes to OpenRouter and passes the
        # preference up; the (mock) OpenRouter routes by it and says so.
        ("demo/openrouter", {"provider": {"order": ["Anthropic"]}}, "OpenRouter Mock (Anthropic)"),
    ],
)
def test_completion(api_base: str, model: str, extra_body: dict | None, provider: str) -> None:
    r = _client(api_base).chat.completions.create(model=model, messages=MESSAGES, extra_body=extra_body)
    assert r.model == model
    assert r.id.startswith("gen-")
    assert _extra(r, "provider") == provider
    assert r.choices[0].finish_reason == "stop"
    assert len((r.choices[0].message.content or "").split()) == 12
    assert _extra(r, "prompt_filter_results") is None, "Azure's filter results stay upstream"
    assert r.usage is not None and r.usage.completion_tokens == 12
    assert _extra(r.usage, "cost") > 0
    upstream_cost = (_extra(r.usage, "cost_details") or {}).get("upstream_inference_cost")
    if model == "demo/openrouter":
        # What OpenRouter charged the operator, beside what the client is billed.
        assert upstream_cost and upstream_cost > 0
    else:
        assert upstream_cost is None


@pytest.mark.parametrize(
    ("model", "provider"),
    [("demo/azure", "Azure Mock"), ("demo/openrouter", "OpenRouter Mock (MockInfra)")],
)
def test_stream(api_base: str, model: str, provider: str) -> None:
    stream = _client(api_base).chat.completions.create(
        model=model, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    text, finish, usage, chunks = "", None, None, 0
    for chunk in stream:
        chunks += 1
        assert chunk.model == model
        assert _extra(chunk, "provider") == provider
        assert _extra(chunk, "prompt_filter_results") is None
        if chunk.usage is None:
            # Azure's opening chunk has no choices: it must not reach the client.
            assert len(chunk.choices) == 1, chunk
        for c in chunk.choices:
            text += c.delta.content or ""
            finish = c.finish_reason or finish
        usage = chunk.usage or usage
    assert chunks > 2
    assert finish == "stop"
    assert len(text.split()) == 12
    assert usage is not None and usage.completion_tokens == 12
