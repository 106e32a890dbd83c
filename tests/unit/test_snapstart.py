"""The zip flavor's SnapStart entry (app/snapstart.py): its hooks are registered and warm a real model.

``snapshot_restore_py`` exists only in Lambda's runtime and the zip flavor's layer, so a stand-in module that records
the registrations is put in ``sys.modules``; the hooks then run here exactly as Lambda would run them.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws
from support import forget_handler, fresh_handler, load_event, log_records, redirect_logs

from scripts.common.lambda_context import LocalLambdaContext

Hook = Callable[..., Any]


class FakeSnapshotRestore(ModuleType):
    """Records hooks like snapshot_restore_py does, and returns each function so it also works as a decorator."""

    def __init__(self) -> None:
        super().__init__("snapshot_restore_py")
        self.before_snapshot: list[Hook] = []
        self.after_restore: list[Hook] = []

    def register_before_snapshot(self, func: Hook, *args: Any, **kwargs: Any) -> Hook:
        self.before_snapshot.append(func)
        return func

    def register_after_restore(self, func: Hook, *args: Any, **kwargs: Any) -> Hook:
        self.after_restore.append(func)
        return func


@pytest.fixture
def fake_snapshot_restore(monkeypatch: pytest.MonkeyPatch) -> FakeSnapshotRestore:
    fake = FakeSnapshotRestore()
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", fake)
    return fake


@pytest.fixture
def snapstart_module(handler_module: ModuleType, fake_snapshot_restore: FakeSnapshotRestore) -> Iterator[ModuleType]:
    """``app.snapstart`` imported afresh over the tiny model, as at the init phase Lambda snapshots."""
    sys.modules.pop("app.snapstart", None)
    module = importlib.import_module("app.snapstart")
    yield module
    sys.modules.pop("app.snapstart", None)


def test_entry_is_the_handler_of_app_handler(snapstart_module: ModuleType, handler_module: ModuleType) -> None:
    """template.yaml's Handler app.snapstart.handler must behave exactly like the image's app.handler.handler."""
    assert snapstart_module.handler is handler_module.handler
    assert snapstart_module.services is handler_module.services


def test_hooks_are_registered_once(snapstart_module: ModuleType, fake_snapshot_restore: FakeSnapshotRestore) -> None:
    assert fake_snapshot_restore.before_snapshot == [snapstart_module.warm_up_before_snapshot]
    assert fake_snapshot_restore.after_restore == [snapstart_module.log_restore]


def test_before_snapshot_predicts_and_leaves_no_metrics(
    snapstart_module: ModuleType, fake_snapshot_restore: FakeSnapshotRestore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One real prediction runs; metrics it buffers would otherwise be flushed by every restored environment."""
    metrics = snapstart_module.metrics
    classifier = snapstart_module.services.model_state.classifier
    assert classifier is not None
    calls: list[list[str]] = []
    original_predict = classifier.predict

    def recording_predict(texts: list[str]) -> Any:
        calls.append(list(texts))
        return original_predict(texts)

    monkeypatch.setattr(classifier, "predict", recording_predict)
    for hook in fake_snapshot_restore.before_snapshot:
        hook()
    assert calls == [["warm up"]]
    assert metrics.provider.metric_set == {}
    for hook in fake_snapshot_restore.after_restore:
        hook()


def test_before_snapshot_leaves_a_failed_model_alone(
    snapstart_module: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a model the function answers 503 (like the image flavor); the hook must not fail the publication."""
    state = snapstart_module.services.model_state
    monkeypatch.setattr(state, "classifier", None)
    monkeypatch.setattr(state, "failure", "config.json is missing")
    stream = redirect_logs(monkeypatch)
    snapstart_module.warm_up_before_snapshot()  # THEN it returns instead of raising (the version still publishes)
    snapstart_module.log_restore()
    records = {record["message"]: record for record in log_records(stream.getvalue())}
    assert records["snapshot_without_model"]["reason"] == "config.json is missing"
    assert "snapshot_warmed" not in records
    assert records["restored_from_snapshot"]["model_loaded"] is False


def _status_with_key(module: ModuleType, key: str) -> int:
    event = load_event("model.json")
    event["headers"] = {**event["headers"], "x-api-key": key}
    status: int = module.handler(event, LocalLambdaContext())["statusCode"]
    return status


@mock_aws
def test_after_a_restore_the_next_request_fetches_the_key_again(
    tiny_model_dir: Path, fake_snapshot_restore: FakeSnapshotRestore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the zip flavor's init with a key required: the key is fetched, then the snapshot is taken
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    secrets.create_secret(Name="emotion-key", SecretString="key-at-publication")
    fresh_handler(monkeypatch, tiny_model_dir, backend="onnx", API_KEY_SECRET_NAME="emotion-key")
    sys.modules.pop("app.snapstart", None)
    module = importlib.import_module("app.snapstart")
    try:
        assert _status_with_key(module, "key-at-publication") == 200
        for hook in fake_snapshot_restore.before_snapshot:
            hook()
        # WHEN the key is rotated while the snapshot waits (well within API_KEY_CACHE_SECONDS), then it is restored
        secrets.put_secret_value(SecretId="emotion-key", SecretString="rotated-key")
        for hook in fake_snapshot_restore.after_restore:
            hook()
        # THEN the restored environment's first request reads the store: the new key works, the old one no longer
        assert _status_with_key(module, "rotated-key") == 200
        assert _status_with_key(module, "key-at-publication") == 401
    finally:
        sys.modules.pop("app.snapstart", None)
        forget_handler()
