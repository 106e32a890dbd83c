"""The HTTP API's Lambda authorizer (functions/authorizer), through its handler: key stores mocked with moto.

What a client notices: the right key in either header gets in, anything else is refused before the inference
function runs, an unreadable key store refuses everyone, and the gateway agrees with the function's own check.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from support import forget_handler, fresh_handler

from apikey import KeyStore, KeyUnavailableError
from authorizer import handler as authorizer_handler
from authorizer.handler import authorize
from authorizer.keys import store_from_environ
from scripts.common.lambda_context import LocalLambdaContext

KEY = "k3y-For-The-Authorizer-0123456789"
SECRET = "emotion-api-test/api-key"
PARAMETER = "/emotion-api/test/api-key"


def authorizer_event(headers: dict[str, str], *, method: str = "POST", path: str = "/predict") -> dict[str, Any]:
    """What API Gateway sends a REQUEST authorizer with payload format 2.0 and no identity source."""
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": f"arn:aws:execute-api:us-east-1:123456789012:abc123/$default/{method}{path}",
        "identitySource": [],
        "routeKey": f"{'ANY' if path.startswith('/predict') else method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"host": "abc123.execute-api.us-east-1.amazonaws.com", **headers},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": "authorizer-tests",
            },
            "requestId": "auth-test",
            "routeKey": f"{'ANY' if path.startswith('/predict') else method} {path}",
            "stage": "$default",
            "time": "26/Nov/2026:12:00:00 +0000",
            "timeEpoch": 1795780800000,
        },
    }


class CountingSecrets:
    """A Secrets Manager client that counts its calls and can be told to fail."""

    def __init__(self, value: str | None = KEY) -> None:
        self.value = value
        self.calls = 0

    def get_secret_value(self, SecretId: str) -> dict[str, Any]:
        self.calls += 1
        if self.value is None:
            raise ConnectionError("the store is down")
        return {"SecretString": self.value}


@pytest.fixture(autouse=True)
def fresh_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts as a new execution environment with no key configured."""
    for name in ("API_KEY_SECRET_NAME", "API_KEY_PARAMETER_NAME", "API_KEY_CACHE_SECONDS", "CORS_ALLOW_ORIGINS"):
        monkeypatch.delenv(name, raising=False)
    authorizer_handler.reset_store()
    yield
    authorizer_handler.reset_store()


@pytest.fixture
def secret_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The key in Secrets Manager (moto), named the way template.yaml names it to the function."""
    with mock_aws():
        boto3.client("secretsmanager", region_name="us-east-1").create_secret(Name=SECRET, SecretString=KEY)
        monkeypatch.setenv("API_KEY_SECRET_NAME", SECRET)
        yield


def decide(headers: dict[str, str], **kwargs: Any) -> bool:
    return authorizer_handler.handler(authorizer_event(headers, **kwargs), LocalLambdaContext())["isAuthorized"]


@pytest.mark.usefixtures("secret_key")
def test_the_key_gets_in_as_x_api_key_or_as_a_bearer_token() -> None:
    # GIVEN a deployment whose key is in Secrets Manager
    # WHEN a request presents it in either of the two forms the function accepts; THEN the gateway lets it through
    assert decide({"x-api-key": KEY}) is True
    assert decide({"authorization": f"Bearer {KEY}"}) is True
    assert decide({"Authorization": f"bearer {KEY}"}) is True  # scheme and header name in any case
    assert decide({"X-Api-Key": KEY}) is True


@pytest.mark.usefixtures("secret_key")
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-api-key": ""},
        {"x-api-key": "not-the-key"},
        {"x-api-key": KEY[:-1]},
        {"x-api-key": KEY + "x"},
        {"x-api-key": KEY.lower()},
        {"x-api-key": f" {KEY} "},
        {"authorization": KEY},
        {"authorization": f"Basic {KEY}"},
        {"authorization": "Bearer "},
        {"x-api-key": "wrong", "authorization": f"Bearer {KEY}"},  # x-api-key wins, as in the function
    ],
    ids=["none", "empty", "wrong", "prefix", "longer", "case", "spaces", "no-scheme", "basic", "empty-bearer", "both"],
)
def test_anything_but_the_exact_key_is_refused_before_the_function(headers: dict[str, str]) -> None:
    assert decide(headers) is False


def test_an_open_deployment_lets_everything_through() -> None:
    # GIVEN no key source (RequireApiKey resolved to no key): the authorizer must not stand in the way
    assert decide({}) is True
    assert decide({"x-api-key": "anything"}) is True


PREFLIGHT = {"origin": "https://app.example.com", "access-control-request-method": "POST"}


@pytest.mark.usefixtures("secret_key")
def test_a_preflight_is_no_way_in_without_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """API Gateway answers preflights of the POST routes itself; one that reached the authorizer gets no pass."""
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", "https://app.example.com")
    assert decide(PREFLIGHT, method="OPTIONS") is False
    assert decide({**PREFLIGHT, "x-api-key": KEY}, method="OPTIONS") is True


def test_an_unreadable_key_store_refuses_everyone(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a key source that does not exist (moto: an empty Secrets Manager)
    with mock_aws():
        monkeypatch.setenv("API_KEY_SECRET_NAME", "no-such-secret")
        # THEN even a plausible key is refused: fail closed, never open
        assert decide({"x-api-key": KEY}) is False


def test_the_key_can_live_in_an_ssm_securestring(monkeypatch: pytest.MonkeyPatch) -> None:
    with mock_aws():
        boto3.client("ssm", region_name="us-east-1").put_parameter(Name=PARAMETER, Value=KEY, Type="SecureString")
        monkeypatch.setenv("API_KEY_PARAMETER_NAME", PARAMETER)
        assert decide({"x-api-key": KEY}) is True
        assert decide({"x-api-key": "nope"}) is False


def test_the_key_is_cached_for_the_configured_time_then_fetched_again() -> None:
    # GIVEN a store whose key is cached for 300 s, on a clock the test moves
    now = [1000.0]
    client = CountingSecrets()
    store = KeyStore(secret_name=SECRET, parameter_name=None, max_age=300, client=client, clock=lambda: now[0])
    event = authorizer_event({"x-api-key": KEY})
    # WHEN many requests arrive within the cache time; THEN the store is read once
    for _ in range(5):
        assert authorize(event, store)["isAuthorized"] is True
    assert client.calls == 1
    # WHEN the key is rotated and the cache time has passed; THEN the new key is the only one let in
    client.value, now[0] = "rotated-key", now[0] + 301
    assert authorize(event, store)["isAuthorized"] is False
    assert authorize(authorizer_event({"x-api-key": "rotated-key"}), store)["isAuthorized"] is True
    assert client.calls == 2


def test_a_failed_refresh_refuses_rather_than_reusing_the_old_key() -> None:
    now = [0.0]
    client = CountingSecrets()
    store = KeyStore(secret_name=SECRET, parameter_name=None, max_age=60, client=client, clock=lambda: now[0])
    assert authorize(authorizer_event({"x-api-key": KEY}), store)["isAuthorized"] is True
    client.value, now[0] = None, 61.0
    assert authorize(authorizer_event({"x-api-key": KEY}), store)["isAuthorized"] is False
    with pytest.raises(KeyUnavailableError):
        store.expected_key()


def test_an_empty_key_in_the_store_is_no_key() -> None:
    store = KeyStore(secret_name=SECRET, parameter_name=None, client=CountingSecrets("  "))
    assert authorize(authorizer_event({"x-api-key": "  "}), store)["isAuthorized"] is False


def test_a_bad_cache_time_fails_naming_the_variable() -> None:
    with pytest.raises(ValueError, match="API_KEY_CACHE_SECONDS"):
        store_from_environ({"API_KEY_SECRET_NAME": SECRET, "API_KEY_CACHE_SECONDS": "five"})
    store = store_from_environ({"API_KEY_PARAMETER_NAME": PARAMETER, "API_KEY_CACHE_SECONDS": "30"})
    assert store.is_configured and store.parameter_name == PARAMETER


#: A key with a non-ASCII character: the gateway reads header values as UTF-8, the function (Starlette) as latin-1.
NON_ASCII_KEY = "k3y-cl\u00e9-For-The-Authorizer-0123456789"


@pytest.fixture(params=[KEY, NON_ASCII_KEY], ids=["ascii-key", "non-ascii-key"])
def keyed_function(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path
) -> Iterator[Any]:
    """The inference function's real handler (tiny model), with the same key in Secrets Manager (moto)."""
    with mock_aws():
        boto3.client("secretsmanager", region_name="us-east-1").create_secret(Name=SECRET, SecretString=request.param)
        monkeypatch.setenv("API_KEY_SECRET_NAME", SECRET)
        module = fresh_handler(monkeypatch, tiny_model_dir, backend="onnx", API_KEY_SECRET_NAME=SECRET)
        yield module, request.param
    forget_handler()


def test_the_gateway_and_the_function_agree_on_every_header_form(keyed_function: Any) -> None:
    # GIVEN the same key behind the authorizer and behind the function's own check
    function_module, key = keyed_function
    variants = {
        "x-api-key": {"x-api-key": key},
        "bearer": {"authorization": f"Bearer {key}"},
        "lower-case bearer": {"authorization": f"bearer {key}"},
        "bearer, two spaces": {"authorization": f"Bearer  {key}"},
        "bearer, tab": {"authorization": f"Bearer\t{key}"},
        "bearer, trailing space": {"authorization": f"Bearer {key} "},
        "spaces around": {"x-api-key": f" {key} "},
        "wrong x-api-key, right bearer": {"x-api-key": "wrong", "authorization": f"Bearer {key}"},
        "empty x-api-key, right bearer": {"x-api-key": "", "authorization": f"Bearer {key}"},
        "wrong": {"x-api-key": "wrong"},
        "basic": {"authorization": f"Basic {key}"},
        "none": {},
    }
    for name, headers in variants.items():
        # WHEN a prediction carries these headers
        event = authorizer_event({**headers, "content-type": "application/json"})
        event.update(body=json.dumps({"text": "I am happy"}), isBase64Encoded=False)
        event["requestContext"]["requestId"] = f"parity-{len(name)}"
        gateway = authorizer_handler.handler(event, LocalLambdaContext())["isAuthorized"]
        function = function_module.handler(event, LocalLambdaContext())["statusCode"]
        # THEN the gateway lets in exactly what the function would serve
        assert gateway == (function == 200), (name, gateway, function)
