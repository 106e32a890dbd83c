"""template.yaml as SAM deploys it: parsed with its intrinsic-function tags, each function over its Globals.

The template tests and the image tooling (scripts/perf/lambda_image.py) read the template through here, so both see
the same effective function settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


class TemplateError(ValueError):
    """Raised when template.yaml does not parse or cfn-lint's decoder reports problems in it."""


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template with !Ref, !Sub, !If ... loaded as their JSON forms (cfn-lint's decoder)."""
    from cfnlint.decode import decode_str

    parsed, matches = decode_str(path.read_text(encoding="utf-8"))
    if parsed is None or matches:
        raise TemplateError(f"{path}: " + "; ".join(str(match) for match in matches))
    return dict(parsed)


def merged(base: Any, override: Any) -> Any:
    """SAM's Globals rule: maps merge key by key (the function's value wins), anything else is replaced."""
    if isinstance(base, dict) and isinstance(override, dict) and not any(k.startswith("Fn::") for k in override):
        return {key: merged(base[key], override[key]) if key in base else override[key] for key in override} | {
            key: value for key, value in base.items() if key not in override
        }
    return override


def with_globals(template: dict[str, Any], resource: dict[str, Any]) -> dict[str, Any]:
    """A function resource as SAM deploys it: its Properties merged over the template's Globals.Function."""
    shared = template.get("Globals", {}).get("Function", {})
    return {**resource, "Properties": merged(shared, resource["Properties"])}
