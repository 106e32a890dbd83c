"""The demo page without a browser: served as HTML by the function itself, self-contained, fit for a stage path."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import ModuleType

from fastapi.testclient import TestClient
from support import build_test_app, load_event

from scripts.common.lambda_context import LocalLambdaContext


def test_root_serves_the_demo_page_as_utf8_html(tiny_model_dir: Path, reset_model: None) -> None:
    response = TestClient(build_test_app(tiny_model_dir)).get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["x-request-id"]
    html = response.text
    for control in ('<label for="text"', '<label for="api-key"', 'role="alert"', 'aria-live="polite"'):
        assert control in html
    # No CDN, web font or any other external reference: the page must work offline.
    assert not re.search(r"https?://", html)
    assert "<script src" not in html and '<link rel="stylesheet"' not in html


def test_the_page_says_whether_a_key_is_required_and_the_limits(tiny_model_dir: Path, reset_model: None) -> None:
    open_page = TestClient(build_test_app(tiny_model_dir, max_text_chars=123, max_batch=7)).get("/").text
    assert 'data-key-required="false"' in open_page
    assert 'data-max-text-chars="123"' in open_page and 'data-max-batch="7"' in open_page

    class KeyRequired:
        is_required, last_failure = True, None

    keyed = TestClient(build_test_app(tiny_model_dir, guard=KeyRequired())).get("/").text
    assert 'data-key-required="true"' in keyed


def test_the_page_is_locked_to_its_own_inline_code(tiny_model_dir: Path, reset_model: None) -> None:
    """The CSP allows only the page's own script and style, and calls to its own origin."""
    csp = TestClient(build_test_app(tiny_model_dir)).get("/").headers["content-security-policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    assert re.search(r"script-src 'sha256-[A-Za-z0-9+/=]+'", csp)
    assert "unsafe-inline" not in csp


def test_the_page_is_not_in_the_api_schema(tiny_model_dir: Path, reset_model: None) -> None:
    schema = TestClient(build_test_app(tiny_model_dir)).get("/openapi.json").json()
    # POST / is the Hugging Face interface; the page (GET /) is not an API operation.
    assert list(schema["paths"]["/"]) == ["post"]


def test_demo_event_through_the_lambda_handler(handler_module: ModuleType) -> None:
    response = handler_module.handler(load_event("demo.json"), LocalLambdaContext())
    assert response["statusCode"] == 200
    assert response["headers"]["content-type"] == "text/html; charset=utf-8"
    assert response["isBase64Encoded"] is False
    assert "<title>Emotion API demo</title>" in response["body"]


def _staged(raw_path: str) -> dict:
    event = json.loads(json.dumps(load_event("demo.json")))
    event["rawPath"] = event["requestContext"]["http"]["path"] = raw_path
    event["requestContext"]["stage"] = "dev"
    return event


def test_demo_page_under_a_stage_path(handler_module: ModuleType) -> None:
    """Behind the `dev` stage the page is at /dev/; the API calls are relative, so they land on /dev/predict."""
    response = handler_module.handler(_staged("/dev/"), LocalLambdaContext())
    assert response["statusCode"] == 200
    assert "<title>Emotion API demo</title>" in response["body"]
    assert "fetch(base + path" in response["body"]
    assert not re.search(r"""["'`]/predict""", response["body"]), "API URLs must be relative to the page"


def test_stage_root_without_slash_reaches_the_page(handler_module: ModuleType) -> None:
    response = handler_module.handler(_staged("/dev"), LocalLambdaContext())
    if response["statusCode"] in (301, 302, 307, 308):
        assert response["headers"]["location"].endswith("/dev/")
    else:
        assert response["statusCode"] == 200
        assert "<title>Emotion API demo</title>" in response["body"]
