"""GET /docs: Swagger UI from files inside the image, under a strict CSP, behind the key like /openapi.json."""

from __future__ import annotations

import re

import boto3
from fastapi.testclient import TestClient
from moto import mock_aws
from support import MakeClient, assert_error

KEY = "k3y-value"


def csp_directives(header: str) -> dict[str, str]:
    return {name: value.strip() for name, _, value in (part.strip().partition(" ") for part in header.split(";"))}


def test_docs_serve_swagger_ui_from_this_origin_under_a_strict_csp(client: TestClient) -> None:
    # WHEN a developer opens the interactive documentation
    page = client.get("/docs")
    # THEN it is an HTML page whose every script and stylesheet is a relative URL on this API, none inline
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    references = [ref for ref in re.findall(r'(?:src|href)="([^"]+)"', page.text) if not ref.startswith("data:")]
    assert references and all(not re.match(r"[a-z]+:|//", ref) for ref in references), references
    assert not re.search(r"<script>|<style>|\sstyle=|\son[a-z]+=", page.text)
    # AND its CSP lets only this origin's files run or style it
    csp = csp_directives(page.headers["content-security-policy"])
    assert csp["default-src"] == "'none'"
    assert csp["script-src"] == csp["style-src"] == csp["connect-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    # AND every file it refers to is served from the image with its media type
    for ref in references:
        asset = client.get(f"/{ref}")
        assert asset.status_code == 200, ref
        assert asset.headers["content-type"].split(";")[0] in ("text/javascript", "text/css"), ref
        assert asset.headers["x-content-type-options"] == "nosniff"
    assert "SwaggerUIBundle" in client.get("/docs/swagger-ui-bundle.js").text
    assert "openapi.json" in client.get("/docs/docs.js").text


def test_docs_serve_only_their_own_files(client: TestClient) -> None:
    for path in ("/docs/index.html", "/docs/swagger-ui.js.map", "/docs/..%2Fsettings.py", "/docs/oauth2-redirect"):
        assert_error(client.get(path), 404, "not_found")


@mock_aws
def test_with_a_key_the_docs_need_it_like_the_schema(make_client: MakeClient) -> None:
    # GIVEN a deployment that requires a key
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    secrets.create_secret(Name="emotion/api-key", SecretString=KEY)
    client = make_client(guard_client=secrets, api_key_secret_name="emotion/api-key")
    for path in ("/docs", "/docs/swagger-ui-bundle.js", "/docs/docs.js"):
        # THEN the page and its files are refused without the key, or with a wrong one
        assert_error(client.get(path), 401, "unauthorized")
        assert_error(client.get(path, headers={"x-api-key": "wrong"}), 401, "unauthorized")
        # AND served with it
        assert client.get(path, headers={"x-api-key": KEY}).status_code == 200, path
