"""Interactive API documentation at ``GET /docs``: Swagger UI served from files inside the image.

FastAPI's own ``/docs`` loads Swagger UI from a CDN at a floating version into this API's origin, so it stays off
(``api.py``). This page serves the Swagger UI 5 build that the ``fastapi-offline`` wheel ships in its ``static/``
folder instead (pinned with its hash in requirements.lock, so what runs is what was reviewed; the wheel's code is
never imported) and a start-up script of ours, under a CSP that allows scripts and styles from this origin only:
nothing inline, nothing from elsewhere. It is mounted behind the API key, as ``/openapi.json`` is, and refers to
everything by relative URL, so it works under a stage path too.
"""

from __future__ import annotations

from functools import cache
from importlib.util import find_spec
from pathlib import Path
from typing import Final

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from .errors import NotFoundError

STATIC_DIR: Final = Path(__file__).resolve().parent / "static"
#: The wheel that ships Swagger UI's built files, in its ``static/`` folder.
BUNDLE_PACKAGE: Final = "fastapi_offline"
#: What the page may load, each with its media type: Swagger UI's two files and our start-up script.
ASSET_TYPES: Final = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "docs.js": "text/javascript; charset=utf-8",
}
#: Only this origin's files run or style the page; the schema and "Try it out" calls go to this origin too.
CSP: Final = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS: Final = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}

router = APIRouter()


@cache
def read_asset(name: str) -> bytes:
    """One allowed file, read once per execution environment (they are baked into the image)."""
    if name == "docs.js":
        return (STATIC_DIR / name).read_bytes()
    return (bundle_dir() / name).read_bytes()


@cache
def read_page() -> str:
    """The page itself, read once per execution environment like its files."""
    return (STATIC_DIR / "docs.html").read_text(encoding="utf-8")


def bundle_dir() -> Path:
    """The wheel's ``static/`` folder, found without importing the package (its code plays no part here)."""
    spec = find_spec(BUNDLE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(BUNDLE_PACKAGE)
    return Path(next(iter(spec.submodule_search_locations))) / "static"


@router.get("/docs", response_class=HTMLResponse, include_in_schema=False)
async def docs_page() -> HTMLResponse:
    """Swagger UI over this API's own schema, from files inside the image."""
    return HTMLResponse(
        read_page(), headers={"content-security-policy": CSP, "cache-control": "no-cache", **SECURITY_HEADERS}
    )


@router.get("/docs/{asset}", include_in_schema=False)
async def docs_asset(asset: str) -> Response:
    """One of the page's files; any other name is the API's usual 404."""
    media_type = ASSET_TYPES.get(asset)
    if media_type is None:
        raise NotFoundError()
    return Response(
        read_asset(asset),
        media_type=media_type,
        headers={"cache-control": "private, max-age=3600", **SECURITY_HEADERS},
    )
