#!/usr/bin/env python3
"""Fetch a Hugging Face sequence-classification model at a pinned revision.

Used only at image build time (functions/inference/Dockerfile, build args MODEL_ID and
MODEL_REVISION) to bake a model into the image instead of the bundled one. The running
function never talks to the Hub (HF_HUB_OFFLINE=1).

A revision is required and must not float: a full 40-character commit sha, or a tag of the
repository. Branch names such as "main" are refused, so the same build args always give
the same weights. Only config, tokenizer and safetensors files are downloaded (no pickled
weights, no training state).

    python functions/inference/fetch_model.py --model-id ORG/NAME --revision SHA_OR_TAG --output DIR
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

ALLOW_PATTERNS: tuple[str, ...] = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "*.safetensors",
    "*.safetensors.index.json",
)
COMMIT_SHA = re.compile(r"^[0-9a-f]{40}$")


class FetchError(Exception):
    """Raised when the requested model cannot be fetched safely."""


def is_commit_sha(revision: str) -> bool:
    """Return True for a full, lower-case 40-hex commit id (never a branch)."""
    return bool(COMMIT_SHA.fullmatch(revision))


def resolve_revision(model_id: str, revision: str) -> str:
    """Return the commit sha for ``revision``, refusing empty revisions and branches."""
    revision = revision.strip()
    if not revision:
        raise FetchError("a revision is required: a 40-character commit sha or a tag")
    from huggingface_hub import HfApi

    api = HfApi()
    if not is_commit_sha(revision):
        refs = api.list_repo_refs(model_id)
        tags = {ref.name for ref in refs.tags}
        if revision not in tags:
            branches = sorted(ref.name for ref in refs.branches)
            kind = "a branch (it floats)" if revision in branches else "not a tag"
            raise FetchError(
                f"revision {revision!r} of {model_id} is {kind}; pin a commit sha or one of the tags {sorted(tags)}"
            )
    sha = api.model_info(model_id, revision=revision).sha
    if not sha:
        raise FetchError(f"the Hub returned no commit sha for {model_id}@{revision}")
    return sha


def check_model_dir(output: Path) -> dict[str, str]:
    """Check that ``output`` holds a classifier config with labels and safetensors weights."""
    config_path = output / "config.json"
    if not config_path.is_file():
        raise FetchError(f"{config_path} is missing")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    id2label = config.get("id2label")
    if not isinstance(id2label, dict) or not id2label:
        raise FetchError("config.json has no id2label: not a classification model")
    if not any(output.glob("*.safetensors")):
        raise FetchError("no *.safetensors weights were fetched")
    return {str(key): str(value) for key, value in id2label.items()}


def fetch(model_id: str, revision: str, output: Path) -> dict[str, str]:
    """Download ``model_id`` at ``revision`` into ``output``; return its id2label."""
    from huggingface_hub import snapshot_download

    sha = resolve_revision(model_id, revision)
    output.mkdir(parents=True, exist_ok=True)
    snapshot_download(
        model_id,
        revision=sha,
        local_dir=output,
        allow_patterns=list(ALLOW_PATTERNS),
    )
    # snapshot_download keeps download metadata here; the image does not need it.
    shutil.rmtree(output / ".cache", ignore_errors=True)
    id2label = check_model_dir(output)
    print(f"Fetched {model_id} revision {revision} (commit {sha}) into {output}")
    for path in sorted(p for p in output.rglob("*") if p.is_file()):
        print(f"  {path.relative_to(output)}  {path.stat().st_size} bytes")
    print(f"  labels: {json.dumps(id2label, sort_keys=True)}")
    return id2label


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-id", required=True, help="Hugging Face model id, e.g. org/name")
    parser.add_argument(
        "--revision",
        required=True,
        help="40-character commit sha or tag (branches such as main are refused)",
    )
    parser.add_argument("--output", required=True, type=Path, help="folder to write the model to")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point: fetch the model, return a process exit code."""
    args = parse_args(argv)
    try:
        fetch(args.model_id, args.revision, args.output)
    except FetchError as exc:
        print(f"fetch_model: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
