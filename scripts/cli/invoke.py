"""Push sample events through the real Lambda handler in-process: `sam local invoke -e` without Docker.

    python -m scripts.cli.invoke events/predict.json [events/health.json ...] [--pretty]

Prints each Lambda response as JSON, exactly what the function returns to API Gateway. Configuration comes
from the same environment variables the function reads (MODEL_PATH, MODEL_S3_URI, ...).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from scripts.common.lambda_context import LocalLambdaContext


def invoke(event: Any) -> Any:
    """Run one event through ``app.handler.handler`` (imported on first use, like a cold start).

    The function's logs and metrics go to stderr, so stdout carries only the responses, as with SAM.
    """
    with contextlib.redirect_stdout(sys.stderr):
        from app.handler import handler

        return handler(event, LocalLambdaContext())


def _pretty(response: Any) -> Any:
    """Decode a JSON body in place so the prediction is readable."""
    if isinstance(response, dict) and isinstance(response.get("body"), str):
        try:
            return {**response, "body": json.loads(response["body"])}
        except ValueError:
            return response
    return response


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("events", nargs="+", type=Path, help="event JSON files, e.g. events/predict.json")
    parser.add_argument("--pretty", action="store_true", help="decode JSON bodies and indent the output")
    args = parser.parse_args(argv)
    for path in args.events:
        try:
            event = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            parser.error(f"{path}: not a readable JSON event ({exc})")
        response = invoke(event)
        if args.pretty:
            print(f"# {path}", file=sys.stderr)
            print(json.dumps(_pretty(response), indent=2, ensure_ascii=False))
        else:
            print(json.dumps(response, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
