"""The API-key module the authorizer, the inference function and the pre-traffic hook share (layers/apikey)."""

from __future__ import annotations

import logging

import boto3
import pytest
from moto import mock_aws

from apikey import (
    LIBRARY_LOGGERS,
    KeyUnavailableError,
    expected_key,
    hold_library_loggers,
    is_match,
    presented_key,
    read_stored_key,
)

KEY = "k3y-0123456789"


@pytest.mark.parametrize(
    ("headers", "key"),
    [
        ({"x-api-key": KEY}, KEY),
        ({"X-Api-Key": KEY}, KEY),
        ({"authorization": f"Bearer {KEY}"}, KEY),
        ({"Authorization": f"bEaReR {KEY}"}, KEY),
        ({"authorization": f"Bearer  {KEY}"}, KEY),  # RFC 9110: one or more spaces after the scheme
        ({"x-api-key": "", "authorization": f"Bearer {KEY}"}, KEY),
        ({"x-api-key": "other", "authorization": f"Bearer {KEY}"}, "other"),
        ({}, None),
        ({"x-api-key": f" {KEY}"}, None),
        ({"x-api-key": "k3y with space"}, None),
        ({"x-api-key": "cl\u00e9"}, None),  # non-ASCII: gateways and HTTP stacks decode it differently
        ({"x-api-key": "cl\u00c3\u00a9"}, None),  # the same bytes read as latin-1
        ({"x-api-key": "x" * 257}, None),
        ({"authorization": KEY}, None),
        ({"authorization": f"Basic {KEY}"}, None),
        ({"authorization": "Bearer "}, None),
        ({"authorization": f"Bearer {KEY} extra"}, None),
        ({"authorization": f"Bearer\t{KEY}"}, None),
    ],
)
def test_presented_key_follows_one_rule(headers: dict[str, str], key: str | None) -> None:
    assert presented_key(headers) == key


@pytest.mark.parametrize(
    ("stored", "key"), [(KEY, KEY.encode()), (f" {KEY}\n", KEY.encode()), (KEY.encode(), KEY.encode())]
)
def test_a_stored_key_is_its_visible_characters(stored: str | bytes, key: bytes) -> None:
    assert expected_key(stored) == key


@pytest.mark.parametrize("stored", [None, "", "  \n", "cl\u00e9", "two words", b"\xff\xfe"])
def test_a_stored_value_no_client_could_send_fails_closed(stored: str | bytes | None) -> None:
    with pytest.raises(KeyUnavailableError):
        expected_key(stored)


def test_keys_compare_exactly() -> None:
    assert is_match(KEY, KEY.encode())
    assert not is_match(KEY[:-1], KEY.encode())
    assert not is_match(None, KEY.encode())
    assert not is_match("\udcff", KEY.encode())  # a lone surrogate cannot crash the comparison


@mock_aws
def test_both_stores_are_read_and_the_secret_wins() -> None:
    boto3.client("secretsmanager").create_secret(Name="s", SecretString=KEY)
    boto3.client("ssm").put_parameter(Name="/p", Value="parameter-key", Type="SecureString")
    assert read_stored_key(secret_name="s", parameter_name="/p", client_for=boto3.client) == KEY.encode()
    assert read_stored_key(secret_name=None, parameter_name="/p", client_for=boto3.client) == b"parameter-key"
    boto3.client("secretsmanager").create_secret(Name="binary", SecretBinary=KEY.encode())
    assert read_stored_key(secret_name="binary", parameter_name=None, client_for=boto3.client) == KEY.encode()


@mock_aws
def test_an_unreadable_store_names_only_the_failure_type() -> None:
    with pytest.raises(KeyUnavailableError, match=r"^ResourceNotFoundException$|^ClientError$"):
        read_stored_key(secret_name="missing", parameter_name=None, client_for=boto3.client)
    with pytest.raises(KeyUnavailableError, match="NoKeyStore"):
        read_stored_key(secret_name=None, parameter_name=None, client_for=boto3.client)


def test_library_loggers_are_held_above_debug_but_never_lowered() -> None:
    saved = {name: logging.getLogger(name).level for name in LIBRARY_LOGGERS}
    try:
        for name in LIBRARY_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)
        logging.getLogger("urllib3").setLevel(logging.ERROR)
        hold_library_loggers()
        assert logging.getLogger("botocore").level == logging.INFO
        assert logging.getLogger("botocore.parsers").getEffectiveLevel() == logging.INFO
        assert logging.getLogger("urllib3").level == logging.ERROR
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
