"""The city page in a real headless browser (Debian's chromium driven by Playwright,
no browser download): what a visitor sees at phone width, a screenshot, and axe-core's
accessibility rules.

Without a browser the tests fail in CI (CI=true) and skip elsewhere, saying why."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.kit import GroupChat
from tests.web.conftest import Web

CHROMIUM = os.environ.get("CHATBOT_TEST_CHROMIUM", "/usr/bin/chromium")
PHONE = {"width": 390, "height": 844}


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"the browser test needs a browser in CI: {reason}")
    pytest.skip(f"no headless browser here: {reason} (apt-get install -y chromium)")


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    try:
        from playwright.async_api import async_playwright
    except ImportError as error:
        _unavailable(f"playwright is not installed ({error})")
    if not shutil.which(CHROMIUM):
        _unavailable(f"{CHROMIUM} not found")
    async with async_playwright() as playwright:
        try:
            launched = await playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
            )
        except Exception as error:  # the browser did not start
            _unavailable(f"{CHROMIUM} did not start: {error}")
        try:
            yield launched
        finally:
            await launched.close()


async def test_a_visitor_sees_the_week_the_series_and_the_chat_link_on_a_phone(
    city: GroupChat, web: Web, browser: Any, tmp_path: Path
) -> None:
    page = await browser.new_page(viewport=PHONE, device_scale_factor=2)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    response = await page.goto(web.base + "/duisburg")
    assert response is not None and response.status == 200
    main = page.locator("main")
    assert await page.locator("h1").inner_text() == "Coworking in Duisburg"
    session = page.locator("ul.sessions li").first
    assert await session.is_visible()
    assert "Café Museum" in await session.inner_text()
    assert "Steuererklärung" in await session.inner_text()
    assert "2 von 4 Plätzen belegt" in await session.inner_text()
    series = page.locator("ul.series li").first
    assert await series.is_visible()
    assert "jeden Dienstag, 09:00–13:00, Kö Lounge" in await series.inner_text()
    chat = page.get_by_role("link", name="Zum Gruppenchat")
    assert await chat.is_visible()
    assert await chat.get_attribute("href") == "https://t.me/+AbCdEf123"
    assert await main.get_by_role("link", name="Café Museum auf OpenStreetMap").count() == 1
    # nothing wider than the phone, and no request leaves the server
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]
    assert all(url.startswith(web.base) for url in requests), requests
    # the stylesheet applied (the chat link is a button)
    background = await chat.evaluate("e => getComputedStyle(e).backgroundColor")
    assert background == "rgb(11, 79, 138)"
    shot = tmp_path / "duisburg-390x844.png"
    await page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    print(f"\nscreenshot of the city page at phone width: {shot}")
    await page.close()


async def test_axe_finds_no_accessibility_violations(
    city: GroupChat, web: Web, browser: Any
) -> None:
    from axe_playwright_python.async_playwright import Axe

    for path in ("/duisburg", "/"):
        # axe is injected as a script: the page's CSP (no scripts) is bypassed for it
        context = await browser.new_context(viewport=PHONE, bypass_csp=True)
        page = await context.new_page()
        await page.goto(web.base + path)
        results = await Axe().run(page)
        violations = [
            (v["id"], v["impact"], [n["target"] for n in v["nodes"]])
            for v in results.response["violations"]
        ]
        assert violations == [], (path, violations)
        await context.close()
