"""The web framework's import, without the cost of the OpenAPI models only ``GET /openapi.json`` uses.

FastAPI defines some sixty pydantic models describing an OpenAPI document, and pydantic builds each one's
validator and serializer when the class is defined: about 30 ms of every cold start (docs/cold-start.md), for a
schema only the key-protected ``/openapi.json`` route renders. Imported here with pydantic's ``defer_build`` on, those
models are built the first time that route asks for them; every model defined before or after (the request and
response schemas, validated on every request) is built as usual.
"""

from __future__ import annotations

import sys

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
