"""Command-line client for a deployed (or local) emotion API: classify a text, a file of lines, or stdin.

    python -m scripts.cli.predict "I am feeling very happy today!"
    python -m scripts.cli.predict --file reviews.txt --json > predictions.json
    cat texts.txt | python -m scripts.cli.predict - --url https://abc123.execute-api.us-east-1.amazonaws.com

The URL comes from --url or EMOTION_API_URL (default http://127.0.0.1:8000, i.e. `make serve`; a stage's is its ApiUrl,
`make outputs`, with no stage path: the HTTP API's $default stage answers at the root), the key from
--api-key or EMOTION_API_KEY. Many lines go in batches of --batch-size texts per request, with a progress bar on
a terminal. Exit codes: 0 ok, 1 the API refused (its error code, message and request id are printed),
2 usage, 3 the API could not be reached.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import httpx

DEFAULT_URL = "http://127.0.0.1:8000"
EXIT_OK, EXIT_API_ERROR, EXIT_USAGE, EXIT_NETWORK = 0, 1, 2, 3
TEXT_COLUMN = 60
BAR_WIDTH = 30


class ApiError(Exception):
    """Raised when the API answers with an error; carries what the user needs to report it."""

    def __init__(self, status: int, code: str, message: str, request_id: str | None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.request_id = status, code, message, request_id

    def __str__(self) -> str:
        request = f", request id {self.request_id}" if self.request_id else ""
        return f"{self.code}: {self.message} (HTTP {self.status}{request})"


class Client:
    """A thin httpx wrapper that turns the API's one error shape into ApiError."""

    def __init__(self, url: str, api_key: str | None, timeout: float) -> None:
        headers = {"accept": "application/json", "user-agent": "emotion-api-cli/1.0"}
        if api_key:
            headers["x-api-key"] = api_key
        # A base URL with a path (a proxy's prefix): endpoints are appended to it, never resolved from the root.
        self._http = httpx.Client(base_url=url.rstrip("/") + "/", headers=headers, timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._http.close()

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        response = self._http.post(path, json=body)
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.is_success and isinstance(data, dict):
            return data
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict):
            raise ApiError(
                response.status_code,
                str(error.get("code", "error")),
                str(error.get("message", "")),
                error.get("request_id") or response.headers.get("x-request-id"),
            )
        # Not our error shape: API Gateway itself ({"message": "Not Found"}), a proxy, or a wrong URL.
        message = data.get("message") if isinstance(data, dict) else None
        raise ApiError(
            response.status_code,
            "http_error",
            str(message or f"unexpected response from {response.request.url}"),
            response.headers.get("x-request-id") or response.headers.get("apigw-requestid"),
        )

    def predict(self, text: str) -> dict[str, Any]:
        return self._post("predict", {"text": text})

    def predict_batch(self, texts: list[str]) -> list[dict[str, Any]]:
        return list(self._post("predict/batch", {"texts": texts})["predictions"])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="predict.py",
        description="Classify texts with the emotion API (anger, fear, joy, love, sadness, surprise).",
        epilog="Exit codes: 0 ok, 1 API error, 2 usage, 3 network error.",
    )
    parser.add_argument("text", nargs="*", help="the text to classify (words are joined); '-' reads lines from stdin")
    parser.add_argument("-f", "--file", help="classify each non-empty line of this file ('-' for stdin)")
    parser.add_argument(
        "--url",
        default=os.environ.get("EMOTION_API_URL", DEFAULT_URL),
        help="base URL of the API, with its stage path if any (env EMOTION_API_URL; default %(default)s)",
    )
    parser.add_argument("--api-key", default=os.environ.get("EMOTION_API_KEY"), help="API key (env EMOTION_API_KEY)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--batch-size", type=int, default=32, help="texts per request for many lines (default 32)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each request (default 30)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar, even on a terminal")
    return parser


def _read_lines(source: TextIO) -> list[str]:
    return [line.strip() for line in source.read().splitlines() if line.strip()]


def _texts(args: argparse.Namespace, parser: argparse.ArgumentParser, stdin: TextIO) -> tuple[list[str], bool]:
    """The texts to classify and whether they came as lines (a file or stdin) rather than one argument."""
    if args.file and args.text:
        parser.error("give either a text or --file, not both")
    if args.file == "-" or args.text == ["-"]:
        return _read_lines(stdin), True
    if args.file:
        try:
            with open(args.file, encoding="utf-8") as handle:
                return _read_lines(handle), True
        except OSError as exc:
            parser.error(f"cannot read {args.file}: {exc.strerror}")
        except UnicodeDecodeError:
            parser.error(f"{args.file} is not UTF-8 text")
    if args.text:
        return [" ".join(args.text)], False
    if not stdin.isatty():
        return _read_lines(stdin), True
    parser.error("give a text, --file PATH, or '-' to read stdin")
    raise AssertionError  # parser.error exits


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= TEXT_COLUMN else text[: TEXT_COLUMN - 1] + "…"


def _print_one(prediction: dict[str, Any], out: TextIO) -> None:
    print(f"emotion: {prediction['emotion']} ({prediction['confidence']:.1%})", file=out)
    for emotion, probability in prediction["all_emotions"].items():
        bar = "#" * round(probability * BAR_WIDTH)
        print(f"  {emotion:<9} {probability:>6.1%}  {bar}", file=out)
    if prediction.get("truncated"):
        print("(the text was longer than the model reads: only its beginning was classified)", file=out)
    if prediction.get("warnings"):
        print(f"not reliable: {', '.join(prediction['warnings'])}", file=out)


def _print_table(texts: list[str], predictions: list[dict[str, Any]], out: TextIO) -> None:
    width = len(str(len(texts)))
    print(f"{'#':>{width}}  {'emotion':<9} {'confidence':>10}  text", file=out)
    for index, (text, prediction) in enumerate(zip(texts, predictions, strict=True), start=1):
        mark = ("!" if prediction.get("warnings") else " ") + ("*" if prediction.get("truncated") else " ")
        print(
            f"{index:>{width}}  {prediction['emotion']:<9} {prediction['confidence']:>10.1%} {mark}{_clip(text)}",
            file=out,
        )
    if any(prediction.get("warnings") for prediction in predictions):
        print("! not reliable (no clear emotion, not English or low confidence: --json gives the codes)", file=out)
    if any(prediction.get("truncated") for prediction in predictions):
        print("* longer than the model reads: only the beginning was classified", file=out)


def _classify_lines(client: Client, texts: list[str], batch_size: int, show_progress: bool) -> list[dict[str, Any]]:
    from tqdm import tqdm

    predictions: list[dict[str, Any]] = []
    with tqdm(total=len(texts), unit="text", disable=not show_progress, file=sys.stderr, leave=False) as bar:
        for start in range(0, len(texts), batch_size):
            chunk = texts[start : start + batch_size]
            predictions.extend(client.predict_batch(chunk))
            bar.update(len(chunk))
    return predictions


def main(argv: Sequence[str] | None = None, *, stdin: TextIO | None = None) -> int:
    """Run the CLI; returns the exit code (argparse exits with 2 on usage errors)."""
    parser = _parser()
    args = parser.parse_args(argv)
    stdin = stdin or sys.stdin
    if args.batch_size < 1:
        parser.error("--batch-size must be at least 1")
    if not args.url.startswith(("http://", "https://")):
        parser.error(f"--url must start with http:// or https://, got {args.url!r}")
    texts, as_lines = _texts(args, parser, stdin)
    if not texts:
        parser.error("no text to classify (the input is empty)")

    out = sys.stdout
    try:
        with Client(args.url, args.api_key, args.timeout) as client:
            if not as_lines:
                prediction = client.predict(texts[0])
                if args.json:
                    print(json.dumps(prediction), file=out)
                else:
                    _print_one(prediction, out)
                return EXIT_OK
            show_progress = not args.no_progress and sys.stderr.isatty()
            predictions = _classify_lines(client, texts, args.batch_size, show_progress)
    except ApiError as exc:
        print(f"error: the API refused the request: {exc}", file=sys.stderr)
        return EXIT_API_ERROR
    except httpx.TransportError as exc:
        print(f"error: cannot reach the API at {args.url}: {str(exc) or type(exc).__name__}", file=sys.stderr)
        return EXIT_NETWORK
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

    if args.json:
        print(json.dumps([{"text": text, **p} for text, p in zip(texts, predictions, strict=True)]), file=out)
    else:
        _print_table(texts, predictions, out)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
