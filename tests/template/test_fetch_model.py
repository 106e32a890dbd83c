"""functions/inference/fetch_model.py, the image build's model fetcher, with the Hub replaced by fakes.

A floating revision would make two builds of the same commit ship different weights, so the
refusals are tested here rather than discovered in a Docker build.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import huggingface_hub
import pytest

ROOT = Path(__file__).resolve().parents[2]

# Beside the Dockerfile, not in a package: the image's build stage runs it as a file.
_SPEC = importlib.util.spec_from_file_location("fetch_model", ROOT / "functions" / "inference" / "fetch_model.py")
assert _SPEC is not None and _SPEC.loader is not None
fetch_model = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(fetch_model)

SHA = "0123456789abcdef0123456789abcdef01234567"


class FakeApi:
    """Stands in for huggingface_hub.HfApi: one branch ``main`` and one tag ``v1``."""

    def list_repo_refs(self, repo_id: str) -> SimpleNamespace:
        """The repository's branches and tags."""
        return SimpleNamespace(branches=[SimpleNamespace(name="main")], tags=[SimpleNamespace(name="v1")])

    def model_info(self, repo_id: str, revision: str) -> SimpleNamespace:
        """The commit a revision points at."""
        return SimpleNamespace(sha=SHA)


def fake_snapshot(config: dict[str, Any]) -> Any:
    """A snapshot_download that writes ``config`` and a weights file into local_dir."""

    def snapshot_download(repo_id: str, *, revision: str, local_dir: Path, allow_patterns: list[str]) -> str:
        assert revision == SHA  # always downloads the resolved commit, never the moving name
        assert "*.safetensors" in allow_patterns and not any(p.endswith(".bin") for p in allow_patterns)
        (local_dir / "config.json").write_text(json.dumps(config), encoding="utf-8")
        (local_dir / "model.safetensors").write_bytes(b"weights")
        (local_dir / ".cache").mkdir()
        return str(local_dir)

    return snapshot_download


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    """No network: the script imports these names from huggingface_hub when it runs."""
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot({"id2label": {"0": "joy", "1": "fear"}}))


@pytest.mark.parametrize(("revision", "expected"), [(SHA, True), ("main", False), (SHA[:7], False), ("v1", False)])
def test_is_commit_sha(revision: str, expected: bool) -> None:
    """Only a full commit id counts as a sha; a short one could become ambiguous."""
    assert fetch_model.is_commit_sha(revision) is expected


@pytest.mark.parametrize("revision", ["", "   "])
def test_missing_revision_is_refused(revision: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The Dockerfile passes an empty MODEL_REVISION when none was given: that must fail the build."""
    assert fetch_model.main(["--model-id", "org/model", "--revision", revision, "--output", str(tmp_path)]) == 1
    assert "a revision is required" in capsys.readouterr().err


@pytest.mark.usefixtures("fake_hub")
def test_branch_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A branch floats; the error names the tags that may be used instead."""
    assert fetch_model.main(["--model-id", "org/model", "--revision", "main", "--output", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert "branch" in error and "v1" in error


@pytest.mark.usefixtures("fake_hub")
@pytest.mark.parametrize("revision", [SHA, "v1"])
def test_sha_or_tag_is_fetched(revision: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A sha or a tag downloads that commit, drops the download cache and reports what it got."""
    output = tmp_path / "model"
    assert fetch_model.main(["--model-id", "org/model", "--revision", revision, "--output", str(output)]) == 0
    assert sorted(p.name for p in output.iterdir()) == ["config.json", "model.safetensors"]
    printed = capsys.readouterr().out
    assert SHA in printed and "model.safetensors" in printed and '"1": "fear"' in printed


def test_model_without_labels_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A config without id2label is not a classifier the API could serve."""
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot({"architectures": ["DistilBertModel"]}))
    with pytest.raises(fetch_model.FetchError, match="id2label"):
        fetch_model.fetch("org/model", SHA, tmp_path)
