"""The bulk job CLI against S3 (moto) and a stubbed Step Functions: upload, start, watch, merge in input order."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from scripts.cli import bulk_job

LABELS = ["anger", "fear", "joy", "love", "sadness", "surprise"]
BUCKET = "emotion-bulk"
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:bulk"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:bulk:job"
MAP_RUN = "arn:aws:states:us-east-1:123456789012:mapRun:bulk/job:7f3c"
#: Where the state machine has this execution's map run write: output/<execution name>/<map run id>/.
RESULTS = "output/job/7f3c"


def _result(index: int, emotion: str | None, error: str | None = None) -> dict[str, Any]:
    probabilities = {label: (0.9 if label == emotion else 0.02) if emotion else None for label in LABELS}
    return {"index": index, "emotion": emotion, "confidence": 0.9 if emotion else None, **probabilities,
            "reliable": True if emotion else None, "warnings": [] if emotion else None, "error": error}  # fmt: skip


def _write_results(
    s3: Any, batches: list[list[dict[str, Any]]], *, folder: str = RESULTS, map_run: str = MAP_RUN
) -> None:
    """What a map run's ResultWriter leaves: a manifest naming the run, and result files of child executions."""
    children = [{"Status": "SUCCEEDED", "Output": json.dumps({"results": batch})} for batch in batches]
    s3.put_object(Bucket=BUCKET, Key=f"{folder}/SUCCEEDED_0.json", Body=json.dumps(children))
    files = {"SUCCEEDED": [{"Key": f"{folder}/SUCCEEDED_0.json", "Size": 1}], "FAILED": []}
    manifest = {"DestinationBucket": BUCKET, "MapRunArn": map_run, "ResultFiles": files}
    s3.put_object(Bucket=BUCKET, Key=f"{folder}/manifest.json", Body=json.dumps(manifest))


def _clients(status: str = "SUCCEEDED") -> tuple[dict[str, Any], list[Stubber]]:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    stepfunctions = boto3.client("stepfunctions", region_name="us-east-1")
    cfn_stub, sfn_stub = Stubber(cloudformation), Stubber(stepfunctions)
    outputs = [{"OutputKey": "BulkBucketName", "OutputValue": BUCKET},
               {"OutputKey": "BulkStateMachineArn", "OutputValue": MACHINE}]  # fmt: skip
    cfn_stub.add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": "emotion-api-prod",
                    "CreationTime": "2026-11-27T00:00:00Z",
                    "StackStatus": "CREATE_COMPLETE",
                    "Outputs": outputs,
                }
            ]
        },
        {"StackName": "emotion-api-prod"},
    )
    sfn_stub.add_response(
        "start_execution",
        {"executionArn": EXECUTION, "startDate": "2026-11-27T00:00:00Z"},
        {"stateMachineArn": MACHINE, "name": ANY, "input": ANY},
    )
    sfn_stub.add_response("list_map_runs", {"mapRuns": []}, {"executionArn": EXECUTION})
    sfn_stub.add_response("describe_execution", _execution("RUNNING"), {"executionArn": EXECUTION})
    run = {"executionArn": EXECUTION, "mapRunArn": MAP_RUN, "stateMachineArn": MACHINE,
           "startDate": "2026-11-27T00:00:00Z"}  # fmt: skip
    sfn_stub.add_response("list_map_runs", {"mapRuns": [run]}, {"executionArn": EXECUTION})
    sfn_stub.add_response("describe_map_run", _map_run(5, 5), {"mapRunArn": MAP_RUN})
    sfn_stub.add_response("describe_execution", _execution(status), {"executionArn": EXECUTION})
    for stub in (cfn_stub, sfn_stub):
        stub.activate()
    return {"s3": s3, "cloudformation": cloudformation, "stepfunctions": stepfunctions}, [cfn_stub, sfn_stub]


def _execution(status: str) -> dict[str, Any]:
    """DescribeExecution; a finished one reports where its map run wrote (the Map state's output)."""
    described = {"executionArn": EXECUTION, "stateMachineArn": MACHINE, "status": status,
                 "startDate": "2026-11-27T00:00:00Z"}  # fmt: skip
    if status == "SUCCEEDED":
        written = {"Bucket": BUCKET, "Key": f"{RESULTS}/manifest.json"}
        described["output"] = json.dumps({"MapRunArn": MAP_RUN, "ResultWriterDetails": written})
    return described


def _map_run(total: int, succeeded: int) -> dict[str, Any]:
    counts = {"pending": total - succeeded, "running": 0, "succeeded": succeeded, "failed": 0, "timedOut": 0,
              "aborted": 0, "total": total, "resultsWritten": succeeded}  # fmt: skip
    return {"mapRunArn": MAP_RUN, "executionArn": EXECUTION, "status": "SUCCEEDED", "startDate": "2026-11-27T00:00:00Z",
            "maxConcurrency": 10, "toleratedFailurePercentage": 0, "toleratedFailureCount": 0,
            "itemCounts": counts, "executionCounts": counts}  # fmt: skip


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "messages.csv"
    path.write_text("id,text\nm1,I love you\nm2,\nm3,so angry\nm4,what a surprise\nm5,i feel sad\n", encoding="utf-8")
    return path


@mock_aws
def test_a_local_file_is_uploaded_classified_and_merged_in_input_order(source: Path, tmp_path: Path) -> None:
    clients, stubs = _clients()
    # the two batches come back in the other order, as child executions finish
    batches = [[_result(3, "surprise"), _result(4, "sadness")],
               [_result(0, "love"), _result(1, None, "empty_text"), _result(2, "anger")]]  # fmt: skip
    target = tmp_path / "labelled.csv"
    summary = bulk_job.run(str(source), target, stack="emotion-api-prod", clients=clients, progress=False,
                           sleep=lambda _: _write_results(clients["s3"], batches))  # fmt: skip
    for stub in stubs:
        stub.assert_no_pending_responses()
    assert summary == {"execution": EXECUTION, "status": "SUCCEEDED", "rows": 5, "missing": 0}
    with target.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["id"] for row in rows] == ["m1", "m2", "m3", "m4", "m5"]
    assert [row["emotion"] for row in rows] == ["love", "", "anger", "surprise", "sadness"]
    assert rows[1]["error"] == "empty_text" and rows[0]["error"] == "" and rows[0]["reliable"] == "true"
    assert list(rows[0])[:2] == ["id", "text"] and set(LABELS) <= set(rows[0])


@mock_aws
def test_rows_of_a_failed_batch_are_marked_not_dropped(source: Path, tmp_path: Path) -> None:
    clients, _ = _clients()
    batches = [[_result(0, "love"), _result(1, None, "empty_text"), _result(2, "anger")]]
    target = tmp_path / "labelled.jsonl"
    summary = bulk_job.run(str(source), target, stack="emotion-api-prod", clients=clients, progress=False,
                           sleep=lambda _: _write_results(clients["s3"], batches))  # fmt: skip
    rows = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert summary["missing"] == 2
    assert [row["error"] for row in rows] == [None, "empty_text", None, "batch_failed", "batch_failed"]
    assert rows[3]["id"] == "m4" and rows[3]["emotion"] is None


@mock_aws
def test_a_failed_execution_is_an_error(source: Path, tmp_path: Path) -> None:
    clients, _ = _clients(status="FAILED")
    with pytest.raises(bulk_job.JobError, match="FAILED"):
        bulk_job.run(str(source), tmp_path / "out.csv", stack="emotion-api-prod", clients=clients, progress=False,
                     sleep=lambda _: None)  # fmt: skip


@mock_aws
def test_the_execution_input_names_the_file_and_its_format(source: Path) -> None:
    clients, _ = _clients()
    stepfunctions = clients["stepfunctions"]
    seen: dict[str, Any] = {}
    stepfunctions.meta.events.register(
        "before-parameter-build.sfn.StartExecution", lambda params, **_: seen.update(params)
    )
    _, key = bulk_job.start(clients["s3"], stepfunctions, source=str(source), bucket=BUCKET, state_machine=MACHINE,
                            text_field="text")  # fmt: skip
    job = json.loads(seen["input"])
    # no output prefix: the state machine derives it from the execution (test_bulk_state_machine.py)
    assert job == {"bucket": BUCKET, "key": key, "input_type": "CSV", "text_field": "text"}
    assert key.startswith("input/") and key.endswith("/messages.csv")
    assert clients["s3"].get_object(Bucket=BUCKET, Key=key)["Body"].read() == source.read_bytes()


@mock_aws
def test_two_runs_under_one_prefix_cannot_swap_results(source: Path, tmp_path: Path) -> None:
    # GIVEN another run's manifest under this job's prefix, listed before this run's own
    clients, _ = _clients()
    forged = [[_result(index, "joy") for index in range(5)]]
    own = [[_result(0, "love"), _result(1, None, "empty_text"), _result(2, "anger"), _result(3, "surprise"),
            _result(4, "sadness")]]  # fmt: skip

    def both_runs_finish(_: float) -> None:
        _write_results(clients["s3"], forged, folder="output/job/0000", map_run=MAP_RUN.replace("7f3c", "0000"))
        _write_results(clients["s3"], own)

    # WHEN the job ends and its results are merged
    target = tmp_path / "labelled.csv"
    bulk_job.run(str(source), target, stack="emotion-api-prod", clients=clients, progress=False,
                 sleep=both_runs_finish)  # fmt: skip
    # THEN every row carries this run's answer, none the other run's
    with target.open(newline="", encoding="utf-8") as handle:
        assert [row["emotion"] for row in csv.DictReader(handle)] == ["love", "", "anger", "surprise", "sadness"]


@mock_aws
@pytest.mark.parametrize(
    ("manifest_key", "map_run"),
    [
        ("output/other-job/7f3c/manifest.json", MAP_RUN),  # reported outside this execution's prefix
        (f"{RESULTS}/manifest.json", MAP_RUN.replace("7f3c", "0000")),  # a manifest naming another map run
    ],
)
def test_results_that_are_not_this_executions_own_are_refused(manifest_key: str, map_run: str) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    _write_results(s3, [[_result(0, "joy")]], folder=manifest_key.rpartition("/")[0], map_run=MAP_RUN)
    execution = _execution("SUCCEEDED")
    execution["output"] = json.dumps(
        {"MapRunArn": map_run, "ResultWriterDetails": {"Bucket": BUCKET, "Key": manifest_key}}
    )
    with pytest.raises(bulk_job.JobError):
        bulk_job.result_rows(s3, BUCKET, execution)


@mock_aws
@pytest.mark.parametrize(
    "source",
    [
        f"s3://{BUCKET}/{RESULTS}/SUCCEEDED_0.json",  # another job's results
        f"s3://{BUCKET}/input/../{RESULTS}/SUCCEEDED_0.json",
        f"s3://{BUCKET}/messages.csv",
        "s3://someone-elses-bucket/input/messages.csv",
    ],
)
def test_an_input_outside_the_bulk_buckets_input_prefix_is_refused(source: str, tmp_path: Path) -> None:
    # GIVEN a caller who points a job at an object outside s3://<bulk bucket>/input/
    clients, _ = _clients()
    started: list[dict[str, Any]] = []
    clients["stepfunctions"].meta.events.register(
        "before-parameter-build.sfn.StartExecution", lambda params, **_: started.append(params)
    )
    # WHEN the job is run; THEN it is refused before any execution starts
    with pytest.raises(bulk_job.JobError, match="only from s3://emotion-bulk/input/"):
        bulk_job.run(source, tmp_path / "out.csv", stack="emotion-api-prod", clients=clients, progress=False)
    assert started == []


def test_s3_uris_are_parsed_strictly() -> None:
    assert bulk_job.split_s3("s3://bucket/a/b.csv") == ("bucket", "a/b.csv")
    for bad in ("bucket/a.csv", "s3://bucket", "s3:///a.csv"):
        with pytest.raises(ValueError):
            bulk_job.split_s3(bad)


@pytest.mark.parametrize("keep_formulas", [False, True], ids=["by default", "--keep-formulas"])
def test_merged_csv_cells_that_would_run_as_formulas_are_escaped_unless_kept(
    tmp_path: Path, keep_formulas: bool
) -> None:
    # GIVEN a job's input whose text starts like a spreadsheet formula, and that row's result
    source = tmp_path / "messages.csv"
    source.write_text('id,text\nm1,"=HYPERLINK(""https://evil.example"")"\n', encoding="utf-8")
    # WHEN the results are merged into a CSV
    target = tmp_path / "labelled.csv"
    bulk_job.merge(source, target, {0: _result(0, "joy")}, LABELS, keep_formulas=keep_formulas)
    # THEN the text comes back behind a leading ' by default, as read with --keep-formulas
    with target.open(newline="", encoding="utf-8") as handle:
        (row,) = list(csv.DictReader(handle))
    formula = '=HYPERLINK("https://evil.example")'
    assert row["text"] == (formula if keep_formulas else "'" + formula)
    assert row["emotion"] == "joy"
