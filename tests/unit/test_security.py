"""The API key comes from Secrets Manager or SSM, is compared in constant time, and fails closed."""

from __future__ import annotations

import hmac

import boto3
import pytest
from moto import mock_aws

from app.security import ApiKeyGuard, KeyUnavailableError
from app.settings import Settings


def test_no_key_source_means_open() -> None:
    guard = ApiKeyGuard(Settings())
    assert not guard.is_required
    assert guard.is_valid(None)


@mock_aws
def test_secrets_manager_key_is_checked() -> None:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    client.create_secret(Name="emotion/api-key", SecretString="s3cret-key")
    guard = ApiKeyGuard(Settings(api_key_secret_name="emotion/api-key"), boto3_client=client)
    assert guard.is_valid("s3cret-key")
    assert not guard.is_valid("wrong")
    assert not guard.is_valid(None)
    assert not guard.is_valid("")


@mock_aws
def test_ssm_secure_string_key_is_checked() -> None:
    client = boto3.client("ssm", region_name="us-east-1")
    client.put_parameter(Name="/emotion/api-key", Value="param-key", Type="SecureString")
    guard = ApiKeyGuard(Settings(api_key_parameter_name="/emotion/api-key"), boto3_client=client)
    assert guard.is_valid("param-key")
    assert not guard.is_valid("param-key ")


@mock_aws
def test_the_key_is_fetched_once_and_cached() -> None:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    client.create_secret(Name="emotion/api-key", SecretString="first")
    guard = ApiKeyGuard(Settings(api_key_secret_name="emotion/api-key"), boto3_client=client)
    guard.warm()
    client.update_secret(SecretId="emotion/api-key", SecretString="second")
    assert guard.is_valid("first")


@mock_aws
def test_an_unreadable_secret_denies_rather_than_allows() -> None:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    guard = ApiKeyGuard(Settings(api_key_secret_name="emotion/missing"), boto3_client=client)
    guard.warm()
    assert guard.last_failure is not None
    with pytest.raises(KeyUnavailableError):
        guard.is_valid("anything")


@mock_aws
def test_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    client.create_secret(Name="emotion/api-key", SecretString="s3cret-key")
    calls: list[tuple[bytes, bytes]] = []
    real_compare = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real_compare(a, b)

    monkeypatch.setattr("apikey.hmac.compare_digest", spy)
    assert not ApiKeyGuard(Settings(api_key_secret_name="emotion/api-key"), boto3_client=client).is_valid("nope")
    assert calls == [(b"nope", b"s3cret-key")]
