"""Where the model comes from: the baked directory, or an S3 prefix downloaded once per cold start.

With MODEL_SHA256 set, a model from S3 is loaded only when its digest matches (``model_digest``): the sha256 of the
``sha256sum`` listing of every file, paths relative to the prefix, sorted by byte value. docs/configuration.md's
"Model digest" gives the one shell command that computes it from the folder uploaded.

The listing is read back unambiguously only while no name holds a line break: S3 keys may, and a key
``tokenizer_config.json\n<sha of trust.json>  trust.json`` once stood in for two files, so that trust.json could be
deleted without changing the digest (issue 36, finding 1). A name with a control character or a backslash (which
``sha256sum`` escapes) is refused before anything is downloaded, and again by ``model_digest``.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .backends import ModelLoadError
from .settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any

__all__ = [
    "S3_RETRIES",
    "S3Client",
    "download_s3_model",
    "is_listable_name",
    "model_digest",
    "resolve_model_dir",
    "sha256_of",
    "split_s3_uri",
]

#: Bounded retries: a cold start must give up in seconds, not hang until the Lambda timeout.
S3_RETRIES = {"max_attempts": 3, "mode": "standard"}
_COMPLETE_MARKER = ".complete"


def resolve_model_dir(settings: Settings, *, s3_client: S3Client | None = None) -> tuple[Path, str]:
    """Return the local model directory and a description of its source."""
    if settings.model_s3_uri is None:
        return settings.model_path, str(settings.model_path)
    model_dir = download_s3_model(settings.model_s3_uri, settings.model_cache_dir, s3_client=s3_client)
    if settings.model_sha256 is not None and model_digest(model_dir) != settings.model_sha256:
        # Fail closed, and keep no copy a later cold start could reuse.
        shutil.rmtree(model_dir, ignore_errors=True)
        raise ModelLoadError(f"the model under {settings.model_s3_uri} does not match MODEL_SHA256")
    return model_dir, settings.model_s3_uri


def model_digest(model_dir: Path) -> str:
    """The digest MODEL_SHA256 is compared with: sha256 of ``sha256sum``'s listing of every file in ``model_dir``.

    One line per file, ``<hex sha256>  <path>\n``, paths relative to ``model_dir`` with ``/``, sorted by their UTF-8
    bytes (``LC_ALL=C sort``); the download's own marker is not part of the model. The same as
    ``cd DIR && find . -type f -printf '%P\n' | LC_ALL=C sort | xargs -d '\n' sha256sum | sha256sum``.
    """
    files = sorted(
        (path.relative_to(model_dir).as_posix() for path in model_dir.rglob("*") if path.is_file()),
        key=lambda name: name.encode("utf-8"),
    )
    listing = hashlib.sha256()
    for name in files:
        if name == _COMPLETE_MARKER:
            continue
        if not is_listable_name(name):
            raise ModelLoadError("a model file name holds a control character or a backslash")
        listing.update(f"{sha256_of(model_dir / name)}  {name}\n".encode())
    return listing.hexdigest()


def is_listable_name(name: str) -> bool:
    """Whether a file name gives exactly one line of the digest's listing, the same one ``sha256sum`` writes.

    A control character (a newline above all) could forge further lines; ``sha256sum`` escapes a backslash.
    """
    return bool(name) and not any(char == "\\" or unicodedata.category(char) == "Cc" for char in name)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file: about 10 ms for the bundled 22 MB graph."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> (``bucket``, ``some/prefix/``)."""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


def download_s3_model(uri: str, cache_dir: Path, *, s3_client: S3Client | None = None) -> Path:
    """Copy every object under the prefix into ``cache_dir``; reuse a complete earlier copy of the same URI."""
    marker = cache_dir / _COMPLETE_MARKER
    if marker.is_file() and marker.read_text(encoding="utf-8") == uri:
        return cache_dir
    client = s3_client or _default_client()
    bucket, prefix = split_s3_uri(uri)
    from botocore.exceptions import BotoCoreError, ClientError

    cache_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="model-", dir=cache_dir.parent))
    try:
        keys = [
            item["Key"]
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", [])
            if not item["Key"].endswith("/")
        ]
        if not keys:
            raise ModelLoadError(f"no objects under {uri}")
        if not all(is_listable_name(key[len(prefix) :]) for key in keys):
            raise ModelLoadError(
                f"refusing the model under {uri}: an object key holds a control character or a backslash"
            )
        for key in keys:
            relative = Path(key[len(prefix) :])
            if relative.is_absolute() or ".." in relative.parts:
                raise ModelLoadError(f"refusing object key outside the prefix: {key}")
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(bucket, key, str(target))
        shutil.rmtree(cache_dir, ignore_errors=True)
        staging.rename(cache_dir)
        marker.write_text(uri, encoding="utf-8")
    except (BotoCoreError, ClientError, OSError) as exc:
        raise ModelLoadError(f"could not download the model from {uri}: {type(exc).__name__}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return cache_dir


def _default_client() -> S3Client:
    import boto3
    from botocore.config import Config

    # A copy: botocore rewrites the retries dict in place (max_attempts -> total_max_attempts).
    return boto3.client("s3", config=Config(retries=dict(S3_RETRIES), connect_timeout=5, read_timeout=30))
