"""An S3 model is downloaded once per cold start, checked, and failures become load errors, not crashes."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from app.backends import ModelLoadError
from app.model_source import download_s3_model, resolve_model_dir, split_s3_uri
from app.settings import Settings


def _upload(client: object, directory: Path, bucket: str, prefix: str) -> None:
    for path in directory.iterdir():
        client.upload_file(str(path), bucket, f"{prefix}/{path.name}")  # type: ignore[attr-defined]


def test_split_s3_uri() -> None:
    assert split_s3_uri("s3://bucket/models/emotion/") == ("bucket", "models/emotion/")
    assert split_s3_uri("s3://bucket") == ("bucket", "")


@mock_aws
def test_downloads_every_file_under_the_prefix_once(tiny_model_dir: Path, tmp_path: Path) -> None:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="models")
    _upload(client, tiny_model_dir, "models", "emotion/v1")
    client.put_object(Bucket="models", Key="emotion/v2/config.json", Body=b"{}")
    cache = tmp_path / "cache"
    settings = Settings(model_s3_uri="s3://models/emotion/v1", model_cache_dir=cache)

    model_dir, source = resolve_model_dir(settings, s3_client=client)

    assert source == "s3://models/emotion/v1"
    assert sorted(p.name for p in model_dir.iterdir() if p.name != ".complete") == sorted(
        p.name for p in tiny_model_dir.iterdir()
    )
    # A second resolve in the same environment reuses the copy: deleting the bucket's objects does not matter.
    client.delete_object(Bucket="models", Key="emotion/v1/config.json")
    assert resolve_model_dir(settings, s3_client=client)[0] == model_dir


@mock_aws
def test_an_empty_prefix_is_a_load_error(tmp_path: Path) -> None:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="models")
    with pytest.raises(ModelLoadError, match="no objects"):
        download_s3_model("s3://models/missing", tmp_path / "cache", s3_client=client)


@mock_aws
def test_a_missing_bucket_is_a_load_error(tmp_path: Path) -> None:
    client = boto3.client("s3", region_name="us-east-1")
    with pytest.raises(ModelLoadError, match="could not download"):
        download_s3_model("s3://no-such-bucket/model", tmp_path / "cache", s3_client=client)
    assert not (tmp_path / "cache").exists()
