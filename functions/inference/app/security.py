"""Optional API-key check: the key lives in Secrets Manager or SSM, read and cached by the shared ``apikey.KeyStore``.

What a valid stored key is and how a presented one compares are the shared ``apikey`` module's (also the
authorizer's and the pre-traffic hook's). Fails closed: when a key source is configured but cannot be read, or holds
no valid key, requests are refused, never let through.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from apikey import KeyStore, KeyUnavailableError, is_match

from .settings import Settings

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

__all__ = ["ApiKeyGuard", "KeyUnavailableError"]


class ApiKeyGuard:
    """Knows whether a key is required and compares presented keys in constant time; never logs a key."""

    def __init__(self, settings: Settings, *, logger: Logger | None = None, boto3_client: Any | None = None) -> None:
        if logger is None:
            from aws_lambda_powertools import Logger

            logger = Logger(service=settings.service_name)
        self._logger = logger
        self._store = KeyStore(
            secret_name=settings.api_key_secret_name,
            parameter_name=settings.api_key_parameter_name,
            max_age=settings.api_key_cache_seconds,
            client=boto3_client,
        )
        self.last_failure: str | None = None

    @property
    def is_required(self) -> bool:
        return self._store.is_configured

    def _expected_key(self) -> bytes:
        """The current key, kept for API_KEY_CACHE_SECONDS so a rotation is picked up."""
        try:
            key = self._store.expected_key()
        except KeyUnavailableError as exc:
            self.last_failure = str(exc)
            self._logger.error("api_key_unavailable", extra={"reason": self.last_failure})
            raise
        except Exception as exc:  # any failure of the key store must deny, whatever its type
            self.last_failure = type(exc).__name__
            self._logger.error("api_key_unavailable", extra={"reason": self.last_failure})
            raise KeyUnavailableError(self.last_failure) from exc
        self.last_failure = None
        return key

    def warm(self) -> None:
        """Fetch the key during init, so the first request does not pay for it; failures are retried per request."""
        if self.is_required:
            with contextlib.suppress(KeyUnavailableError):
                self._expected_key()

    def forget_key(self) -> None:
        """Drop the cached key: the next request that needs it fetches it again (SnapStart's hooks call this)."""
        self._store.forget()

    def is_valid(self, presented: str | None) -> bool:
        """True when no key is required or ``presented`` matches; raises KeyUnavailableError if it can't tell."""
        if not self.is_required:
            return True
        return is_match(presented, self._expected_key())
