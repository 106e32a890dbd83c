"""With a key source configured, predict routes need the key; health stays open; failures deny."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto import mock_aws
from support import MakeClient, assert_error


@mock_aws
def test_predict_requires_the_key_and_health_stays_open(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    secrets.create_secret(Name="emotion/api-key", SecretString="k3y-value")
    client = make_client(guard_client=secrets, api_key_secret_name="emotion/api-key")

    assert_error(client.post("/predict", json={"text": "hello"}), 401, "unauthorized")
    assert_error(client.post("/predict", json={"text": "hello"}, headers={"x-api-key": "wrong"}), 401, "unauthorized")
    ok = client.post("/predict/batch", json={"texts": ["hello"]}, headers={"x-api-key": "k3y-value"})
    assert ok.status_code == 200
    assert client.get("/health").status_code == 200
    assert "k3y-value" not in caplog.text


@mock_aws
def test_with_a_key_every_route_but_health_and_the_page_needs_it(make_client: MakeClient) -> None:
    # GIVEN a deployment that requires a key
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    secrets.create_secret(Name="emotion/api-key", SecretString="k3y-value")
    client = make_client(guard_client=secrets, api_key_secret_name="emotion/api-key")
    # THEN the model facts and the schema are refused without it (the model's S3 URI and hash among them)
    for path in ("/labels", "/model", "/openapi.json"):
        assert_error(client.get(path), 401, "unauthorized")
        assert_error(client.get(path, headers={"x-api-key": "wrong"}), 401, "unauthorized")
        assert client.get(path, headers={"x-api-key": "k3y-value"}).status_code == 200, path
        assert client.get(path, headers={"authorization": "Bearer k3y-value"}).status_code == 200, path
    # AND the health route and the demo page stay open
    assert client.get("/health").status_code == 200
    assert client.get("/").status_code == 200


@mock_aws
def test_an_unreadable_key_store_denies_and_health_says_why(make_client: MakeClient) -> None:
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    client = make_client(guard_client=secrets, api_key_secret_name="emotion/not-there")
    assert_error(
        client.post("/predict", json={"text": "hello"}, headers={"x-api-key": "guess"}), 503, "auth_unavailable"
    )
    assert_error(client.get("/health"), 503, "auth_unavailable")


@mock_aws
def test_docs_ask_for_the_key_only_when_the_deployment_requires_one(make_client: MakeClient) -> None:
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    secrets.create_secret(Name="emotion/api-key", SecretString="k3y-value")
    keyed_client = make_client(guard_client=secrets, api_key_secret_name="emotion/api-key")
    keyed = keyed_client.get("/openapi.json", headers={"x-api-key": "k3y-value"}).json()
    open_ = make_client().get("/openapi.json").json()

    def security(schema: dict[str, Any], path: str, method: str = "post") -> Any:
        return schema["paths"][path][method].get("security")

    # Either scheme (OpenAPI lists alternatives): x-api-key, or the same key as a bearer token.
    either = [{"APIKeyHeader": []}, {"HTTPBearer": []}]
    assert security(keyed, "/predict") == security(keyed, "/predict/batch") == security(keyed, "/") == either
    assert security(keyed, "/health", "get") is None
    assert security(open_, "/predict") is None and "securitySchemes" not in open_.get("components", {})
