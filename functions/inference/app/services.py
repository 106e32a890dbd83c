"""What one app is built from, in one typed object on ``app.state``: the composition root puts it there."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .classifier import ModelState
from .observability import Observability
from .security import ApiKeyGuard
from .settings import Settings

_STATE_KEY = "services"


@dataclass(frozen=True)
class Services:
    """The settings, the model, the API-key guard and the logs/metrics/traces every part of one app shares."""

    settings: Settings
    model_state: ModelState
    api_key_guard: ApiKeyGuard
    observability: Observability

    def attach(self, app: Any) -> None:
        setattr(app.state, _STATE_KEY, self)


def services_of(app: Any) -> Services:
    """The services of a FastAPI app (``request.app`` in a route or dependency)."""
    services: Services = getattr(app.state, _STATE_KEY)
    return services
