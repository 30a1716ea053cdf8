"""The operator's dashboard in a real browser (Debian's Chromium driven by Playwright) against
`turnout serve --demo`: sign in with a management key, create a key on the Keys page and read
its secret (shown once), use it for chat requests through the gateway, find them in Activity
with their provider and cost, check the Providers page's concentration figures against the
traffic sent, disable the key and see the next request refused, explain a plan in the
playground, sign out. Every page is screenshotted into target/e2e-artifacts/dashboard-*.png."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx

ARTIFACTS = Path(__file__).resolve().parents[1] / "target" / "e2e-artifacts"


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)


def _concentration(page, gateway: str) -> dict[str, tuple[int, float]]:
    """Providers page: provider → (requests, share of requests) over the last 30 days."""
    page.goto(f"{gateway}/dashboard/providers")
    out = {}
    for row in page.locator("#concentration tbody tr").all():
        out[row.get_attribute("data-provider")] = (
            int(row.get_attribute("data-requests")),
            float(row.get_attribute("data-request-share")),
        )
    return out


def _usd(text: str) -> float:
    return float(text.strip().replace("$", "").replace("\u202f", ""))


def test_sign_in_create_a_key_use_it_see_it_and_disable_it(browser, gateway: str, admin_key: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()

    # Without a session every page sends the browser to sign in.
    page.goto(f"{gateway}/dashboard/keys")
    assert page.url.endswith("/dashboard/sign-in")
    _shot(page, "sign-in")

    # A wrong key is refused, in words.
    page.fill("#key", "sk-tn-v1-not-a-key")
    page.click("button[type=submit]")
    assert "Invalid API key" in page.locator("[role=alert]").inner_text()

    # From here on, no script error, CSP violation or failed load (the refusal above is one).
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.fill("#key", admin_key)
    page.click("button[type=submit]")
    assert page.url.endswith("/dashboard")
    assert page.locator("h1").inner_text() == "Overview"
    assert page.locator('nav a[aria-current="page"]').inner_text() == "Overview"
    cookie = next(c for c in context.cookies() if c["name"] == "turnout_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/dashboard"

    # Create a key; its secret is shown once.
    page.click("nav >> text=Keys & credits")
    name = f"e2e-browser-{uuid.uuid4().hex[:6]}"
    page.fill("input[name=name]", name)
    page.fill("input[name=rpm]", "600")
    page.click("form[action='/dashboard/keys'] button[type=submit]")
    secret = page.locator("#new-key-secret").inner_text().strip()
    assert secret.startswith("sk-tn-v1-")
    key_hash = hashlib.sha256(secret.encode()).hexdigest()
    row = page.locator(f'#keys tr[data-hash="{key_hash}"]')
    assert "Enabled" in row.inner_text() and "600 requests/min" in row.inner_text()
    page.goto(f"{gateway}/dashboard/keys")
    assert secret not in page.content(), "the secret is shown only once"

    # Traffic with the new key: demo/fast is served by Fast Mock; demo/chat tries Flaky Mock
    # (30 % of its answers fail) and falls over to Fast Mock.
    before = _concentration(page, gateway)
    sent: Counter[str] = Counter()
    served: dict[str, tuple[str, float]] = {}
    auth = {"Authorization": f"Bearer {secret}"}
    for model in ["demo/fast"] * 3 + ["demo/chat"] * 3:
        r = httpx.post(
            f"{gateway}/api/v1/chat/completions",
            headers=auth,
            json={"model": model, "messages": [{"role": "user", "content": "Hello dashboard"}]},
            timeout=15,
        )
        assert r.status_code == 200, r.text
        body = r.json()
        sent[body["provider"]] += 1
        served[body["id"]] = (body["provider"], body["usage"]["cost"])

    # Activity, filtered to the new key with the filter form: each request with its provider
    # and cost (records are written a moment after the answer).
    page.goto(f"{gateway}/dashboard/activity")
    page.select_option("select[name=key]", key_hash)
    page.click("form[action='/dashboard/activity'] button[type=submit]")
    assert f"key={key_hash}" in page.url
    deadline = time.monotonic() + 5
    while page.locator("#generations tbody tr").count() < len(served):
        assert time.monotonic() < deadline, "the generations reach Activity"
        time.sleep(0.2)
        page.reload()
    rows = page.locator("#generations tbody tr")
    assert rows.count() == len(served)
    for gen_id, (provider, cost) in served.items():
        row = page.locator(f'#generations tr[data-id="{gen_id}"]')
        assert row.locator("td.provider").inner_text() == provider
        assert abs(_usd(row.locator("td.cost").inner_text()) - cost) < 1e-9, (gen_id, cost)
        assert name in row.inner_text()
    _shot(page, "activity")

    # A generation's detail lists every attempt of its plan, the serving one last.
    gen_id = next(iter(served))
    page.click(f'a[href="/dashboard/activity/{gen_id}"]')
    attempts = page.locator("#attempts tbody tr")
    assert attempts.count() >= 1
    assert "Served" in attempts.last.inner_text()
    assert served[gen_id][0] in attempts.last.inner_text()
    _shot(page, "generation")

    # Providers: the concentration figures moved by exactly the traffic sent, shares are
    # requests over all requests, and they are /api/v1/activity's providers[].
    after = _concentration(page, gateway)
    for provider in set(before) | set(after) | set(sent):
        assert after.get(provider, (0, 0))[0] - before.get(provider, (0, 0))[0] == sent[provider], provider
    total = sum(n for n, _ in after.values())
    for provider, (n, share) in after.items():
        assert abs(share - n / total) < 0.0001, provider
    api = httpx.get(
        f"{gateway}/api/v1/activity", headers={"Authorization": f"Bearer {admin_key}"}, timeout=10
    ).json()
    assert {p["provider_name"]: (p["requests"], p["request_share"]) for p in api["providers"]} == after
    warning = page.locator("#concentration-warning")
    assert warning.count() == (1 if max(s for _, s in after.values()) > 0.8 else 0)
    configured = httpx.get(f"{gateway}/api/v1/providers", timeout=10).json()["data"]
    assert page.locator("#provider-health tbody tr").count() == len(configured)
    assert page.locator("table.chain").count() >= 4
    _shot(page, "providers")

    # Disable the key from the Keys page: the next request with it is refused.
    page.goto(f"{gateway}/dashboard/keys")
    row = page.locator(f'#keys tr[data-hash="{key_hash}"]')
    row.get_by_role("button", name="Disable").click()
    assert "Key disabled" in page.locator("[role=status]").inner_text()
    row = page.locator(f'#keys tr[data-hash="{key_hash}"]')
    assert "Disabled" in row.inner_text()
    r = httpx.post(
        f"{gateway}/api/v1/chat/completions",
        headers=auth,
        json={"model": "demo/fast", "messages": [{"role": "user", "content": "Hello again"}]},
        timeout=15,
    )
    assert r.status_code in (401, 403), r.text
    _shot(page, "keys")

    # The playground explains a plan without calling anyone.
    page.click("nav >> text=Routing playground")
    page.fill(
        "#request",
        '{"model": "demo/chat", "messages": [{"role": "user", "content": "hi"}],'
        ' "provider": {"ignore": ["flaky"]}}',
    )
    page.click("form[action='/dashboard/playground'] button[type=submit]")
    assert "Fast Mock" in page.locator("#candidates").inner_text()
    assert "Flaky Mock" in page.locator("#excluded").inner_text()
    _shot(page, "playground")

    # The Overview draws its charts from its tables under the strict CSP.
    page.goto(f"{gateway}/dashboard")
    page.locator("#charts canvas").first.wait_for(timeout=5000)
    assert page.locator("#charts canvas").count() == 4
    page.click('#charts button[data-range="1h"]')
    assert page.locator('#charts button[data-range="1h"]').get_attribute("aria-pressed") == "true"
    traffic = page.locator("main table").first.inner_text()
    assert "Requests" in traffic and "Time to first token p95" in traffic
    _shot(page, "overview")

    # Readable without JavaScript, and in dark mode.
    for scheme, js in (("dark", True), ("light", False)):
        other = browser.new_context(
            color_scheme=scheme, java_script_enabled=js, viewport={"width": 1280, "height": 900}
        )
        other.add_cookies([cookie])
        p = other.new_page()
        p.goto(f"{gateway}/dashboard")
        assert p.locator("h1").inner_text() == "Overview"
        assert p.locator("details.series table").count() == 3
        _shot(p, "overview-dark" if scheme == "dark" else "overview-nojs")
        other.close()

    # Sign out: the session is gone.
    page.click("header button[type=submit]")
    assert page.url.endswith("/dashboard/sign-in")
    page.goto(f"{gateway}/dashboard")
    assert page.url.endswith("/dashboard/sign-in")
    context.close()
    assert problems == [], problems
