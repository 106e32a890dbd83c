"""A release that names its artifacts by content: pinned when dev packages it, verified before prod deploys it.

``sam package`` leaves ``s3://bucket/key`` for each zip (the authorizer, the hook, the layers) and ``repo:tag`` for
the image. A key can be written again by anyone allowed to write it, and a packaged template that names a key deploys
whatever the key holds on the day. So dev's job pins the template right after packaging:

- each S3 artifact becomes ``{Bucket, Key, Version}`` (SAM's form of a versioned object: the bucket is versioned,
  and a version never changes), with the sha256 of that version recorded in the template's ``Metadata``;
- each image becomes ``repo@sha256:<digest>``.

The template's own sha256 then covers every byte the release deploys. Before prod deploys it (the pipeline, and
``make promote`` / ``make rollback``), ``verify`` refuses a template that differs from the sha256 dev reported, names
an artifact without its version or an image without its digest, or whose recorded sha256 differs from the bytes of
that version in S3.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.common.sam_template import load_template

#: Where the pins are recorded in the template.
METADATA_KEY = "EmotionApiRelease"
#: The properties of SAM resources that name an artifact in S3 (sam package's uploads).
S3_PROPERTIES = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Serverless::StateMachine": "DefinitionUri",
    "AWS::Serverless::Api": "DefinitionUri",
    "AWS::Serverless::HttpApi": "DefinitionUri",
}
S3_URI = re.compile(r"^s3://(?P<bucket>[^/]+)/(?P<key>.+)$")
IMAGE_BY_TAG = re.compile(r"^(?P<repository>[^@]+/(?P<name>[^/:@]+)):(?P<tag>[^/:@]+)$")
IMAGE_BY_DIGEST = re.compile(r"^[^@]+@sha256:[0-9a-f]{64}$")


class ReleaseError(Exception):
    """Raised when a release cannot be pinned, or is not what it claims to be; the message says which artifact."""


@dataclass(frozen=True)
class Pin:
    """One S3 artifact of the release, by version, with the sha256 of that version's bytes."""

    resource: str
    bucket: str
    key: str
    version: str
    sha256: str

    def record(self) -> dict[str, str]:
        return {"resource": self.resource, "bucket": self.bucket, "key": self.key, "version": self.version,
                "sha256": self.sha256}  # fmt: skip


def sha256_of_object(s3: Any, bucket: str, key: str, version: str) -> str:
    digest = hashlib.sha256()
    body = s3.get_object(Bucket=bucket, Key=key, VersionId=version)["Body"]
    for chunk in iter(lambda: body.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()


def artifacts(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], str]]:
    """(resource, its properties, property name) for every property that names an artifact (S3 or image)."""
    for name, resource in template.get("Resources", {}).items():
        props = resource.get("Properties", {})
        prop = S3_PROPERTIES.get(resource.get("Type", ""))
        if prop and prop in props and (isinstance(props[prop], dict) or S3_URI.match(str(props[prop]))):
            yield name, props, prop
        if resource.get("Type") == "AWS::Serverless::Function" and "ImageUri" in props:
            yield name, props, "ImageUri"


def pin(template: dict[str, Any], s3: Any, ecr: Any) -> list[Pin]:
    """Rewrite ``template`` in place: every S3 artifact by version, every image by digest; record the pins."""
    pins = []
    for name, props, prop in artifacts(template):
        value = props[prop]
        if prop == "ImageUri":
            props[prop] = image_by_digest(str(value), ecr)
            continue
        match = S3_URI.match(str(value)) if isinstance(value, str) else None
        if match is None:
            raise ReleaseError(f"{name}.{prop} is not an s3:// URI as sam package leaves it: {value!r}")
        bucket, key = match["bucket"], match["key"]
        version = s3.head_object(Bucket=bucket, Key=key).get("VersionId")
        if not version or version == "null":
            raise ReleaseError(f"s3://{bucket}/{key} has no version: the artifact bucket must be versioned")
        pins.append(Pin(name, bucket, key, version, sha256_of_object(s3, bucket, key, version)))
        props[prop] = {"Bucket": bucket, "Key": key, "Version": version}
    template.setdefault("Metadata", {})[METADATA_KEY] = {"artifacts": [p.record() for p in pins]}
    return pins


def image_by_digest(uri: str, ecr: Any) -> str:
    if IMAGE_BY_DIGEST.match(uri):
        return uri
    match = IMAGE_BY_TAG.match(uri)
    if match is None:
        raise ReleaseError(f"image {uri!r} is neither repository:tag nor repository@sha256:digest")
    (image,) = ecr.describe_images(repositoryName=match["name"], imageIds=[{"imageTag": match["tag"]}])["imageDetails"]
    return f"{match['repository']}@{image['imageDigest']}"


def verify(template_bytes: bytes, s3: Any, expected_sha256: str = "") -> list[str]:
    """What the release deploys, one line per artifact; ReleaseError on anything not pinned or not as recorded."""
    actual = hashlib.sha256(template_bytes).hexdigest()
    if expected_sha256 and actual != expected_sha256:
        raise ReleaseError(f"the release template's sha256 is {actual}, not {expected_sha256}: it was replaced")
    try:
        template = json.loads(template_bytes)
    except ValueError:
        raise ReleaseError("the release template is not JSON: it was made before releases were pinned") from None
    recorded = {
        (item["bucket"], item["key"], item["version"]): item["sha256"]
        for item in template.get("Metadata", {}).get(METADATA_KEY, {}).get("artifacts", [])
    }
    lines = [f"template sha256 {actual}" + (" (as dev reported)" if expected_sha256 else "")]
    for name, props, prop in artifacts(template):
        value = props[prop]
        if prop == "ImageUri":
            if not IMAGE_BY_DIGEST.match(str(value)):
                raise ReleaseError(f"{name} runs image {value!r} by tag, not by digest: not a pinned release")
            lines.append(f"{name}: image {value}")
            continue
        if not isinstance(value, dict) or not value.get("Version"):
            raise ReleaseError(f"{name}.{prop} names {value!r} without an S3 version: not a pinned release")
        where = (str(value["Bucket"]), str(value["Key"]), str(value["Version"]))
        if where not in recorded:
            where_text = f"s3://{where[0]}/{where[1]} version {where[2]}"
            raise ReleaseError(f"{name}.{prop} names {where_text}, which no pin of the release records")
        found = sha256_of_object(s3, *where)
        if found != recorded[where]:
            raise ReleaseError(
                f"{name}: s3://{where[0]}/{where[1]} version {where[2]} has sha256 {found}, the release recorded "
                f"{recorded[where]}: refused"
            )
        lines.append(f"{name}: s3://{where[0]}/{where[1]} version {where[2]} sha256 {found[:12]}")
    return lines


def pin_file(path: Path, s3: Any, ecr: Any) -> tuple[str, int]:
    """Pin the packaged template at ``path`` in place (JSON, which YAML readers read too): its sha256, the pins."""
    template = load_template(path)
    pins = pin(template, s3, ecr)
    data = (json.dumps(template, indent=1, sort_keys=False) + "\n").encode()
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest(), len(pins)
