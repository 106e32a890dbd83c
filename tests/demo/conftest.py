"""Fixtures for the demo page: the app served on a real local port, and Debian's Chromium driven by Playwright.

Playwright never downloads a browser here: it drives /usr/bin/chromium (``apt-get install chromium``). The browser
tests skip, saying why, where that browser or the ``playwright`` package is missing.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import build_test_app, serve_app

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
#: Chromium's own background traffic (updates, sync, QUIC probes) is refused by a closed network; turn it off.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if importlib.util.find_spec("playwright") is None:
        return "the 'playwright' package is not installed (pip install -r requirements-dev.txt)"
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        return f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per module; each test gets its own context (cookies, storage) on top.

    Not per session: while Playwright's sync API is open it marks an asyncio loop as running in the main thread,
    which breaks later tests that run an event loop there (Mangum in the handler tests).
    """
    reason = browser_missing()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    executable = CHROMIUM if CHROMIUM.exists() else Path(str(shutil.which("chromium")))
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(executable), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Any]:
    """Open pages in fresh contexts (desktop size unless a viewport is given); all closed after the test."""
    contexts: list[Any] = []

    def make(viewport: dict[str, int] | None = None) -> Any:
        context = browser.new_context(viewport=viewport or {"width": 900, "height": 900}, service_workers="block")
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def live_url(tiny_model_dir: Path, reset_model: None) -> Iterator[str]:
    """The open API (no key) over the tiny model, at a real http://127.0.0.1 URL."""
    with serve_app(build_test_app(tiny_model_dir)) as url:
        yield url


@pytest.fixture
def screenshot_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
