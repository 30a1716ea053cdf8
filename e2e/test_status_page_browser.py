"""The status page in a real browser (Debian's Chromium driven by Playwright): the banner,
the provider groups and their components, and a 90-day uptime bar per component render, in
light and dark mode, with no JavaScript needed. Screenshots go to target/e2e-artifacts/."""

from __future__ import annotations

from pathlib import Path

import httpx

ARTIFACTS = Path(__file__).resolve().parents[1] / "target" / "e2e-artifacts"


def test_the_status_page_renders_banner_components_and_uptime_bars(browser, gateway: str):
    # Some traffic first, so the models have live figures.
    for _ in range(3):
        r = httpx.post(
            f"{gateway}/api/v1/chat/completions",
            json={"model": "demo/fast", "messages": [{"role": "user", "content": "hi"}]},
            timeout=10,
        )
        assert r.status_code == 200
    summary = httpx.get(f"{gateway}/status/api/v2/summary.json", timeout=5).json()
    leaves = [c for c in summary["components"] if not c["group"]]

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for scheme in ("light", "dark"):
        # JavaScript off: the page must stand on its own.
        context = browser.new_context(
            color_scheme=scheme, java_script_enabled=False, viewport={"width": 900, "height": 1200}
        )
        page = context.new_page()
        response = page.goto(f"{gateway}/status")
        assert response is not None and response.status == 200

        banner = page.locator(".banner")
        assert banner.count() == 1
        assert banner.inner_text() == summary["status"]["description"]
        assert page.title().endswith("status")

        # Every component from the JSON API is on the page, its status in words.
        text = page.locator("main").inner_text()
        for c in summary["components"]:
            assert c["name"] in text, c["name"]
        statuses = page.locator(".row .st").all_inner_texts()
        assert len(statuses) == len(summary["components"])
        assert all(s.strip() for s in statuses)

        # A 90-day bar per model component, each day a rectangle with a text tooltip, today
        # covered (the gateway is running) and drawn at a visible size.
        bars = page.locator(".bars svg")
        assert bars.count() == len(leaves) - 1  # the Gateway API component has no bar
        first = bars.first
        assert first.locator("rect").count() == 90
        assert first.locator("rect.nodata").count() < 90
        assert "uptime" in (first.get_attribute("aria-label") or "")
        box = first.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] >= 20
        tooltip = first.locator("rect").last.locator("title").text_content() or ""
        assert ":" in tooltip and "no data" not in tooltip

        page.screenshot(path=str(ARTIFACTS / f"status-{scheme}.png"), full_page=True)
        context.close()

    light = (ARTIFACTS / "status-light.png").read_bytes()
    dark = (ARTIFACTS / "status-dark.png").read_bytes()
    assert len(light) > 10_000 and len(dark) > 10_000
    assert light != dark, "dark mode renders differently"


def test_performance_charts_draw_from_live_traffic_under_a_strict_csp(browser, gateway: str):
    for _ in range(5):
        r = httpx.post(
            f"{gateway}/api/v1/chat/completions",
            json={"model": "demo/fast", "stream": True,
                  "messages": [{"role": "user", "content": "count to five"}]},
            timeout=10,
        )
        assert r.status_code == 200
    context = browser.new_context(viewport={"width": 900, "height": 1400})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    response = page.goto(f"{gateway}/status")
    assert response is not None
    csp = response.headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]

    # The Performance section under the demo/fast component.
    row = page.locator(".row", has_text="demo/fast via Fast Mock")
    component = row.get_attribute("data-id")
    details = page.locator(f'details.perf[data-component="{component}"]')
    details.locator("summary").click()
    canvases = details.locator("canvas")
    canvases.first.wait_for(timeout=5000)
    assert canvases.count() == 2, "a TTFT chart and a throughput chart"
    assert "Time to first token" in details.inner_text()
    details.locator('button[data-range="7d"]').click()
    page.wait_for_function(
        "sel => document.querySelector(sel).querySelectorAll('canvas').length === 2",
        arg=f'details.perf[data-component="{component}"]',
        timeout=5000,
    )
    assert details.locator('button[data-range="7d"]').get_attribute("aria-pressed") == "true"
    page.screenshot(path=str(ARTIFACTS / "status-charts.png"), full_page=True)
    context.close()
    assert problems == [], problems
