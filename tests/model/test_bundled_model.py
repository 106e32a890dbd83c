"""The bundled default model: small fp32-loading DistilBERT, six named emotions, right on plain sentences."""

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open

MODEL_DIR = Path(__file__).resolve().parents[2] / "functions" / "inference" / "model"
LABELS = {"anger", "fear", "joy", "love", "sadness", "surprise"}
SANITY = [
    ("I am feeling very happy today!", "joy"),
    ("I feel so lonely and sad since my best friend moved away.", "sadness"),
    ("I feel so loved and cared for by my family.", "love"),
    ("I'm furious that they cancelled my flight without telling me!", "anger"),
    ("I'm scared to walk home alone at night.", "fear"),
    ("Wow, I'm amazed that you remembered my birthday!", "surprise"),
]


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    """The raw config.json, as the serving code reads it."""
    return json.loads((MODEL_DIR / "config.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def loaded() -> tuple[Any, Any]:
    """Model and tokenizer loaded the way the API loads them (no dtype argument)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(str(MODEL_DIR)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(MODEL_DIR))
    return model, tokenizer


def _classify(loaded: tuple[Any, Any], texts: list[str]) -> list[tuple[str, float]]:
    """Top label and its probability for each text."""
    model, tokenizer = loaded
    enc = tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.inference_mode():
        probs = torch.softmax(model(**enc).logits, dim=-1)
    top = probs.max(dim=-1)
    return [(model.config.id2label[int(i)], float(p)) for p, i in zip(top.values, top.indices, strict=True)]


def test_metadata_six_named_labels_distilbert(config: dict[str, Any]) -> None:
    """The API maps outputs by name, so id2label/label2id must be the six emotions and agree."""
    assert config["model_type"] == "distilbert"
    assert config["architectures"] == ["DistilBertForSequenceClassification"]
    assert set(config["id2label"].values()) == LABELS
    assert {label: str(i) for label, i in config["label2id"].items()} == {v: k for k, v in config["id2label"].items()}
    assert config.get("dtype", "float32") == "float32"
    assert config.get("torch_dtype", "float32") == "float32"


def test_folder_is_small_and_weights_are_fp16() -> None:
    """fp16 safetensors keep the Hugging Face model folder under 50 MB (an ONNX export beside it is separate)."""
    size = sum(path.stat().st_size for path in MODEL_DIR.rglob("*") if path.is_file() and path.suffix != ".onnx")
    assert size < 50 * 1024 * 1024
    with safe_open(str(MODEL_DIR / "model.safetensors"), "pt") as handle:
        dtypes = {handle.get_slice(key).get_dtype() for key in handle.keys()}  # noqa: SIM118 - safe_open has no iterator
    assert dtypes == {"F16"}


def test_required_files_present() -> None:
    """Tokenizer, metrics, confusion matrix and model card ship with the weights."""
    for name in ("tokenizer.json", "tokenizer_config.json", "metrics.json", "confusion_matrix.png", "README.md"):
        assert (MODEL_DIR / name).is_file(), name
    metrics = json.loads((MODEL_DIR / "metrics.json").read_text(encoding="utf-8"))
    assert set(metrics["validation"]["per_class"]) == LABELS
    assert "test" not in metrics


def test_loads_as_fp32_without_token_type_ids(loaded: tuple[Any, Any]) -> None:
    """Serving runs in fp32 and DistilBERT takes no token_type_ids."""
    model, tokenizer = loaded
    assert type(model).__name__ == "DistilBertForSequenceClassification"
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert "token_type_ids" not in tokenizer("I am feeling very happy today!")


def test_first_call_is_confident_joy(loaded: tuple[Any, Any]) -> None:
    """A new user's first request must come back joy with high confidence."""
    [(label, prob)] = _classify(loaded, ["I am feeling very happy today!"])
    assert label == "joy"
    assert prob > 0.9


@pytest.mark.parametrize(("text", "expected"), SANITY)
def test_sanity_prediction_per_emotion(loaded: tuple[Any, Any], text: str, expected: str) -> None:
    """One ordinary punctuated sentence per emotion is classified correctly."""
    [(label, _prob)] = _classify(loaded, [text])
    assert label == expected
