"""Classify a large file on AWS: the stack's Step Functions Distributed Map, watched with a progress bar.

    python -m scripts.cli.bulk_job messages.csv labelled.csv --stack emotion-api-prod
    python -m scripts.cli.bulk_job s3://<bulk bucket>/input/messages.jsonl labelled.jsonl --stack emotion-api-prod

A local file is uploaded to the stack's bulk bucket under ``input/``; an ``s3://`` URI is read where it is, and must
lie there too: anything else (another job's results under ``output/`` above all) is refused here, and again by the
state machine's CheckInput state, before anything is read. The execution is started, its map run's
item counters drive a progress bar until it ends, then the result files its map run wrote are read and merged with
the input rows, in input order, into one CSV or JSON Lines file (by extension) with the same added columns as
``make classify`` (scripts/cli/classify.py).

The state machine writes a job's results under ``output/<execution name>/`` whatever its caller asks, and this
script reads only the manifest its own execution reports writing there, naming its own map run: another run
cannot hand it its results, even one started under the same prefix.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from app.backends.base import EMOTIONS
from app.bulk import result_of
from scripts.cli.classify import ENCODING, INVALID_ROW, KEEP_FORMULAS_HELP, Writer, read_rows

POLL_SECONDS = 2.0
#: Where job inputs lie in the bulk bucket; results go under ``output/``.
INPUT_PREFIX = "input/"


class JobError(RuntimeError):
    """The execution failed, was aborted, or left no results."""


def is_job_input(input_bucket: str, key: str, *, bucket: str) -> bool:
    """Whether a job may read this object: under the bulk bucket's ``input/``, without a ``..`` segment.

    The state machine may also read ``output/`` (its result writer needs it), so a caller-chosen key there would
    hand one job another job's results. template.yaml's ``CheckInput`` state applies the same rule.
    """
    return input_bucket == bucket and key.startswith(INPUT_PREFIX) and ".." not in key.split("/")


def split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket or not key:
        raise ValueError(f"not an s3://bucket/key URI: {uri}")
    return bucket, key


def stack_outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    return {output["OutputKey"]: output["OutputValue"] for output in described.get("Outputs", [])}


def start(
    s3: Any,
    stepfunctions: Any,
    *,
    source: str,
    bucket: str,
    state_machine: str,
    text_field: str,
) -> tuple[str, str]:
    """Upload (if local) and start; returns (execution ARN, input key)."""
    job = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:8]
    if source.startswith("s3://"):
        input_bucket, key = split_s3(source)
        if not is_job_input(input_bucket, key, bucket=bucket):
            raise JobError(f"a job reads its input only from s3://{bucket}/{INPUT_PREFIX}...: {source}")
    else:
        path = Path(source)
        input_bucket, key = bucket, f"{INPUT_PREFIX}{job}/{path.name}"
        s3.upload_file(str(path), input_bucket, key)
    input_type = "CSV" if key.lower().endswith(".csv") else "JSONL"
    execution = stepfunctions.start_execution(
        stateMachineArn=state_machine,
        name=job,
        input=json.dumps({"bucket": input_bucket, "key": key, "input_type": input_type, "text_field": text_field}),
    )
    return execution["executionArn"], key


def watch(
    stepfunctions: Any,
    execution_arn: str,
    *,
    on_counts: Callable[[dict[str, int]], None],
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll until the execution ends, reporting the map run's item counters; returns its final description."""
    while True:
        runs = stepfunctions.list_map_runs(executionArn=execution_arn).get("mapRuns", [])
        if runs:
            described = stepfunctions.describe_map_run(mapRunArn=runs[0]["mapRunArn"])
            on_counts(described["itemCounts"])
        execution: dict[str, Any] = stepfunctions.describe_execution(executionArn=execution_arn)
        if execution["status"] != "RUNNING":
            return execution
        sleep(POLL_SECONDS)


def own_manifest(execution: dict[str, Any], bucket: str) -> tuple[str, str]:
    """(manifest key, map run ARN) of this execution's results, as the execution's own output reports them.

    The key must lie under ``output/<execution name>/``, the prefix the state machine derives from the execution:
    never a listing of the prefix, where another run's manifest may lie too.
    """
    output = json.loads(execution.get("output") or "{}")
    written, map_run = output.get("ResultWriterDetails", {}), output.get("MapRunArn")
    name = execution["executionArn"].rsplit(":", 1)[-1]
    key = str(written.get("Key", ""))
    if written.get("Bucket") != bucket or not key.startswith(f"output/{name}/") or not map_run:
        raise JobError(f"the execution reports no results of its own under s3://{bucket}/output/{name}/")
    return key, str(map_run)


def result_rows(s3: Any, bucket: str, execution: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """Every row's result, by index, from the files this execution's map run wrote (its manifest.json lists them)."""
    key, map_run = own_manifest(execution, bucket)
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    folder = key.rpartition("/")[0] + "/"
    files = [entry["Key"] for entry in manifest["ResultFiles"].get("SUCCEEDED", [])]
    if manifest.get("MapRunArn") != map_run or not all(name.startswith(folder) for name in files):
        raise JobError(f"s3://{bucket}/{key} is not the manifest of this execution's map run {map_run}")
    results: dict[int, dict[str, Any]] = {}
    for name in files:
        for child in json.loads(s3.get_object(Bucket=bucket, Key=name)["Body"].read()):
            for result in json.loads(child["Output"])["results"]:
                results[int(result.pop("index"))] = result
    return results


def merge(
    source: Path, target: Path, results: dict[int, dict[str, Any]], labels: Sequence[str], *, keep_formulas: bool
) -> dict[str, int]:
    """Input rows in order with their results; a row without one (its batch failed) gets error ``batch_failed``.

    CSV cells that would run as formulas are defused unless ``keep_formulas`` (scripts/cli/classify.py: Writer).
    """
    header, rows = read_rows(source)
    counts = {"rows": 0, "missing": 0}
    with target.open("w", newline="", **ENCODING) as handle:
        writer = Writer(handle, target, header, labels, keep_formulas=keep_formulas)
        for index, row in enumerate(rows):
            result = results.get(index)
            if result is None:
                counts["missing"] += 1
                result = result_of(None, "batch_failed", labels)
            elif row is None:
                result = {**result, "error": INVALID_ROW}
            writer.write(row, result)
            counts["rows"] += 1
    return counts


def local_copy(s3: Any, source: str, scratch: Path) -> Path:
    if not source.startswith("s3://"):
        return Path(source)
    bucket, key = split_s3(source)
    target = scratch / Path(key).name
    s3.download_file(bucket, key, str(target))
    return target


def run(
    source: str,
    target: Path,
    *,
    stack: str,
    text_field: str = "text",
    clients: dict[str, Any] | None = None,
    progress: bool = True,
    sleep: Callable[[float], None] = time.sleep,
    keep_formulas: bool = False,
) -> dict[str, Any]:
    """The whole job: start, watch, merge. ``clients`` (s3, stepfunctions, cloudformation) are injected in tests."""
    from tqdm import tqdm

    if clients is None:
        import boto3

        clients = {name: boto3.client(name) for name in ("s3", "stepfunctions", "cloudformation")}
    outputs = stack_outputs(clients["cloudformation"], stack)
    bucket, state_machine = outputs["BulkBucketName"], outputs["BulkStateMachineArn"]
    execution_arn, _ = start(
        clients["s3"], clients["stepfunctions"], source=source, bucket=bucket, state_machine=state_machine,
        text_field=text_field,
    )  # fmt: skip
    with tqdm(total=0, unit="text", disable=not progress, file=sys.stderr) as bar:

        def show(counts: dict[str, int]) -> None:
            bar.total = counts.get("total", 0)
            bar.n = counts.get("succeeded", 0) + counts.get("failed", 0)
            bar.set_postfix(failed=counts.get("failed", 0), refresh=False)
            bar.refresh()

        execution = watch(clients["stepfunctions"], execution_arn, on_counts=show, sleep=sleep)
    status = execution["status"]
    if status != "SUCCEEDED":
        raise JobError(f"the execution ended {status}: {execution_arn}")
    results = result_rows(clients["s3"], bucket, execution)
    labels = sorted(EMOTIONS)
    with tempfile.TemporaryDirectory() as scratch:
        counts = merge(
            local_copy(clients["s3"], source, Path(scratch)), target, results, labels, keep_formulas=keep_formulas
        )
    return {"execution": execution_arn, "status": status, **counts}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help="a local .csv/.jsonl file, or an s3:// URI")
    parser.add_argument("output", type=Path, help="where to write the merged result: .csv or .jsonl")
    parser.add_argument("--stack", required=True, help="the deployed stack (its outputs name the bucket and machine)")
    parser.add_argument("--text-field", default="text")
    parser.add_argument("--keep-formulas", action="store_true", help=KEEP_FORMULAS_HELP)
    args = parser.parse_args(argv)
    try:
        summary = run(
            args.input, args.output, stack=args.stack, text_field=args.text_field, keep_formulas=args.keep_formulas
        )
    except JobError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(summary), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
