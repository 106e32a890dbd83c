"""Helpers shared by the tests: the labels, a tiny model builder, sample events and the error-shape check."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

LABELS = ("anger", "fear", "joy", "love", "sadness", "surprise")
#: The dair-ai/emotion id order, deliberately not alphabetical, so label handling by name is exercised.
ID2LABEL = {0: "sadness", 1: "joy", 2: "love", 3: "anger", 4: "fear", 5: "surprise"}
WORDS = (
    "i am feeling very happy today sad angry afraid scared love you what a lovely surprise so furious terrified "
    "wonderful miserable shocked amazed the this is not good bad feel im didnt"
).split()
EVENTS_DIR = Path(__file__).resolve().parent.parent / "events"


def build_tiny_model(target: Path, *, max_positions: int = 64) -> Path:
    """A randomly initialised one-layer DistilBERT classifier with the six emotion labels, saved like a real one."""
    import torch
    from transformers import DistilBertConfig, DistilBertForSequenceClassification, DistilBertTokenizerFast

    target.mkdir(parents=True, exist_ok=True)
    vocab = target / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "!", ",", ".", "?", *WORDS]) + "\n")
    tokenizer = DistilBertTokenizerFast(vocab_file=str(vocab), model_max_length=max_positions)
    tokenizer.save_pretrained(target)
    torch.manual_seed(0)
    config = DistilBertConfig(
        vocab_size=len(vocab.read_text().split()),
        dim=16,
        n_layers=1,
        n_heads=2,
        hidden_dim=32,
        max_position_embeddings=max_positions,
        id2label=ID2LABEL,
        label2id={label: index for index, label in ID2LABEL.items()},
    )
    DistilBertForSequenceClassification(config).save_pretrained(target)
    return target


def load_event(name: str) -> dict:
    """A sample event from events/, as `sam local invoke -e` would send it."""
    return json.loads((EVENTS_DIR / name).read_text())


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """Every error has one shape: code, message and the request id, also sent as a header."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    return error


#: Builds a TestClient for Settings overrides (see tests/api/conftest.py).
MakeClient = Callable[..., Any]
