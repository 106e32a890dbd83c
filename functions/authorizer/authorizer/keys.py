"""Where the deployment's API key lives: a Secrets Manager secret or an SSM SecureString, read through boto3 and cached.

The same variables as the inference function (``API_KEY_SECRET_NAME``, ``API_KEY_PARAMETER_NAME``,
``API_KEY_CACHE_SECONDS``; template.yaml sets them once, in Globals), so the gateway and the function always check
the same key. Reading and checking the stored value is the shared ``apikey`` module's, as in the function and the
pre-traffic hook. Fails closed: a store that cannot be read, or that holds no valid key, raises KeyUnavailableError.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from apikey import STORE_VARIABLES, read_stored_key

CACHE_SECONDS_ENV = "API_KEY_CACHE_SECONDS"
#: As in the function's settings: a rotated key is picked up within five minutes.
DEFAULT_CACHE_SECONDS = 300


class KeyStore:
    """The expected key, fetched on first use and kept for ``max_age`` seconds.

    Parameters
    ----------
    secret_name
        Secrets Manager secret (name or ARN) whose value is the key; wins over ``parameter_name``.
    parameter_name
        SSM SecureString parameter whose value is the key.
    max_age
        Seconds a fetched key is reused before it is fetched again.
    client
        A ready boto3 client for the store in use (tests pass one); created on first use otherwise.
    clock
        Monotonic seconds; tests pass a fake one.

    Example
    -------
    >>> store = KeyStore(secret_name=None, parameter_name=None)
    >>> store.is_configured
    False
    """

    def __init__(
        self,
        *,
        secret_name: str | None,
        parameter_name: str | None,
        max_age: float = DEFAULT_CACHE_SECONDS,
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

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], *, client: Any | None = None) -> KeyStore:
        """The store the function's variables name; a bad API_KEY_CACHE_SECONDS fails naming the variable."""
        raw_max_age = environ.get(CACHE_SECONDS_ENV, "").strip() or str(DEFAULT_CACHE_SECONDS)
        try:
            max_age = int(raw_max_age)
        except ValueError:
            raise ValueError(f"{CACHE_SECONDS_ENV} must be a whole number of seconds, not {raw_max_age!r}") from None
        if max_age < 0:
            raise ValueError(f"{CACHE_SECONDS_ENV} must not be negative")
        return cls(
            secret_name=environ.get(STORE_VARIABLES[0], "").strip(),
            parameter_name=environ.get(STORE_VARIABLES[1], "").strip(),
            max_age=max_age,
            client=client,
        )

    @property
    def is_configured(self) -> bool:
        """A key source is set, so requests must carry the key."""
        return self.secret_name is not None or self.parameter_name is not None

    def expected_key(self) -> bytes:
        """The current key as bytes; raises KeyUnavailableError when it cannot be had (never returns a stale one)."""
        now = self._clock()
        if self._key is not None and now - self._fetched_at < self._max_age:
            return self._key
        self._key = None
        key = read_stored_key(
            secret_name=self.secret_name, parameter_name=self.parameter_name, client_for=self._store_client
        )
        self._key, self._fetched_at = key, now
        return self._key

    def _store_client(self, service: str) -> Any:
        if self._client is None:
            import boto3  # the runtime's; imported on first use so a cold start that never needs it skips it

            self._client = boto3.client(service)
        return self._client
