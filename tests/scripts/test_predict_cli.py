"""scripts/cli/predict.py against the app on a real local port: what a developer sees at the terminal."""

from __future__ import annotations

import hmac
import io
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import LABELS, build_test_app, serve_app, staged_app

from scripts.cli import predict

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "cli-k3y"
LINES = ["I am so happy today", "this is not good", "what a lovely surprise", "im so angry", "i feel sad"]


class KeyRequired:
    """An API-key guard that needs API_KEY, standing in for Secrets Manager."""

    is_required = True
    last_failure = None

    def warm(self) -> None:
        return None

    def is_valid(self, presented: str | None) -> bool:
        return hmac.compare_digest((presented or "").encode(), API_KEY.encode())


@pytest.fixture
def api_url(tiny_model_dir: Path, reset_model: None) -> Iterator[str]:
    """A server that takes at most 2 texts per batch and 200 characters per text, so the limits are reachable."""
    with serve_app(build_test_app(tiny_model_dir, max_batch=2, max_text_chars=200)) as url:
        yield url


@pytest.fixture
def keyed_url(tiny_model_dir: Path, reset_model: None) -> Iterator[str]:
    with serve_app(build_test_app(tiny_model_dir, guard=KeyRequired())) as url:
        yield url


@pytest.fixture(autouse=True)
def _no_env_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EMOTION_API_URL", raising=False)
    monkeypatch.delenv("EMOTION_API_KEY", raising=False)


def run(*argv: str, stdin: str = "") -> int:
    return predict.main(list(argv), stdin=io.StringIO(stdin))


def test_one_text_prints_the_emotion_and_all_six(api_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    expected = httpx.post(f"{api_url}/predict", json={"text": "I am so happy"}).json()
    assert run("--url", api_url, "I", "am", "so", "happy") == 0
    out = capsys.readouterr().out
    assert out.startswith(f"emotion: {expected['emotion']} (")
    assert {line.split()[0] for line in out.splitlines()[1:] if line.startswith("  ")} == set(LABELS)


def test_warnings_are_printed(api_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    german = "Ich bin heute sehr traurig und einsam."
    for text in (german, "I am so happy"):
        warnings = httpx.post(f"{api_url}/predict", json={"text": text}).json()["warnings"]
        assert run("--url", api_url, text) == 0
        last = capsys.readouterr().out.splitlines()[-1]
        assert last == f"not reliable: {', '.join(warnings)}" if warnings else not last.startswith("not reliable")
        assert text != german or "not_english" in warnings


def test_json_output_is_the_apis_answer(api_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    expected = httpx.post(f"{api_url}/predict", json={"text": "I am so happy"}).json()
    assert run("--url", api_url + "/", "--json", "I am so happy") == 0
    assert json.loads(capsys.readouterr().out) == expected


def test_a_file_goes_in_batches_and_keeps_its_order(
    api_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Five lines against a server that takes two per request: three requests, one answer per line, in order."""
    expected = [httpx.post(f"{api_url}/predict", json={"text": line}).json()["emotion"] for line in LINES]
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join([LINES[0], "", *LINES[1:3], "   ", *LINES[3:]]) + "\n", encoding="utf-8")

    assert run("--url", api_url, "--file", str(texts), "--batch-size", "2", "--json") == 0
    answers = json.loads(capsys.readouterr().out)
    assert [row["text"] for row in answers] == LINES
    assert [row["emotion"] for row in answers] == expected

    assert run("--url", api_url, "--file", str(texts), "--batch-size", "2") == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["#", "emotion", "confidence", "text"]
    rows = table[1 : 1 + len(LINES)]
    assert [line.split()[1] for line in rows] == expected
    assert rows[2].endswith(LINES[2])
    # unreliable rows are marked, with one legend line under the table
    assert [line[line.index("%") + 2] == "!" for line in rows] == [not row["reliable"] for row in answers]
    assert table[1 + len(LINES) :] == (
        ["! not reliable (no clear emotion, not English or low confidence: --json gives the codes)"]
        if not all(row["reliable"] for row in answers)
        else []
    )


def test_many_lines_show_progress_on_stderr(api_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The bar goes to stderr, so stdout stays clean for a pipe."""
    with predict.Client(api_url, None, 30.0) as client:
        predictions = predict._classify_lines(client, LINES, 2, show_progress=True)
    assert len(predictions) == len(LINES)
    captured = capsys.readouterr()
    assert "0/5" in captured.err and captured.out == ""


def test_stdin_lines(api_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("--url", api_url, "--batch-size", "2", "-", stdin="\n".join(LINES[:3])) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line[:1].isdigit()]
    assert [row.split()[0] for row in rows] == ["1", "2", "3"]


def test_an_api_error_exits_1_with_code_message_and_request_id(
    api_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("--url", api_url, "x" * 201) == 1
    err = capsys.readouterr().err
    assert "text_too_long" in err and "200 characters" in err
    assert "HTTP 422, request id " in err


def test_a_batch_larger_than_the_server_takes_is_an_api_error(api_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("--url", api_url, "--batch-size", "3", "-", stdin="\n".join(LINES)) == 1
    assert "batch_too_large" in capsys.readouterr().err


def test_the_api_key_from_the_option_or_the_environment(
    keyed_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("--url", keyed_url, "hello") == 1
    assert "unauthorized" in capsys.readouterr().err
    assert run("--url", keyed_url, "--api-key", "wrong", "hello") == 1
    assert run("--url", keyed_url, "--api-key", API_KEY, "hello") == 0
    monkeypatch.setenv("EMOTION_API_KEY", API_KEY)
    monkeypatch.setenv("EMOTION_API_URL", keyed_url)
    capsys.readouterr()
    assert run("--json", "hello") == 0
    assert json.loads(capsys.readouterr().out)["emotion"] in LABELS


def test_a_deployed_url_with_a_stage_path(
    tiny_model_dir: Path, reset_model: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """https://.../dev is the base URL: requests go to /dev/predict, not /predict."""
    with serve_app(staged_app(build_test_app(tiny_model_dir), "dev")) as url:
        assert run("--url", f"{url}/dev", "--json", "hello") == 0
        assert run("--url", f"{url}/dev/", "-", stdin="hello\nthere") == 0
        capsys.readouterr()
        # Without the stage the gateway itself answers, in plain text: still a clear error, not a traceback.
        assert run("--url", url, "hello") == 1
        assert "HTTP 404" in capsys.readouterr().err


def test_an_unknown_path_is_reported_not_crashed_on(api_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("--url", f"{api_url}/no-such-stage", "hello") == 1
    assert "not_found" in capsys.readouterr().err


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_api_exits_3() -> None:
    """Run as a real process: the exit code is what a shell script sees."""
    result = subprocess.run(
        [sys.executable, "-m", "scripts.cli.predict", "--url", f"http://127.0.0.1:{_closed_port()}", "hi"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 3, result.stderr
    assert "cannot reach the API" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    "argv",
    [
        ["--file", "does-not-exist.txt"],
        ["some text", "--file", "texts.txt"],
        ["--batch-size", "0", "hi"],
        ["--url", "ftp://example.invalid", "hi"],
        ["-"],  # stdin is empty
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(*argv)
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err
