"""What a client sees of the trust checks, top_k, the model version header and the Hugging Face interface."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from fastapi.testclient import TestClient
from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError
from moto import mock_aws
from support import LABELS, MakeClient, assert_error, serve_app

from app.api import build_app
from app.settings import Settings

BUNDLED = Path(__file__).resolve().parents[2] / "functions" / "inference" / "model"


def test_every_prediction_says_whether_to_trust_it(client: TestClient) -> None:
    single = client.post("/predict", json={"text": "I am so happy today"}).json()
    batch = client.post("/predict/batch", json={"texts": ["I am so happy today", "Ich bin sehr glücklich heute"]})
    for prediction in [single, *batch.json()["predictions"]]:
        assert isinstance(prediction["warnings"], list)
        assert prediction["reliable"] is (prediction["warnings"] == [])
    assert single["reliable"] is True
    assert batch.json()["predictions"][1]["warnings"] == ["not_english"]


@pytest.mark.parametrize("top_k", [1, 3, 6])
def test_top_k_keeps_the_most_probable_emotions(client: TestClient, top_k: int) -> None:
    full = client.post("/predict", json={"text": "I am so scared"}).json()
    single = client.post("/predict", json={"text": "I am so scared", "top_k": top_k}).json()
    batch = client.post("/predict/batch", json={"texts": ["I am so scared"], "top_k": top_k}).json()
    expected = dict(list(full["all_emotions"].items())[:top_k])
    assert single["all_emotions"] == expected == batch["predictions"][0]["all_emotions"]
    assert single["emotion"] == "fear" and single["confidence"] == full["confidence"]


@pytest.mark.parametrize("top_k", [0, 7, "2", 1.5])
def test_a_top_k_outside_1_to_6_is_refused(client: TestClient, top_k: Any) -> None:
    assert_error(client.post("/predict", json={"text": "hi there", "top_k": top_k}), 422, "invalid_input")
    assert_error(client.post("/", json={"inputs": "hi there", "parameters": {"top_k": top_k}}), 422, "invalid_input")


def test_predictions_carry_the_model_version(client: TestClient) -> None:
    revision = client.get("/model").json()["revision"]
    for response in (
        client.post("/predict", json={"text": "hello"}),
        client.post("/predict/batch", json={"texts": ["hello"]}),
        client.post("/", json={"inputs": "hello"}),
    ):
        assert response.headers["x-model-version"] == revision.removeprefix("sha256:")[:12]
    assert "x-model-version" not in client.get("/health").headers


def test_the_hub_route_answers_one_ranked_list_per_input(client: TestClient) -> None:
    one = client.post("/", json={"inputs": "I am so scared"})
    assert one.status_code == 200
    [ranked] = one.json()
    assert next(entry["label"] for entry in ranked) == "fear" and {e["label"] for e in ranked} == set(LABELS)
    scores = [entry["score"] for entry in ranked]
    assert scores == sorted(scores, reverse=True) and sum(scores) == pytest.approx(1.0)
    many = client.post("/", json={"inputs": ["I am so scared", "I love you"], "parameters": {"top_k": 2}}).json()
    assert [next(entry["label"] for entry in row) for row in many] == ["fear", "love"]
    assert [len(row) for row in many] == [2, 2]


@pytest.mark.parametrize(
    "body",
    [
        {"inputs": []},
        {"inputs": ""},
        {"inputs": 3},
        {"text": "hello"},
        {"inputs": "hello", "parameters": {"function_to_apply": "sigmoid"}},
        {"inputs": "hello", "parameters": {"temperature": 2}},
    ],
)
def test_the_hub_route_refuses_what_it_cannot_honour(client: TestClient, body: dict[str, Any]) -> None:
    assert_error(client.post("/", json=body), 422, "invalid_input")


def test_the_hub_route_keeps_the_batch_limit(make_client: MakeClient) -> None:
    client = make_client(max_batch=2)
    assert_error(client.post("/", json={"inputs": ["a b", "c d", "e f"]}), 422, "batch_too_large")


@pytest.fixture(scope="module")
def bundled_url() -> Iterator[str]:
    """``make serve``: the bundled model over a real socket."""
    from app.classifier import reset_model_cache

    reset_model_cache()
    with serve_app(build_app(Settings(model_path=BUNDLED))) as url:
        yield url
    reset_model_cache()


def test_huggingface_hubs_client_classifies_against_the_api(bundled_url: str) -> None:
    client = InferenceClient(model=f"{bundled_url}/")
    ranked = client.text_classification("I am feeling very happy today!")
    assert next(entry.label for entry in ranked) == "joy"
    assert {entry.label for entry in ranked} == set(LABELS)
    assert sum(entry.score for entry in ranked) == pytest.approx(1.0)
    top_two = client.text_classification("I'm scared to walk home alone at night.", top_k=2)
    assert next(entry.label for entry in top_two) == "fear" and len(top_two) == 2


@mock_aws
def test_the_client_token_is_accepted_as_the_api_key(
    tiny_model_dir: Path, fake_backend: str, reset_model: None
) -> None:
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    secrets.create_secret(Name="emotion/api-key", SecretString="k3y-value")
    settings = Settings(model_path=tiny_model_dir, model_backend=fake_backend, api_key_secret_name="emotion/api-key")
    with serve_app(build_app(settings, key_store_client=secrets)) as url:
        assert InferenceClient(model=f"{url}/", token="k3y-value").text_classification("I love you")[0].label == "love"
        with pytest.raises(HfHubHTTPError) as refused:
            InferenceClient(model=f"{url}/", token="wrong").text_classification("I love you")
        assert refused.value.response.status_code == 401


def test_browsers_may_read_the_model_version(make_client: MakeClient) -> None:
    client = make_client(cors_allow_origins=["https://app.example.com"])
    response = client.post("/predict", json={"text": "hello"}, headers={"origin": "https://app.example.com"})
    exposed = {name.strip() for name in response.headers["access-control-expose-headers"].split(",")}
    assert {"x-request-id", "x-model-version"} <= exposed
