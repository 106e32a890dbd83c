"""Operations from day one: the dashboard and the drift alarm read the metrics the app emits, and docs/deploy.md
describes every alarm and carries the tables `make costs` generates."""

from __future__ import annotations

import ast
import json
import re
import shutil
from pathlib import Path
from typing import Any

from template_support import ROOT, render, resources_of_type

from scripts.common.sam_template import load_template
from scripts.deploy import deploy_costs

DOC = ROOT / "docs" / "deploy.md"
OBSERVABILITY = ROOT / "functions" / "inference" / "app" / "observability.py"


def emitted_metric_names() -> set[str]:
    """The metric names observability.py defines (module-level string constants), and Powertools' ColdStart."""
    tree = ast.parse(OBSERVABILITY.read_text(encoding="utf-8"))
    names = {
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
    }
    return names | {"ColdStart"}


def dashboard(template: dict[str, Any]) -> dict[str, Any]:
    (resource,) = resources_of_type(template, "AWS::CloudWatch::Dashboard").values()
    body, variables = resource["Properties"]["DashboardBody"]["Fn::Sub"]
    assert variables == {"Namespace": {"Fn::Sub": "EmotionApi/${AWS::StackName}"}}
    filled = re.sub(r"\$\{[^}]+\}", "1", body)  # every ${...} is a name or the alarm's threshold
    return dict(json.loads(filled))


def dashboard_metrics(widgets: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(namespace, metric name) of every metric row, with CloudWatch's "." and "..." shorthands resolved."""
    found: list[tuple[str, str]] = []
    for widget in widgets:
        previous = ("", "")
        for row in widget["properties"]["metrics"]:
            if isinstance(row[0], dict):  # a math expression
                continue
            if row[0] != "...":
                namespace = previous[0] if row[0] == "." else row[0]
                previous = (namespace, previous[1] if row[1] == "." else row[1])
            found.append(previous)
    return found


def test_the_dashboard_reads_the_metrics_the_app_emits() -> None:
    template = load_template(ROOT / "template.yaml")
    namespace = template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    assert namespace == {"Fn::Sub": "EmotionApi/${AWS::StackName}"}
    widgets = dashboard(template)["widgets"]
    titles = [widget["properties"]["title"] for widget in widgets]
    for wanted in ("Requests", "Latency", "Errors by code", "Cold starts", "Throttles", "warning", "Bulk jobs"):
        assert any(wanted in title for title in titles), wanted
    app_metrics = {name for namespace, name in dashboard_metrics(widgets) if namespace == "1"} - {"ServerErrors"}
    warnings = {f"Warning_{code}" for code in ("no_clear_emotion", "not_english", "low_confidence")}
    assert app_metrics >= {"Predictions", "UnreliablePredictions", "InferenceLatency", "ModelLoadTime"} | warnings
    prefixes = {name.split("_")[0] for name in app_metrics}
    assert prefixes <= emitted_metric_names(), prefixes - emitted_metric_names()


def test_the_drift_alarm_divides_unreliable_predictions_by_predictions_in_the_stacks_namespace() -> None:
    template = render({"Stage": "prod", "AlarmEmail": "a@example.org"})
    alarm = template["Resources"]["UnreliablePredictionsAlarm"]["Properties"]
    metrics = {item["Id"]: item for item in alarm["Metrics"]}
    assert metrics["share"]["Expression"] == "IF(predictions >= 20, 100 * unreliable / predictions)"
    globals_ = load_template(ROOT / "template.yaml")["Globals"]["Function"]["Environment"]["Variables"]
    assert globals_["POWERTOOLS_SERVICE_NAME"] == "emotion-api"  # Powertools' service dimension
    for metric_id, name in (("unreliable", "UnreliablePredictions"), ("predictions", "Predictions")):
        metric = metrics[metric_id]["MetricStat"]["Metric"]
        assert metric["MetricName"] == name and name in emitted_metric_names()
        assert metric["Namespace"] == {"Fn::Sub": "EmotionApi/${AWS::StackName}"}
        assert metric["Dimensions"] == [{"Name": "service", "Value": "emotion-api"}]
    assert alarm["Threshold"] == {"Ref": "UnreliableShareAlarmPercent"}
    assert alarm["EvaluationPeriods"] * metrics["unreliable"]["MetricStat"]["Period"] == 3600


def test_the_deploy_page_says_what_every_alarm_means() -> None:
    text = DOC.read_text(encoding="utf-8")
    alarms = resources_of_type(load_template(ROOT / "template.yaml"), "AWS::CloudWatch::Alarm")
    assert len(alarms) >= 8
    for name in alarms:
        assert f"| `{name}`" in text, f"docs/deploy.md's alarm table lacks {name}"


def test_the_deploy_pages_tables_are_what_make_costs_writes(tmp_path: Path) -> None:
    copy = tmp_path / "deploy.md"
    shutil.copy(DOC, copy)
    deploy_costs.write(copy, load_template(ROOT / "template.yaml"))
    assert copy.read_text(encoding="utf-8") == DOC.read_text(encoding="utf-8"), "run make costs"
    assert "| **total before traffic** |" in copy.read_text(encoding="utf-8")


def test_the_readme_points_at_the_deploy_page_and_no_stage_path() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/deploy.md" in readme
    assert "…/dev/" not in readme and "include the stage path" not in readme
