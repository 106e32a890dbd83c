"""The deployment's API key, one way everywhere: read from its store and cached, taken from a request, compared,
kept out of logs.

The authorizer, the inference function and the pre-traffic hook all import this one module, so the gateway, the
function and the deployment check can never disagree on what a key is: the zip functions get it from a layer
(template.yaml: ApiKeyLayer, /opt/python/apikey.py), the image copies the same file beside ``app/``. Standard
library only; boto3 clients are passed in.

A key is one to 256 visible ASCII characters (``!`` to ``~``). A request presents it in ``x-api-key`` or as
``Authorization: Bearer <key>`` (the scheme in any case, one or more spaces after it, as RFC 9110 allows);
``x-api-key`` wins when it is not empty. Anything else (another scheme, whitespace around or inside the key, a
non-ASCII character, an empty value) presents no key. Gateways and HTTP stacks decode non-ASCII header bytes
differently, so allowing them would let one layer accept what another refuses.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "API_KEY_HEADER",
    "STORE_VARIABLES",
    "KeyStore",
    "KeyUnavailableError",
    "expected_key",
    "hold_library_loggers",
    "is_match",
    "presented_key",
    "read_stored_key",
]

#: The header that carries the key; ``Authorization: Bearer`` is the other form.
API_KEY_HEADER = "x-api-key"
#: The variables naming the key's store: a Secrets Manager secret (wins) or an SSM SecureString parameter.
STORE_VARIABLES = ("API_KEY_SECRET_NAME", "API_KEY_PARAMETER_NAME")
#: Libraries that log whole AWS responses (a GetSecretValue answer holds the key) at DEBUG.
LIBRARY_LOGGERS = ("boto3", "botocore", "s3transfer", "urllib3")

_KEY = re.compile(r"[!-~]{1,256}")
_BEARER = re.compile(r"bearer +(?P<token>\S+)", re.IGNORECASE)


class KeyUnavailableError(Exception):
    """Raised when a key store is configured but cannot be read, or holds no valid key."""


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key a request presents, or None when it presents none (see the module's rules).

    Example
    -------
    >>> presented_key({"Authorization": "Bearer abc"})
    'abc'
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    api_key = lowered.get(API_KEY_HEADER, "")
    if api_key:
        return api_key if _KEY.fullmatch(api_key) else None
    bearer = _BEARER.fullmatch(lowered.get("authorization", ""))
    if bearer is None or not _KEY.fullmatch(bearer["token"]):
        return None
    return bearer["token"]


def expected_key(value: str | bytes | None) -> bytes:
    """The stored value as the key to compare with; KeyUnavailableError when it is no valid key (fail closed).

    Example
    -------
    >>> expected_key(" s3cret\\n")
    b's3cret'
    """
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else (value or "")
    key = text.strip()
    if not key:
        raise KeyUnavailableError("EmptyKey")
    if not _KEY.fullmatch(key):
        raise KeyUnavailableError("InvalidKey")
    return key.encode("ascii")


def is_match(presented: str | None, expected: bytes) -> bool:
    """Whether a presented key is the expected one, in constant time."""
    candidate = (presented or "").encode("utf-8", "surrogateescape")
    return hmac.compare_digest(candidate, expected)


def read_stored_key(*, secret_name: str | None, parameter_name: str | None, client_for: Callable[[str], Any]) -> bytes:
    """Fetch the key from its store: the secret when named, else the SSM parameter.

    ``client_for(service)`` returns a boto3 client for ``"secretsmanager"`` or ``"ssm"``. Any failure of the store
    raises KeyUnavailableError carrying only the failure's type, never its text.
    """
    try:
        if secret_name:
            response = client_for("secretsmanager").get_secret_value(SecretId=secret_name)
            value = response.get("SecretString")
            if value is None:
                value = bytes(response["SecretBinary"])
        elif parameter_name:
            response = client_for("ssm").get_parameter(Name=parameter_name, WithDecryption=True)
            value = str(response["Parameter"]["Value"])
        else:
            raise KeyUnavailableError("NoKeyStore")
    except KeyUnavailableError:
        raise
    except Exception as exc:  # whatever the store's failure, the answer is "cannot tell", never "allowed"
        raise KeyUnavailableError(type(exc).__name__) from exc
    return expected_key(value)


class KeyStore:
    """The expected key, read from its store on first use and kept for ``max_age`` seconds, then read again.

    Parameters
    ----------
    secret_name
        Secrets Manager secret (name or ARN) whose value is the key; wins over ``parameter_name``.
    parameter_name
        SSM SecureString parameter whose value is the key.
    max_age
        Seconds a fetched key is reused before it is fetched again (a rotated key is picked up within it).
    client
        A ready boto3 client for the store in use (tests pass one); the runtime's boto3 makes one on first use.
    clock
        Monotonic seconds; tests pass a fake one.

    Example
    -------
    >>> KeyStore(secret_name=None, parameter_name=None).is_configured
    False
    """

    def __init__(
        self,
        *,
        secret_name: str | None,
        parameter_name: str | None,
        max_age: float = 300,
        client: Any | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.secret_name = secret_name or None
        self.parameter_name = parameter_name or None
        self._max_age = max_age
        self._client = client
        self._clock = clock
        self._key: bytes | None = None
        self._fetched_at = 0.0

    @property
    def is_configured(self) -> bool:
        """A key source is set, so requests must carry the key."""
        return self.secret_name is not None or self.parameter_name is not None

    def expected_key(self) -> bytes:
        """The current key; raises KeyUnavailableError when it cannot be had (never returns a stale one)."""
        now = self._clock()
        if self._key is not None and now - self._fetched_at < self._max_age:
            return self._key
        self._key = None
        key = read_stored_key(
            secret_name=self.secret_name, parameter_name=self.parameter_name, client_for=self._store_client
        )
        self._key, self._fetched_at = key, now
        return self._key

    def forget(self) -> None:
        """Drop the cached key, so the next ``expected_key`` reads the store again.

        A SnapStart snapshot is taken after init: a key fetched then would be written into the snapshot and reused,
        however old, by every environment restored from it.
        """
        self._key, self._fetched_at = None, 0.0

    def _store_client(self, service: str) -> Any:
        if self._client is None:
            import boto3  # the runtime's; imported on first use so a cold start that never needs it skips it

            self._client = boto3.client(service)
        return self._client


def hold_library_loggers(level: int = logging.INFO) -> None:
    """Keep the AWS SDK's and urllib3's loggers at ``level`` or above, whatever the root logger's level.

    The Lambda runtime sets the root logger to the function's log level; at DEBUG botocore would then log every
    response body, the key store's answer included. Called at import by each function's entry module.
    """
    for name in LIBRARY_LOGGERS:
        library_logger = logging.getLogger(name)
        library_logger.setLevel(max(level, library_logger.level))  # an own level of NOTSET (0) would follow root
