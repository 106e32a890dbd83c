"""An S3 model is downloaded once per cold start, checked, and failures become load errors, not crashes."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import boto3
import pytest
from fastapi.testclient import TestClient
from moto import mock_aws
from support import assert_error

import app.classifier
from app.api import build_app
from app.backends import ModelLoadError
from app.model_source import download_s3_model, model_digest, resolve_model_dir, sha256_of, split_s3_uri
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


#: docs/configuration.md's command for MODEL_SHA256, run in the folder that is uploaded under MODEL_S3_URI.
DIGEST_COMMAND = "find . -type f -printf '%P\\n' | LC_ALL=C sort | xargs -d '\\n' sha256sum | sha256sum"


def documented_digest(model_dir: Path) -> str:
    """MODEL_SHA256 as docs/configuration.md tells an operator to compute it."""
    result = subprocess.run(["bash", "-c", DIGEST_COMMAND], cwd=model_dir, capture_output=True, text=True, check=True)
    return result.stdout.split()[0]


def test_the_documented_command_computes_the_digest_the_function_checks(tiny_model_dir: Path) -> None:
    assert model_digest(tiny_model_dir) == documented_digest(tiny_model_dir)
    page = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert DIGEST_COMMAND in page


@mock_aws
def test_a_model_matching_model_sha256_is_loaded(tiny_model_dir: Path, tmp_path: Path) -> None:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="models")
    _upload(client, tiny_model_dir, "models", "emotion/v1")
    settings = Settings(
        model_s3_uri="s3://models/emotion/v1",
        model_sha256=documented_digest(tiny_model_dir).upper(),
        model_cache_dir=tmp_path / "cache",
    )
    model_dir, _ = resolve_model_dir(settings, s3_client=client)
    assert (model_dir / "config.json").read_bytes() == (tiny_model_dir / "config.json").read_bytes()


def _start_with_s3_model(s3: object, *, released: Path, cache: Path) -> TestClient:
    """The function started, as a new execution environment, on s3://models/emotion/v1 with MODEL_SHA256 set to
    the digest of the folder ``released``."""
    settings = Settings(
        model_s3_uri="s3://models/emotion/v1", model_sha256=documented_digest(released), model_cache_dir=cache
    )
    app.classifier.reset_model_cache()
    client = TestClient(build_app(settings, s3_client=s3), raise_server_exceptions=False)
    app.classifier.reset_model_cache()
    return client


@mock_aws
def test_a_model_changed_in_s3_is_refused_before_it_is_loaded(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the digest of the model as released, and someone who then rewrites one file under the prefix
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="models")
    _upload(client, tiny_model_dir, "models", "emotion/v1")
    config = json.loads((tiny_model_dir / "config.json").read_text())
    config["id2label"] = {index: "joy" for index in config["id2label"]}
    client.put_object(Bucket="models", Key="emotion/v1/config.json", Body=json.dumps(config).encode())
    loads: list[Path] = []
    monkeypatch.setattr(app.classifier, "load_backend", lambda kind, model_dir, **_: loads.append(model_dir))
    # WHEN the function starts; THEN nothing is loaded, the copy is not kept, and the API says the model is unavailable
    client_app = _start_with_s3_model(client, released=tiny_model_dir, cache=tmp_path / "cache")
    assert loads == []
    assert not (tmp_path / "cache").exists()
    assert_error(client_app.get("/health"), 503, "model_unavailable")
    assert_error(client_app.post("/predict", json={"text": "hi"}), 503, "model_unavailable")


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"MODEL_S3_URI": "s3://models/emotion", "MODEL_SHA256": "abc"}, "MODEL_SHA256 must be 64"),
        ({"MODEL_SHA256": "a" * 64}, "set MODEL_S3_URI too"),
    ],
)
def test_a_bad_model_sha256_fails_the_cold_start_naming_it(
    variables: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        Settings()


def _with_trust_file(tiny_model_dir: Path, target: Path) -> Path:
    """The tiny model plus a trust.json fitted for its int8 graph (temperature 2): it loads with trust_fitted true."""
    shutil.copytree(tiny_model_dir, target)
    weights = target / "model.int8.onnx"
    fitted = {"fitted_for": {weights.name: sha256_of(weights)}, "thresholds": {}, "temperature": 2.0}
    (target / "trust.json").write_text(json.dumps(fitted), encoding="utf-8")
    return target


@mock_aws
@pytest.mark.parametrize("is_forged", [False, True], ids=["as released", "trust.json hidden in a key's newline"])
def test_a_key_with_a_newline_cannot_stand_in_for_the_trust_file(
    tiny_model_dir: Path, tmp_path: Path, is_forged: bool
) -> None:
    # GIVEN a model released with its trust file, and MODEL_SHA256 set to its digest
    model_dir = _with_trust_file(tiny_model_dir, tmp_path / "released")
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="models")
    _upload(client, model_dir, "models", "emotion/v1")
    if is_forged:
        # WHEN someone with write access to the prefix folds trust.json's listing line into a key name and deletes
        # it: the listing, and so the digest, is byte for byte the released one
        forged = f"tokenizer_config.json\n{sha256_of(model_dir / 'trust.json')}  trust.json"
        client.put_object(
            Bucket="models", Key=f"emotion/v1/{forged}", Body=(model_dir / "tokenizer_config.json").read_bytes()
        )
        client.delete_object(Bucket="models", Key="emotion/v1/tokenizer_config.json")
        client.delete_object(Bucket="models", Key="emotion/v1/trust.json")
    client_app = _start_with_s3_model(client, released=model_dir, cache=tmp_path / "cache")
    health = client_app.get("/health")
    if is_forged:
        # THEN the service refuses to serve that model; nothing of it is kept for a later cold start
        assert_error(health, 503, "model_unavailable")
        assert_error(client_app.post("/predict", json={"text": "hi"}), 503, "model_unavailable")
        assert not (tmp_path / "cache").exists()
    else:
        # (and the model as released loads, calibrated by its trust file)
        assert health.status_code == 200
        assert health.json()["trust_fitted"] is True
        assert client_app.post("/predict", json={"text": "hi"}).status_code == 200


def test_the_digest_refuses_a_file_name_that_could_forge_a_listing_line(tiny_model_dir: Path, tmp_path: Path) -> None:
    # GIVEN a model folder in which one file's name holds a newline (however it got there)
    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    (model_dir / "config.json").rename(model_dir / f"config.json\n{'0' * 64}  trust.json")
    # WHEN its digest is taken; THEN it is refused rather than computed over an ambiguous listing
    with pytest.raises(ModelLoadError, match="control character"):
        model_digest(model_dir)
