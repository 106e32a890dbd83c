"""The web framework's import, without the cost of the OpenAPI models only ``GET /openapi.json`` uses.

FastAPI defines some sixty pydantic models describing an OpenAPI document, and pydantic builds each one's
validator and serializer when the class is defined: about 30 ms of every cold start (docs/cold-start.md), for a
schema only the key-protected ``/openapi.json`` route renders. Imported here with pydantic's ``defer_build`` on, those
models are built the first time that route asks for them; every model defined before or after (the request and
response schemas, validated on every request) is built as usual.

Adding a route asks whether its types are pydantic v1 models, and answering imports ``pydantic.v1`` (about 16 ms):
while nothing has imported that module, no v1 model can exist and the answer is no without it.
"""

from __future__ import annotations

import sys
from typing import Any

from pydantic._internal import _config


def import_fastapi() -> None:
    """Import FastAPI with its models' building deferred to their first use; no effect once it is imported."""
    if "fastapi" in sys.modules:
        return
    defaults = _config.config_defaults
    previous = defaults["defer_build"]
    defaults["defer_build"] = True
    try:
        import fastapi  # noqa: F401  # the import is the point
    finally:
        defaults["defer_build"] = previous
    _skip_v1_check_until_v1_is_imported()


def _skip_v1_check_until_v1_is_imported() -> None:
    from fastapi._compat import shared

    check = shared.is_pydantic_v1_model_class

    def is_pydantic_v1_model_class(cls: Any) -> bool:
        return "pydantic.v1" in sys.modules and check(cls)

    shared.is_pydantic_v1_model_class = is_pydantic_v1_model_class
