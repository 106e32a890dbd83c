"""The authorizer's key store, from the same variables as the inference function; the store itself is ``apikey``'s.

The same variables as the inference function (``API_KEY_SECRET_NAME``, ``API_KEY_PARAMETER_NAME``,
``API_KEY_CACHE_SECONDS``; template.yaml sets them once, in Globals), so the gateway and the function always check
the same key. Reading and checking the stored value is the shared ``apikey`` module's, as in the function and the
pre-traffic hook. Fails closed: a store that cannot be read, or that holds no valid key, raises KeyUnavailableError.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apikey import STORE_VARIABLES, KeyStore

CACHE_SECONDS_ENV = "API_KEY_CACHE_SECONDS"
#: As in the function's settings: a rotated key is picked up within five minutes.
DEFAULT_CACHE_SECONDS = 300


def store_from_environ(environ: Mapping[str, str], *, client: Any | None = None) -> KeyStore:
    """The store the function's variables name; a bad API_KEY_CACHE_SECONDS fails naming the variable."""
    raw_max_age = environ.get(CACHE_SECONDS_ENV, "").strip() or str(DEFAULT_CACHE_SECONDS)
    try:
        max_age = int(raw_max_age)
    except ValueError:
        raise ValueError(f"{CACHE_SECONDS_ENV} must be a whole number of seconds, not {raw_max_age!r}") from None
    if max_age < 0:
        raise ValueError(f"{CACHE_SECONDS_ENV} must not be negative")
    return KeyStore(
        secret_name=environ.get(STORE_VARIABLES[0], "").strip(),
        parameter_name=environ.get(STORE_VARIABLES[1], "").strip(),
        max_age=max_age,
        client=client,
    )
