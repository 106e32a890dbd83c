"""Your own labels: make model trains a three-label model from a CSV, and the API serves it with those labels."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support import build_tiny_model

from app.api import build_app
from app.settings import Settings
from scripts.model.labelled_data import LabelledDataError, prepare

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.executable).parent.parent
# Support tickets of a made-up shop, written for this test: three labels, 300 texts.
OPENINGS = ["hi", "hello", "hey team", "good morning", "quick question", "sorry to bother you", "urgent",
            "fyi", "dear support", "thanks in advance"]  # fmt: skip
TOPICS = {
    "billing": ["i was charged twice for my order", "the invoice shows the wrong amount", "my refund never arrived",
                "can i pay by bank transfer", "why did my card get declined", "the vat on my receipt is wrong",
                "please cancel the second payment", "where do i download last month's invoice",
                "the discount code was not applied", "i need a receipt with my company name"],
    "delivery": ["my parcel has not arrived yet", "the tracking link does not work", "the courier left it outside",
                 "can you deliver on saturday", "the box arrived damaged", "my package went to the wrong address",
                 "how long does shipping to spain take", "the driver never rang the bell",
                 "can i change the delivery address", "half of my order is missing"],
    "praise": ["the new blender is fantastic", "your support team was wonderful", "best purchase this year",
               "the quality is amazing for the price", "thank you for the quick help", "i love the new colours",
               "my kids adore the toy", "five stars from me", "the coffee tastes great", "keep up the good work"],
}  # fmt: skip


def write_csv(folder: Path) -> Path:
    folder.mkdir(parents=True)
    rows = [(f"{opening}, {text}", label) for label, texts in TOPICS.items()
            for opening, text in itertools.product(OPENINGS, texts)]  # fmt: skip
    lines = ["text,label"] + [f'"{text}",{label}' for text, label in rows]
    (folder / "train.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp_path = tmp_path_factory.mktemp("own-labels")
    base = build_tiny_model(tmp_path / "base", max_positions=64)
    data = write_csv(tmp_path / "tickets")
    out = tmp_path / "model"
    result = subprocess.run(
        ["make", "--no-print-directory", "model", f"VENV={VENV}", "-o", f"{VENV}/.installed-train",
         f"DATA={data}", f"OUT={out}", f"BASE_MODEL={base}", "EPOCHS=1"],
        cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return out


@pytest.fixture
def client(trained: Path) -> Iterator[TestClient]:
    from app.classifier import reset_model_cache

    reset_model_cache()
    yield TestClient(build_app(Settings(model_path=trained, model_backend="onnx")), raise_server_exceptions=False)
    reset_model_cache()


def test_the_folder_records_the_labels_and_why_trust_is_off(trained: Path) -> None:
    config = json.loads((trained / "config.json").read_text())
    assert sorted(config["id2label"].values()) == ["billing", "delivery", "praise"]
    trust = json.loads((trained / "trust_report.json").read_text())
    assert trust["fitted"] is False and "validation texts" in trust["reason"]
    card = (trained / "README.md").read_text()
    assert "`billing`, `delivery`, `praise`" in card and "Trust checks not fitted" in card
    assert "six emotions" not in card.split("## Ordinary sentences")[0]


def test_the_api_answers_with_the_models_own_labels(client: TestClient) -> None:
    assert client.get("/labels").json() == {"labels": ["billing", "delivery", "praise"]}
    health = client.get("/health").json()
    assert health["labels"] == ["billing", "delivery", "praise"] and health["trust_fitted"] is False
    one = client.post("/predict", json={"text": "my parcel has not arrived yet"})
    assert one.status_code == 200
    assert set(one.json()["all_emotions"]) == {"billing", "delivery", "praise"}
    assert one.json()["emotion"] in {"billing", "delivery", "praise"}
    batch = client.post("/predict/batch", json={"texts": ["refund please", "great coffee"]})
    assert batch.status_code == 200
    assert [p["emotion"] in {"billing", "delivery", "praise"} for p in batch.json()["predictions"]] == [True, True]
    hub = client.post("/", json={"inputs": "the invoice is wrong"})
    assert hub.status_code == 200
    assert {item["label"] for item in hub.json()[0]} == {"billing", "delivery", "praise"}
    page = client.get("/", headers={"accept": "text/html"})
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("train.csv", "text,label\nhello,a\n,b\n", r"train\.csv:3: empty or missing text"),
        ("train.csv", "words,tag\nhello,a\n", r"train\.csv:1: the header must name the columns text and label"),
        ("train.jsonl", '{"text": "hi", "label": "a"}\n{"text": "yo"}\n', r"train\.jsonl:2: missing label"),
        ("train.jsonl", '{"text": "hi", "label": "a"}\nnot json\n', r"train\.jsonl:2: not a JSON object"),
        ("train.txt", "hi;a\nho;a\n", r"train\.txt: 1 label\(s\); a model needs 2 to 50"),
        ("train.txt", "hi;a\nho;a\nhu;b\n", r"train\.txt: label\(s\) \['b'\] have fewer than two examples"),
        ("train.txt", b"hi;a\n\xff\xfe;b\n", r"train\.txt: unreadable \(UnicodeDecodeError"),
    ],
)
def test_bad_data_is_named_by_file_and_line(tmp_path: Path, name: str, content: str | bytes, message: str) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(LabelledDataError, match=message):
        prepare(folder, tmp_path / "out", seed=42)


def test_without_a_validation_file_every_label_is_held_out_in_proportion(tmp_path: Path) -> None:
    summary = prepare(write_csv(tmp_path / "tickets"), tmp_path / "out", seed=42)
    assert summary["validation"] == {"file": "10 % of train.csv, seed 42", "examples": 30}
    held = (tmp_path / "out" / "validation.txt").read_text().splitlines()
    assert sorted(line.rpartition(";")[2] for line in held) == ["billing"] * 10 + ["delivery"] * 10 + ["praise"] * 10
    again = prepare(write_csv(tmp_path / "again"), tmp_path / "out2", seed=42)
    assert again == summary and (tmp_path / "out2" / "validation.txt").read_text() == "\n".join(held) + "\n"
