"""CodeDeploy's PreTraffic hook (functions/pretraffic), through its entry: Lambda and CodeDeploy stubbed with botocore's
Stubber, the key store mocked with moto, and once against the real inference handler.

What a deployer notices: a version that answers right is let through (Succeeded), anything wrong stops the deployment
(Failed), and the hook always tells CodeDeploy, whatever goes wrong in it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber
from moto import mock_aws
from support import forget_handler, fresh_handler

from pretraffic import handler as hook
from pretraffic.checks import SAMPLE_EMOTION, build_checks, parse_answer, verify_prediction
from scripts.common.lambda_context import LocalLambdaContext

TARGET = "arn:aws:lambda:us-east-1:123456789012:function:emotion-api-dev-InferenceFunction-AbC123:7"
EVENT = {"DeploymentId": "d-ABCDEF123", "LifecycleEventHookExecutionId": "hook-execution-1"}
KEY = "pretraffic-test-key-0123456789"
SECRET = "emotion-api-dev/api-key-test"
GOOD_SCORES = {"joy": 0.93, "surprise": 0.03, "love": 0.02, "fear": 0.01, "anger": 0.005, "sadness": 0.005}
HEADERS = {"content-type": "application/json", "x-request-id": "r-1", "x-model-version": "0123456789ab"}


def proxy_response(status: int, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {"statusCode": status, "headers": headers or HEADERS, "body": json.dumps(body), "isBase64Encoded": False}


GOOD = {
    "health": proxy_response(200, {"status": "ok", "model_loaded": True}),
    "prediction": proxy_response(200, {"emotion": "joy", "confidence": 0.93, "all_emotions": GOOD_SCORES}),
    "invalid_input": proxy_response(422, {"error": {"code": "invalid_input", "message": "m", "request_id": "r"}}),
    "unauthorized": proxy_response(401, {"error": {"code": "unauthorized", "message": "m", "request_id": "r"}}),
}


def invoke_answer(payload: Any, *, version: str = "7", function_error: str | None = None) -> dict[str, Any]:
    raw = json.dumps(payload).encode()
    answer: dict[str, Any] = {
        "StatusCode": 200,
        "ExecutedVersion": version,
        "Payload": StreamingBody(io.BytesIO(raw), len(raw)),
    }
    if function_error:
        answer["FunctionError"] = function_error
    return answer


class Stubbed:
    """Stubbed Lambda and CodeDeploy clients: the invocations expected in order, then the one status report."""

    def __init__(self) -> None:
        self.lambda_client = boto3.client("lambda", region_name="us-east-1")
        self.codedeploy = boto3.client("codedeploy", region_name="us-east-1")
        self.lambda_stub = Stubber(self.lambda_client)
        self.codedeploy_stub = Stubber(self.codedeploy)
        self.sent: list[dict[str, Any]] = []

    def answers(self, *responses: dict[str, Any]) -> None:
        for response in responses:
            self.lambda_stub.add_response(
                "invoke", response, {"FunctionName": TARGET, "InvocationType": "RequestResponse", "Payload": ANY}
            )

    def expect_report(self, status: str) -> None:
        self.codedeploy_stub.add_response(
            "put_lifecycle_event_hook_execution_status",
            {"lifecycleEventHookExecutionId": EVENT["LifecycleEventHookExecutionId"]},
            {
                "deploymentId": EVENT["DeploymentId"],
                "lifecycleEventHookExecutionId": EVENT["LifecycleEventHookExecutionId"],
                "status": status,
            },
        )

    def run(self, environ: dict[str, str] | None = None, client_for: Callable[[str], Any] = boto3.client) -> Any:
        with self.lambda_stub, self.codedeploy_stub:
            result = hook.run(
                EVENT,  # type: ignore[arg-type]
                environ={"TARGET_FUNCTION_VERSION": TARGET} if environ is None else environ,
                lambda_client=self.lambda_client,
                codedeploy_client=self.codedeploy,
                client_for=client_for,
            )
            self.lambda_stub.assert_no_pending_responses()
            self.codedeploy_stub.assert_no_pending_responses()
        return result


@pytest.fixture
def stubbed() -> Stubbed:
    return Stubbed()


def test_a_version_that_answers_right_is_let_through(stubbed: Stubbed) -> None:
    # GIVEN a new version that answers the health route, the sample prediction and the bad request as it should
    stubbed.answers(
        invoke_answer(GOOD["health"]), invoke_answer(GOOD["prediction"]), invoke_answer(GOOD["invalid_input"])
    )
    # THEN CodeDeploy is told Succeeded (and may shift traffic)
    stubbed.expect_report("Succeeded")
    assert stubbed.run() == {"status": "Succeeded", "problems": []}


@pytest.mark.parametrize(
    ("case", "answers", "problem"),
    [
        (
            "model not loaded",
            [proxy_response(503, {"error": {"code": "model_unavailable"}}), GOOD["prediction"], GOOD["invalid_input"]],
            "health: status 503, expected 200",
        ),
        (
            "wrong emotion",
            [
                GOOD["health"],
                proxy_response(
                    200, {"emotion": "anger", "confidence": 0.9, "all_emotions": {"anger": 0.9, "joy": 0.1}}
                ),
                GOOD["invalid_input"],
            ],
            "prediction: predicted 'anger' for the sample text, expected 'joy'",
        ),
        (
            "not a distribution",
            [
                GOOD["health"],
                proxy_response(200, {"emotion": "joy", "confidence": 0.9, "all_emotions": {"joy": 0.9, "fear": 0.9}}),
                GOOD["invalid_input"],
            ],
            "prediction: the probabilities are not a distribution",
        ),
        (
            "no model version header",
            [
                GOOD["health"],
                proxy_response(
                    200,
                    {"emotion": "joy", "confidence": 0.93, "all_emotions": GOOD_SCORES},
                    {"content-type": "application/json"},
                ),
                GOOD["invalid_input"],
            ],
            "prediction: no x-model-version header",
        ),
        (
            "bad input accepted",
            [GOOD["health"], GOOD["prediction"], proxy_response(200, {"emotion": "joy"})],
            "invalid_input: status 200, expected 422",
        ),
        (
            "wrong error shape",
            [GOOD["health"], GOOD["prediction"], proxy_response(422, {"detail": "bad"})],
            "invalid_input: the error code is not invalid_input",
        ),
    ],
)
def test_any_wrong_answer_fails_the_deployment(
    stubbed: Stubbed, case: str, answers: list[dict[str, Any]], problem: str
) -> None:
    stubbed.answers(*(invoke_answer(answer) for answer in answers))
    stubbed.expect_report("Failed")
    result = stubbed.run()
    assert result["status"] == "Failed", case
    assert problem in result["problems"], result["problems"]


def test_a_crashing_version_fails_the_deployment(stubbed: Stubbed) -> None:
    # GIVEN a version whose init or handler raises (Lambda reports FunctionError, the payload is its error)
    crash = invoke_answer({"errorMessage": "boom", "errorType": "ImportError"}, function_error="Unhandled")
    stubbed.answers(crash, crash, crash)
    stubbed.expect_report("Failed")
    result = stubbed.run()
    assert result["problems"][0] == "health: the function raised an error (Unhandled)"


def test_an_invocation_that_cannot_be_made_fails_the_deployment(stubbed: Stubbed) -> None:
    # GIVEN the hook may not invoke the version (or it times out): each check fails, the hook does not crash
    for _ in range(3):
        stubbed.lambda_stub.add_client_error("invoke", "AccessDeniedException", http_status_code=403)
    stubbed.expect_report("Failed")
    result = stubbed.run()
    assert [problem.split(":")[0] for problem in result["problems"]] == ["health", "prediction", "invalid_input"]
    assert all("the invocation failed" in problem for problem in result["problems"])


def test_another_version_answering_fails_the_deployment(stubbed: Stubbed) -> None:
    stubbed.answers(*(invoke_answer(GOOD[name], version="6") for name in ("health", "prediction", "invalid_input")))
    stubbed.expect_report("Failed")
    assert "health: version 6 answered, expected 7" in stubbed.run()["problems"]


def test_a_payload_that_is_no_http_answer_fails_the_deployment(stubbed: Stubbed) -> None:
    stubbed.answers(
        invoke_answer({"warmup": True}), invoke_answer(GOOD["prediction"]), invoke_answer(GOOD["invalid_input"])
    )
    stubbed.expect_report("Failed")
    assert stubbed.run()["problems"] == ["health: the payload has no statusCode"]


def test_without_a_target_nothing_is_invoked_and_the_deployment_fails(stubbed: Stubbed) -> None:
    stubbed.expect_report("Failed")
    assert stubbed.run(environ={})["problems"] == ["TARGET_FUNCTION_VERSION is not set"]


def test_with_a_key_the_samples_carry_it_and_a_keyless_request_must_be_refused(stubbed: Stubbed) -> None:
    # GIVEN a deployment whose key is in Secrets Manager (moto)
    with mock_aws():
        boto3.client("secretsmanager", region_name="us-east-1").create_secret(Name=SECRET, SecretString=KEY)
        stubbed.answers(
            *(invoke_answer(GOOD[name]) for name in ("health", "prediction", "invalid_input", "unauthorized"))
        )
        stubbed.expect_report("Succeeded")
        result = stubbed.run(environ={"TARGET_FUNCTION_VERSION": TARGET, "API_KEY_SECRET_NAME": SECRET})
    assert result == {"status": "Succeeded", "problems": []}
    checks = {check.name: check.event for check in build_checks(KEY)}
    assert checks["prediction"]["headers"]["x-api-key"] == KEY
    assert "x-api-key" not in checks["unauthorized"]["headers"]


def test_a_key_that_cannot_be_read_fails_the_deployment(stubbed: Stubbed) -> None:
    with mock_aws():
        stubbed.expect_report("Failed")
        result = stubbed.run(environ={"TARGET_FUNCTION_VERSION": TARGET, "API_KEY_SECRET_NAME": "missing"})
    assert result["problems"] == ["the API key cannot be read (ResourceNotFoundException)"]


def test_the_hook_reports_through_the_real_entry(monkeypatch: pytest.MonkeyPatch, stubbed: Stubbed) -> None:
    # The Lambda entry builds its clients with boto3 and reads os.environ; both are swapped for the stubbed ones here.
    clients = {"lambda": stubbed.lambda_client, "codedeploy": stubbed.codedeploy}
    monkeypatch.setattr(boto3, "client", lambda service, **_: clients[service])
    monkeypatch.setenv("TARGET_FUNCTION_VERSION", TARGET)
    stubbed.answers(
        invoke_answer(GOOD["health"]), invoke_answer(GOOD["prediction"]), invoke_answer(GOOD["invalid_input"])
    )
    stubbed.expect_report("Succeeded")
    with stubbed.lambda_stub, stubbed.codedeploy_stub:
        assert hook.handler(EVENT, LocalLambdaContext())["status"] == "Succeeded"  # type: ignore[arg-type]


class LocalLambda:
    """A Lambda client whose invoke runs the inference function's real handler in-process."""

    def __init__(self, module: Any) -> None:
        self.module = module

    def invoke(self, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:
        response = self.module.handler(json.loads(Payload), LocalLambdaContext())
        raw = json.dumps(response).encode()
        return {"StatusCode": 200, "ExecutedVersion": "7", "Payload": StreamingBody(io.BytesIO(raw), len(raw))}


@pytest.fixture
def keyed_function(monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path) -> Iterator[Any]:
    """The inference function's real handler over the tiny model, its key in Secrets Manager (moto)."""
    parameters.clear_caches()
    with mock_aws():
        boto3.client("secretsmanager", region_name="us-east-1").create_secret(Name=SECRET, SecretString=KEY)
        yield fresh_handler(monkeypatch, tiny_model_dir, backend="onnx", API_KEY_SECRET_NAME=SECRET)
    forget_handler()
    parameters.clear_caches()


def test_the_real_function_passes_the_hooks_checks(keyed_function: Any) -> None:
    # GIVEN the inference function's real handler, with a key (the tiny model's emotions are random, so the
    # sample's expected emotion is left out; test_any_wrong_answer_fails_the_deployment covers it)
    checks = build_checks(KEY, expected_emotion=None)
    # WHEN the hook's own sample events go through it; THEN every answer is what the hook expects
    problems = hook.run_checks(TARGET, checks, LocalLambda(keyed_function))
    assert problems == []
    assert [check.name for check in checks] == ["health", "prediction", "invalid_input", "unauthorized"]


def test_the_expected_emotion_is_the_sample_texts() -> None:
    answer = parse_answer(json.dumps(GOOD["prediction"]).encode())
    assert SAMPLE_EMOTION == "joy"
    assert verify_prediction(answer) == []
    assert verify_prediction(answer, "sadness") == ["predicted 'joy' for the sample text, expected 'sadness'"]
