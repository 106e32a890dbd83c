"""`make classify`: a file in, every row out in order with the API's answers, hostile rows marked, never fatal."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.api import build_app
from app.classifier import reset_model_cache
from app.settings import Settings
from scripts.cli import classify

BUNDLED = Path(__file__).resolve().parents[2] / "functions" / "inference" / "model"
LABELS = ["anger", "fear", "joy", "love", "sadness", "surprise"]
TEXTS = [
    "I am feeling very happy today!",
    "This traffic makes me so angry.",
    "I'm scared to walk home alone at night.",
    "Ich bin heute sehr traurig und einsam.",
    "The meeting is at 3pm in room 204.",
    'she said "i am terrified",\nthen left',
    "i miss you so much it hurts",
]


@pytest.fixture(scope="module")
def api_answers() -> dict[str, dict[str, object]]:
    reset_model_cache()
    client = TestClient(build_app(Settings(model_path=BUNDLED)))
    answers = {text: client.post("/predict", json={"text": text}).json() for text in TEXTS}
    reset_model_cache()
    return answers


def test_a_csv_keeps_every_row_in_order_with_the_apis_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api_answers: dict[str, dict[str, object]]
) -> None:
    monkeypatch.setattr(classify, "CHUNK_ROWS", 3)  # several chunks over two workers: the order must hold
    source = tmp_path / "in.csv"
    rows = [*TEXTS[:3], "", "x" * 5001, *TEXTS[3:]]
    with source.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "channel"])
        writer.writerows([f"r{index}", text, "email"] for index, text in enumerate(rows))
    with source.open("ab") as handle:
        handle.write(b"r-bad,caf\xe9 au lait,email\n")  # Latin-1, not UTF-8
    target = tmp_path / "out.csv"

    summary = classify.classify_file(source, target, workers=2, progress=False)

    # the row that was not UTF-8 keeps its original bytes in the output, as every other column does
    with target.open(newline="", **classify.ENCODING) as handle:
        out = list(csv.DictReader(handle))
    assert [row["id"] for row in out] == [f"r{index}" for index in range(len(rows))] + ["r-bad"]
    assert list(out[0])[:3] == ["id", "text", "channel"] and set(LABELS) <= set(out[0])
    assert [row["error"] for row in out[3:5]] == ["empty_text", "text_too_long"] and out[-1][
        "error"
    ] == "invalid_unicode"
    assert summary["rows"] == len(out) and summary["errors"] == 3
    for row in out:
        if row["text"] in api_answers:
            answer = api_answers[row["text"]]
            assert row["emotion"] == answer["emotion"]
            assert float(row["confidence"]) == pytest.approx(answer["confidence"], abs=1e-6)
            assert row["reliable"] == str(answer["reliable"]).lower()
            assert row["warnings"] == ";".join(answer["warnings"])  # type: ignore[arg-type]


def test_json_lines_keep_fields_and_mark_rows_that_are_not_objects(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    lines = [json.dumps({"text": TEXTS[0], "user": 7}), "not json", json.dumps({"text": 42}), json.dumps([1, 2]),
             "", json.dumps({"body": "no text field"})]  # fmt: skip
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    target = tmp_path / "out.jsonl"
    classify.classify_file(source, target, workers=1, progress=False)
    out = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [row["error"] for row in out] == [None, "invalid_row", "not_text", "invalid_row", "missing_text"]
    assert out[0]["user"] == 7 and out[0]["emotion"] == "joy" and out[0]["warnings"] == []


def test_the_command_refuses_other_formats(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        classify.main([str(tmp_path / "in.txt"), str(tmp_path / "out.csv")])


#: Cells a spreadsheet would run (OWASP's CSV injection list), in the text column and in a column passed through.
FORMULAS = ["=HYPERLINK(\"https://evil.example\",\"click\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)",
            "\t=1+1", "\r=1+1"]  # fmt: skip


@pytest.mark.parametrize("keep_formulas", [False, True], ids=["by default", "--keep-formulas"])
def test_csv_cells_that_would_run_as_formulas_are_escaped_unless_kept(
    tmp_path: Path, tiny_model_dir: Path, keep_formulas: bool
) -> None:
    # GIVEN a CSV whose texts, another column and even a header name start like spreadsheet formulas
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "=note"])
        writer.writerows([formula, formula] for formula in [*FORMULAS, "i am happy"])
    # WHEN it is classified into a CSV
    flags = ["--keep-formulas"] if keep_formulas else []
    classify.main([str(source), str(target), "--workers", "1", "--model-dir", str(tiny_model_dir), "--quiet", *flags])
    # THEN by default each such cell comes back behind a leading ' (shown as text), the others as they were;
    # with --keep-formulas every cell comes back exactly as read
    with target.open(newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    expected = FORMULAS if keep_formulas else ["'" + formula for formula in FORMULAS]
    assert header[:2] == (["text", "=note"] if keep_formulas else ["text", "'=note"])
    assert [row[0] for row in rows] == [*expected, "i am happy"]
    assert [row[1] for row in rows] == [*expected, "i am happy"]
    assert all(row[header.index("error")] == "" for row in rows)  # every text was still classified as sent
