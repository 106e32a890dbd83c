"""scripts/deploy/releases.py against moto: a release pinned by dev deploys the same bytes whatever is written later.

The attacker holds the dev role: it may write anything under the store's emotion-api/ prefix (artifacts and
releases), but not delete a version. Each test writes what that role could write, then runs prod's check.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from scripts.deploy import releases, stage_ops
from scripts.deploy.releases import ReleaseError

REGION = "eu-west-1"
BUCKET = "artifacts"
REPOSITORY = f"123456789012.dkr.ecr.{REGION}.amazonaws.com/emotion-api"
MANIFEST = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {"digest": "sha256:" + "a" * 64, "mediaType": "application/vnd.docker.container.image.v1+json"},
    "layers": [],
}


@pytest.fixture
def aws() -> Iterator[tuple[Any, Any]]:
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        ecr = boto3.client("ecr", region_name=REGION)
        ecr.create_repository(repositoryName="emotion-api")
        ecr.put_image(repositoryName="emotion-api", imageManifest=json.dumps(MANIFEST), imageTag="inference-0123-v1")
        yield s3, ecr


def packaged(s3: Any) -> dict[str, Any]:
    """A template as sam package leaves it: zips under emotion-api/ by key, the image by tag."""
    for name in ("authorizer", "hook", "layer"):
        s3.put_object(Bucket=BUCKET, Key=f"emotion-api/{name}", Body=f"{name} code".encode())
    return {
        "Resources": {
            "Authorizer": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": f"s3://{BUCKET}/emotion-api/authorizer"}},
            "Hook": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": f"s3://{BUCKET}/emotion-api/hook"}},
            "Layer": {"Type": "AWS::Serverless::LayerVersion", "Properties": {"ContentUri": f"s3://{BUCKET}/emotion-api/layer"}},
            "Inference": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"PackageType": "Image", "ImageUri": f"{REPOSITORY}:inference-0123-v1"},
            },
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {}},
        }
    }  # fmt: skip


def pinned_release(s3: Any, ecr: Any, tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "packaged.yaml"
    path.write_text(json.dumps(packaged(s3)))
    sha256, count = releases.pin_file(path, s3, ecr)
    assert count == 3
    return path, sha256


def test_dev_pins_every_zip_by_version_and_the_image_by_digest(aws: tuple[Any, Any], tmp_path: Path) -> None:
    s3, ecr = aws
    path, sha256 = pinned_release(s3, ecr, tmp_path)
    template = json.loads(path.read_bytes())
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha256
    code = template["Resources"]["Authorizer"]["Properties"]["CodeUri"]
    assert set(code) == {"Bucket", "Key", "Version"} and code["Version"]
    image = template["Resources"]["Inference"]["Properties"]["ImageUri"]
    assert image.startswith(f"{REPOSITORY}@sha256:") and ":inference" not in image
    recorded = template["Metadata"]["EmotionApiRelease"]["artifacts"]
    assert {item["resource"] for item in recorded} == {"Authorizer", "Hook", "Layer"}
    assert recorded[0]["sha256"] == hashlib.sha256(b"authorizer code").hexdigest()
    # and prod's check passes it, naming what it deploys
    lines = releases.verify(path.read_bytes(), s3, sha256)
    assert len(lines) == 5 and "(as dev reported)" in lines[0]


def test_an_artifact_overwritten_after_the_release_changes_nothing_it_deploys(
    aws: tuple[Any, Any], tmp_path: Path
) -> None:
    s3, ecr = aws
    path, sha256 = pinned_release(s3, ecr, tmp_path)
    # the dev role writes other code under the authorizer's key
    s3.put_object(Bucket=BUCKET, Key="emotion-api/authorizer", Body=b"let everyone in")
    releases.verify(path.read_bytes(), s3, sha256)  # still the pinned version: what deploys is unchanged
    template = json.loads(path.read_bytes())
    version = template["Resources"]["Authorizer"]["Properties"]["CodeUri"]["Version"]
    body = s3.get_object(Bucket=BUCKET, Key="emotion-api/authorizer", VersionId=version)["Body"].read()
    assert body == b"authorizer code"


def test_a_release_pointed_at_the_swapped_artifact_is_refused(aws: tuple[Any, Any], tmp_path: Path) -> None:
    s3, ecr = aws
    path, sha256 = pinned_release(s3, ecr, tmp_path)
    swapped = s3.put_object(Bucket=BUCKET, Key="emotion-api/authorizer", Body=b"let everyone in")["VersionId"]
    template = json.loads(path.read_bytes())
    template["Resources"]["Authorizer"]["Properties"]["CodeUri"]["Version"] = swapped
    for item in template["Metadata"]["EmotionApiRelease"]["artifacts"]:
        if item["resource"] == "Authorizer":
            item["version"] = swapped  # the recorded sha256 left as it was
    forged = json.dumps(template).encode()
    # with dev's sha256 (the pipeline): the template itself no longer matches
    with pytest.raises(ReleaseError, match="it was replaced"):
        releases.verify(forged, s3, sha256)
    # without it (a hand promote given no RELEASE_SHA256): the artifact's bytes do not match what was recorded
    with pytest.raises(ReleaseError, match=r"Authorizer: .* has sha256 .* the release recorded .*: refused"):
        releases.verify(forged, s3)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda t: t["Resources"]["Hook"]["Properties"].update(CodeUri=f"s3://{BUCKET}/emotion-api/hook"),
            "without an S3 version",
        ),
        (lambda t: t["Resources"]["Hook"]["Properties"]["CodeUri"].pop("Version"), "without an S3 version"),
        (lambda t: t["Resources"]["Inference"]["Properties"].update(ImageUri=f"{REPOSITORY}:latest"), "by tag"),
        (lambda t: t["Metadata"]["EmotionApiRelease"]["artifacts"].pop(), "which no pin of the release records"),
    ],
    ids=["by-key", "version-dropped", "image-by-tag", "pin-dropped"],
)
def test_an_unpinned_release_is_refused(aws: tuple[Any, Any], tmp_path: Path, change: Any, message: str) -> None:
    s3, ecr = aws
    path, _ = pinned_release(s3, ecr, tmp_path)
    template = json.loads(path.read_bytes())
    change(template)
    with pytest.raises(ReleaseError, match=message):
        releases.verify(json.dumps(template).encode(), s3)


def test_a_release_made_before_pinning_is_refused_and_says_why(aws: tuple[Any, Any]) -> None:
    s3, _ = aws
    with pytest.raises(ReleaseError, match="made before releases were pinned"):
        releases.verify(b"Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n", s3)


def test_make_promotes_check_fails_the_command_with_the_reason(aws: tuple[Any, Any], tmp_path: Path) -> None:
    s3, ecr = aws
    path, sha256 = pinned_release(s3, ecr, tmp_path)
    clients = lambda name: s3  # noqa: E731
    assert stage_ops.verify_release(path, clients, sha256)
    with pytest.raises(stage_ops.StageError, match=r"packaged\.yaml: the release template's sha256"):
        stage_ops.verify_release(path, clients, "0" * 64)
