"""The demo page at ``GET /``: one self-contained HTML file, so a browser is the only client anyone needs.

The page carries no external resource (it must work offline and behind a closed network) and calls the API with
relative URLs, so it works at the root of a local server and under an API Gateway stage path alike. What it
must know about this deployment (is a key required, the limits) is written into data attributes on ``<html>``;
the inline script and style are pinned by a Content-Security-Policy built from their hashes.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from .services import services_of

PAGE_PATH = Path(__file__).resolve().parent / "static" / "demo.html"

router = APIRouter()


def _hashes(tag: str, page: str) -> str:
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", page, flags=re.DOTALL)
    return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in blocks)


@cache
def _page() -> tuple[str, str]:
    """The page and its CSP, read once per execution environment (the file is baked into the image)."""
    page = PAGE_PATH.read_text(encoding="utf-8")
    csp = "; ".join(
        [
            "default-src 'none'",
            f"script-src {_hashes('script', page)}",
            f"style-src {_hashes('style', page)}",
            "connect-src 'self'",
            "img-src 'self' data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    return page, csp


def render_page(*, key_required: bool, max_text_chars: int, max_batch: int) -> str:
    """The page with this deployment's facts filled in (numbers and a boolean only: nothing to escape)."""
    page, _ = _page()
    return (
        page.replace("__KEY_REQUIRED__", "true" if key_required else "false")
        .replace("__MAX_TEXT_CHARS__", str(int(max_text_chars)))
        .replace("__MAX_BATCH__", str(int(max_batch)))
    )


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def demo_page(request: Request) -> HTMLResponse:
    """Serve the page; it asks for an API key only when this deployment requires one."""
    services = services_of(request.app)
    settings = services.settings
    _, csp = _page()
    html = render_page(
        key_required=services.api_key_guard.is_required,
        max_text_chars=settings.max_text_chars,
        max_batch=settings.max_batch,
    )
    return HTMLResponse(
        html,
        headers={
            "content-security-policy": csp,
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
            "cache-control": "no-cache",
        },
    )
