"""Accounts through the official OpenRouter Python SDK: `/key`, `/keys`, `/credits`,
`/generation` and `/activity` parse with the SDK's own pydantic models (a missing or mistyped
field fails as `ResponseValidationError`), and the numbers agree with the traffic sent."""

from __future__ import annotations

import time
from typing import Iterator

import httpx
import pytest
from openrouter import OpenRouter, errors

MESSAGES = [{"role": "user", "content": "Say hello"}]


def _client(api_base: str, key: str) -> OpenRouter:
    return OpenRouter(api_key=key, server_url=api_base, retry_config=None, timeout_ms=30_000)


@pytest.fixture(scope="module")
def admin(api_base: str, admin_key: str) -> Iterator[OpenRouter]:
    with _client(api_base, admin_key) as c:
        yield c


@pytest.fixture(scope="module")
def user_key(admin: OpenRouter, http: httpx.Client, admin_key: str) -> str:
    created = admin.api_keys.create(name="e2e-user", limit=5.0, limit_reset="monthly")
    assert created.key.startswith("sk-tn-v1-")
    assert created.data.name == "e2e-user"
    assert created.data.limit == 5.0
    # Credits for the account the key spends from (the management key's: `default`).
    r = http.post("/admin/credits", json={"account": "default", "amount": 10},
                  headers={"Authorization": f"Bearer {admin_key}"})
    assert r.status_code == 200, r.text
    return created.key


def test_current_key_and_credits(api_base: str, admin: OpenRouter, user_key: str) -> None:
    with _client(api_base, user_key) as user:
        r = user.chat.send(model="demo/fast", messages=MESSAGES)
        assert r.usage is not None and r.usage.cost is not None and r.usage.cost > 0
        me = user.api_keys.get_current_key_metadata()
        assert me.data.is_management_key is False
        assert me.data.limit == 5.0
        assert me.data.usage == pytest.approx(r.usage.cost)
        assert me.data.limit_remaining == pytest.approx(5.0 - r.usage.cost)
        # Inference keys cannot read account credits.
        with pytest.raises(errors.OpenRouterError):
            user.credits.get_credits()
    credits = admin.credits.get_credits()
    assert credits.data.total_credits == 10
    assert credits.data.total_usage >= r.usage.cost


def test_generation_stats_after_a_request(api_base: str, user_key: str) -> None:
    with _client(api_base, user_key) as user:
        r = user.chat.send(model="demo/fast", messages=MESSAGES)
        stats = None
        # Written by the batched writer: available a moment after the response.
        for _ in range(50):
            try:
                stats = user.generations.get_generation(id=r.id)
                break
            except errors.OpenRouterError:
                time.sleep(0.05)
        assert stats is not None, "generation never became available"
        assert stats.data.id == r.id
        assert stats.data.model == "demo/fast"
        assert stats.data.total_cost == pytest.approx(r.usage.cost)
        assert stats.data.tokens_completion == r.usage.completion_tokens
        assert stats.data.streamed is False


def test_keys_list_update_delete(admin: OpenRouter, api_base: str) -> None:
    created = admin.api_keys.create(name="e2e-temp")
    listed = admin.api_keys.list()
    assert any(k.hash == created.data.hash for k in listed.data)
    updated = admin.api_keys.update(hash=created.data.hash, name="renamed", disabled=True)
    assert updated.data.name == "renamed" and updated.data.disabled is True
    got = admin.api_keys.get(hash=created.data.hash)
    assert got.data.disabled is True
    with _client(api_base, created.key) as temp:
        with pytest.raises(errors.OpenRouterError) as refused:
            temp.chat.send(model="demo/fast", messages=MESSAGES)
        assert "401" in str(refused.value) or "disabled" in str(refused.value)
    deleted = admin.api_keys.delete(hash=created.data.hash)
    assert deleted.DELETED is True


def test_activity(admin: OpenRouter, api_base: str, user_key: str) -> None:
    with _client(api_base, user_key) as user:
        user.chat.send(model="demo/fast", messages=MESSAGES)
    time.sleep(0.2)
    activity = admin.analytics.get_user_activity()
    assert any(item.model == "demo/fast" and item.requests >= 1 for item in activity.data)
