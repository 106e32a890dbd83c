"""The demo page in a real browser (Debian's Chromium, driven by Playwright) against the app on a real port.

The tiny test model's predictions are arbitrary, so the page is checked against what the API itself answers for
the same text. Screenshots land in artifacts/screenshots/; `make screenshot` also refreshes docs/demo.png.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws
from playwright.sync_api import expect
from support import LABELS, build_test_app, serve_app, staged_app

pytestmark = pytest.mark.browser

SENTENCE = "Wait, you drove all the way here just to surprise me?"
API_KEY = "demo-k3y"
ROOT = Path(__file__).resolve().parents[2]
BUNDLED_MODEL = ROOT / "functions" / "inference" / "model"
README_PICTURE = ROOT / "docs" / "demo.png"


def _open(new_page: Any, url: str, **kwargs: Any) -> Any:
    page = new_page(**kwargs)
    page.goto(url)
    page.wait_for_selector("#submit")
    return page


def _classify(page: Any, text: str) -> None:
    page.get_by_label("Text", exact=True).fill(text)
    page.get_by_role("button", name="Classify").click()


def test_a_sentence_shows_the_apis_emotion_and_six_bars(live_url: str, new_page: Any, screenshot_dir: Path) -> None:
    expected = httpx.post(f"{live_url}/predict", json={"text": SENTENCE}).json()
    page = _open(new_page, f"{live_url}/")
    _classify(page, SENTENCE)

    page.locator("#result").wait_for(state="visible")
    assert page.locator("#emotion").inner_text().lower() == expected["emotion"]
    bars = page.locator("#bars li")
    assert bars.count() == 6
    assert {label.lower() for label in bars.locator(".bar-label").all_inner_texts()} == set(LABELS)
    # Each bar carries its value as text, not only as a length or colour.
    assert all(re.fullmatch(r"\d{1,3}\.\d%", value) for value in bars.locator(".bar-value").all_inner_texts())
    assert bars.first.get_attribute("data-emotion") == expected["emotion"]
    assert expected["emotion"] in page.locator("#status").inner_text()
    assert page.locator("#error").is_hidden()
    page.screenshot(path=str(screenshot_dir / "demo-single.png"), full_page=True)


def test_warnings_are_shown_in_words(live_url: str, new_page: Any, screenshot_dir: Path) -> None:
    german = "Ich bin heute sehr traurig und einsam."
    assert httpx.post(f"{live_url}/predict", json={"text": german}).json()["warnings"][0] == "not_english"
    page = _open(new_page, f"{live_url}/")
    _classify(page, german)
    warning = page.locator("#warnings li").first
    warning.wait_for(state="visible")
    assert "looks like it is not English" in warning.inner_text()
    assert "not English" in page.locator("#status").inner_text()
    page.screenshot(path=str(screenshot_dir / "demo-warning.png"), full_page=True)
    # an English answer replaces them with its own (the tiny test model is unsure of everything: it may warn)
    expected = httpx.post(f"{live_url}/predict", json={"text": SENTENCE}).json()["warnings"]
    _classify(page, SENTENCE)
    expect(page.locator("#warnings li[data-code='not_english']")).to_have_count(0)
    assert [item.get_attribute("data-code") for item in page.locator("#warnings li").all()] == expected
    assert page.locator("#warnings").is_hidden() is (not expected)


def test_the_page_works_from_the_keyboard_alone(live_url: str, new_page: Any) -> None:
    page = _open(new_page, f"{live_url}/")
    page.keyboard.press("Tab")  # the mode radio group
    page.keyboard.press("Tab")  # the text box
    assert page.evaluate("document.activeElement.id") == "text"
    page.keyboard.type(SENTENCE)
    page.keyboard.press("Control+Enter")
    page.locator("#result").wait_for(state="visible")
    assert page.locator("#bars li").count() == 6
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "submit"


def test_empty_and_too_long_text_get_a_clear_message_without_a_request(
    tiny_model_dir: Path, reset_model: None, new_page: Any, screenshot_dir: Path
) -> None:
    with serve_app(build_test_app(tiny_model_dir, max_text_chars=40)) as url:
        page = _open(new_page, f"{url}/")
        api_calls: list[str] = []
        page.on("request", lambda request: api_calls.append(request.url) if "/predict" in request.url else None)

        page.get_by_role("button", name="Classify").click()
        error = page.get_by_role("alert")
        assert "Type a text to classify" in error.inner_text()
        assert page.get_by_label("Text", exact=True).get_attribute("aria-invalid") == "true"
        assert page.evaluate("document.activeElement.id") == "text"
        page.screenshot(path=str(screenshot_dir / "demo-empty.png"))

        _classify(page, "x" * 41)
        assert "too long: 41 characters, at most 40" in error.inner_text()
        # Counted as the API counts: an emoji is one character.
        page.get_by_label("Text", exact=True).fill("\N{GRINNING FACE}" * 40)
        assert page.locator("#count").inner_text() == "40 of 40 characters"
        assert api_calls == []
        assert page.locator("#result").is_hidden()


def test_batch_mode_shows_one_row_per_line(live_url: str, new_page: Any, screenshot_dir: Path) -> None:
    texts = ["I am so happy today", "this is not good", "what a lovely surprise", "Das ist eine schöne Überraschung"]
    expected = httpx.post(f"{live_url}/predict/batch", json={"texts": texts}).json()["predictions"]
    page = _open(new_page, f"{live_url}/")
    page.get_by_label("Batch: one text per line").check()
    page.get_by_label("Texts, one per line").fill("\n".join([texts[0], "", texts[1], "   ", texts[2], texts[3]]))
    assert "4 lines" in page.locator("#count").inner_text()
    page.get_by_role("button", name="Classify").click()

    rows = page.locator("#batch-table tbody tr")
    rows.first.wait_for()
    assert rows.count() == 4
    for index, (text, prediction) in enumerate(zip(texts, expected, strict=True)):
        cells = rows.nth(index).locator("td").all_inner_texts()
        assert cells[0] == str(index + 1)
        assert cells[1] == text
        assert cells[2].strip().lower() == prediction["emotion"]
        assert cells[3].endswith("%")
        assert ("not English" in cells[4]) is ("not_english" in prediction["warnings"])
    assert "not English" in rows.nth(3).locator("td").all_inner_texts()[4]
    assert page.locator("#result").is_hidden()
    page.screenshot(path=str(screenshot_dir / "demo-batch.png"), full_page=True)


@pytest.fixture
def keyed_url(tiny_model_dir: Path, reset_model: None) -> Iterator[str]:
    """The API with a key in (moto's) Secrets Manager, read by the real guard."""
    from app.security import ApiKeyGuard
    from app.settings import Settings

    parameters.clear_caches()
    with mock_aws():
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        secrets.create_secret(Name="emotion/api-key", SecretString=API_KEY)
        guard = ApiKeyGuard(
            Settings(model_path=tiny_model_dir, api_key_secret_name="emotion/api-key"), boto3_client=secrets
        )
        guard.warm()
        with serve_app(build_test_app(tiny_model_dir, guard=guard)) as url:
            yield url
    parameters.clear_caches()


def test_the_api_key_flow(keyed_url: str, new_page: Any, screenshot_dir: Path) -> None:
    page = _open(new_page, f"{keyed_url}/")
    key_field = page.get_by_label("API key")
    assert key_field.is_visible()

    _classify(page, SENTENCE)
    error = page.get_by_role("alert")
    error.wait_for()
    assert "API key is missing or wrong" in error.inner_text()
    first_id = re.search(r"Request id: (\S+)", error.inner_text())
    assert first_id
    assert page.evaluate("document.activeElement.id") == "api-key"
    page.screenshot(path=str(screenshot_dir / "demo-key-required.png"), full_page=True)

    key_field.fill("wrong")
    with page.expect_response("**/predict") as refused:
        page.get_by_role("button", name="Classify").click()
    assert refused.value.status == 401
    error.wait_for()
    assert "API key is missing or wrong" in error.inner_text()
    assert first_id.group(1) not in error.inner_text(), "the message must be the new request's"

    key_field.fill(API_KEY)
    page.get_by_role("button", name="Classify").click()
    page.locator("#result").wait_for(state="visible")
    assert error.is_hidden()
    assert page.locator("#bars li").count() == 6


def test_a_network_failure_says_so(live_url: str, new_page: Any) -> None:
    page = _open(new_page, f"{live_url}/")
    page.route("**/predict", lambda route: route.abort("connectionrefused"))
    _classify(page, SENTENCE)
    error = page.get_by_role("alert")
    error.wait_for()
    assert "network error" in error.inner_text()
    assert page.locator("#result").is_hidden()
    assert page.get_by_role("button", name="Classify").is_enabled()


def test_the_page_works_under_a_stage_path(tiny_model_dir: Path, reset_model: None, new_page: Any) -> None:
    with serve_app(staged_app(build_test_app(tiny_model_dir), "dev")) as url:
        page = new_page()
        api_calls: list[str] = []
        page.on("request", lambda request: api_calls.append(request.url) if "/predict" in request.url else None)
        page.goto(f"{url}/dev")
        _classify(page, SENTENCE)
        page.locator("#result").wait_for(state="visible")
        assert api_calls == [f"{url}/dev/predict"]
        assert page.get_by_role("link", name="API schema (OpenAPI)").get_attribute("href") == "/dev/openapi.json"


def test_readable_on_a_phone(live_url: str, new_page: Any, screenshot_dir: Path) -> None:
    page = _open(new_page, f"{live_url}/", viewport={"width": 375, "height": 740})
    _classify(page, SENTENCE)
    page.locator("#result").wait_for(state="visible")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375, "the page scrolls sideways on a phone"
    font_px = page.evaluate("parseFloat(getComputedStyle(document.querySelector('#text')).fontSize)")
    assert font_px >= 16, "smaller inputs make phones zoom in"
    page.screenshot(path=str(screenshot_dir / "demo-phone.png"), full_page=True)


def test_readme_screenshot(tiny_model_dir: Path, reset_model: None, new_page: Any, screenshot_dir: Path) -> None:
    """The README's picture, from the bundled model when it is there (the tiny model's guesses are arbitrary).

    docs/demo.png is rewritten only with UPDATE_SCREENSHOTS=1 (``make screenshot``) or when it is missing, so a
    test run does not dirty the work tree.
    """
    model_dir = BUNDLED_MODEL if (BUNDLED_MODEL / "config.json").exists() else tiny_model_dir
    backend = "onnx" if any(model_dir.glob("*.onnx")) else "torch"
    with serve_app(build_test_app(model_dir, model_backend=backend)) as url:
        expected = httpx.post(f"{url}/predict", json={"text": SENTENCE}).json()
        page = _open(new_page, f"{url}/", viewport={"width": 760, "height": 640})
        _classify(page, SENTENCE)
        page.locator("#result").wait_for(state="visible")
        assert page.locator("#emotion").inner_text().lower() == expected["emotion"]
        shot = screenshot_dir / "demo.png"
        page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size < 200_000
    if os.environ.get("UPDATE_SCREENSHOTS") == "1" or not README_PICTURE.exists():
        README_PICTURE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, README_PICTURE)


def test_the_docs_page_lists_every_operation_of_the_schema_without_a_csp_violation(
    keyed_url: str, new_page: Any, screenshot_dir: Path
) -> None:
    # GIVEN a deployment that requires a key, and a browser that sends it (the page is behind it, as the schema is)
    headers = {"x-api-key": API_KEY}
    schema = httpx.get(f"{keyed_url}/openapi.json", headers=headers).json()
    expected = {(method.upper(), path) for path, item in schema["paths"].items() for method in item}
    page = new_page()
    page.context.set_extra_http_headers(headers)
    complaints: list[str] = []
    page.on("console", lambda message: complaints.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: complaints.append(str(error)))
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => console.error("
        "'CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
    )
    # WHEN the interactive documentation is opened
    page.goto(f"{keyed_url}/docs")
    page.locator(".opblock").first.wait_for()
    # THEN Swagger UI shows every operation of /openapi.json, from files served by the API itself
    shown = page.evaluate(
        """Array.from(document.querySelectorAll('.opblock'), block => [
            block.querySelector('.opblock-summary-method').textContent.trim(),
            block.querySelector('.opblock-summary-path').getAttribute('data-path')])"""
    )
    assert {(method, path) for method, path in shown} == expected
    # AND nothing was refused by the page's CSP, nor failed
    assert complaints == []
    page.screenshot(path=str(screenshot_dir / "docs-swagger-ui.png"), full_page=True)
