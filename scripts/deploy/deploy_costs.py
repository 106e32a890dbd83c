"""How dev and prod differ, and what each costs a month before any traffic at us-east-1 list prices.

Read from template.yaml and samconfig.toml, so the table in docs/deploy.md follows them:

    python -m scripts.deploy.deploy_costs --doc docs/deploy.md      (make costs) rewrites the tables between its markers

The prices are AWS's published on-demand list prices (us-east-1, x86, checked for this table); free tiers are left
out. Traffic-dependent costs (requests, durations, logs, S3, Step Functions) are listed as rates, not guessed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, get_args

from scripts.common.docs_blocks import replace_between
from scripts.common.lambda_cost import PER_GB_SECOND, PER_MILLION_REQUESTS, invocation_cost, provisioned_cost
from scripts.common.sam_template import TEMPLATE, load_template
from scripts.deploy import stage_config

HOURS_A_MONTH = 730
#: USD, us-east-1 list prices (Lambda's in scripts/common/lambda_cost.py).
DASHBOARD_MONTH = 3.00
ALARM_METRIC_MONTH = 0.10
SECRET_MONTH = 0.40
#: CloudWatch custom metrics, the first 10,000 of an account's, each metric name and dimension set a month.
CUSTOM_METRIC_MONTH = 0.30
HTTP_API_REQUEST = 1.00 / 1_000_000
#: X-Ray, per trace recorded and per trace retrieved or scanned (the first 100,000 recorded a month are free).
XRAY_RECORDED = 5.00 / 1_000_000
XRAY_RETRIEVED = 0.50 / 1_000_000
#: The bundled model, whose labels each get a metric of their own.
BUNDLED_MODEL_CONFIG = TEMPLATE.parent / "functions" / "inference" / "model" / "config.json"
#: A warm-up ping is answered before the app runs (functions/inference/app/handler.py): about this long, billed.
WARMUP_SECONDS = 0.01
BEGIN, END = "<!-- costs:begin (make costs) -->", "<!-- costs:end -->"


def alarm_metrics(template: dict[str, Any]) -> int:
    """Alarms are billed per metric they watch: one each, or each metric of a metric-math alarm."""
    count = 0
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            metrics = resource["Properties"].get("Metrics")
            count += sum("MetricStat" in item for item in metrics) if metrics else 1
    return count


def custom_metrics(template: dict[str, Any]) -> int:
    """The custom metrics a stage publishes once it has served: the app's own (functions/inference/app/observability.py:
    one per name, one per label of the bundled model, one per trust warning, Powertools' ColdStart) and the metric
    filters' on its logs. A model with other labels has as many label metrics as labels."""
    from app import observability
    from app.schemas import WarningCode

    fixed = [
        observability.PREDICTIONS,
        observability.INFERENCE_LATENCY,
        observability.TRUNCATED_TEXTS,
        observability.UNRELIABLE_PREDICTIONS,
        observability.MODEL_LOAD_TIME,
        observability.WARMUP_PINGS,
        observability.DEADLINE_REFUSALS,
        "ColdStart",
    ]
    labels = json.loads(BUNDLED_MODEL_CONFIG.read_text(encoding="utf-8"))["id2label"]
    filters = sum(
        len(resource["Properties"]["MetricTransformations"])
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Logs::MetricFilter"
    )
    return len(fixed) + len(labels) + len(get_args(WarningCode)) + filters


def stage_costs(env: str, template: dict[str, Any]) -> dict[str, float]:
    overrides = stage_config.deploy_overrides(env, {})
    memory_mb = int(overrides["MemorySize"])
    provisioned = int(overrides.get("ProvisionedConcurrency", "0"))
    warmups = 0 if provisioned else HOURS_A_MONTH * 12  # every five minutes, off with provisioned concurrency
    secret = overrides.get("RequireApiKey") == "true" and not overrides.get("ApiKeySecretArn")
    return {
        "provisioned": provisioned_cost(provisioned, memory_mb, HOURS_A_MONTH * 3600),
        "warmup": warmups * invocation_cost(WARMUP_SECONDS * 1000, memory_mb),
        "dashboard": DASHBOARD_MONTH,
        "alarms": alarm_metrics(template) * ALARM_METRIC_MONTH,
        "metrics": custom_metrics(template) * CUSTOM_METRIC_MONTH,
        "secret": SECRET_MONTH if secret else 0.0,
    }


def money(value: float) -> str:
    return "-" if value == 0 else f"${value:,.2f}" if value >= 0.01 else "under $0.01"


def table(template: dict[str, Any]) -> str:
    dev, prod = stage_costs("dev", template), stage_costs("prod", template)
    memory = stage_config.deploy_overrides("prod", {})["MemorySize"]
    rows = [
        ("provisioned concurrency (prod: 1 instance at " + memory + " MB, billed around the clock)", "provisioned"),
        ("warm-up ping every 5 minutes (dev; off where concurrency is provisioned)", "warmup"),
        ("CloudWatch dashboard (the account's first 3 are free)", "dashboard"),
        (f"alarms ({alarm_metrics(template)} alarm metrics at ${ALARM_METRIC_MONTH:.2f})", "alarms"),
        (
            f"custom metrics ({custom_metrics(template)} at ${CUSTOM_METRIC_MONTH:.2f}: the app's and the log "
            "filters', billed once published)",
            "metrics",
        ),
        ("generated API key (Secrets Manager)", "secret"),
    ]
    lines = ["| fixed, a month | dev | prod |", "| --- | --- | --- |"]
    lines += [f"| {label} | {money(dev[key])} | {money(prod[key])} |" for label, key in rows]
    lines.append(f"| **total before traffic** | **{money(sum(dev.values()))}** | **{money(sum(prod.values()))}** |")
    lines.append("")
    lines.append(
        f"Per use, both stages: ${HTTP_API_REQUEST * 1e6:.2f} a million HTTP API requests, "
        f"${PER_MILLION_REQUESTS:.2f} a million Lambda requests plus ${PER_GB_SECOND['x86_64']:.10f} a GB-second "
        '(docs/performance.md "Right-sizing" measures a prediction\'s duration), CloudWatch Logs $0.50 a GB '
        "ingested and $0.03 a GB-month kept, S3 $0.023 a GB-month (artifact store, bulk bucket), ECR $0.10 a "
        "GB-month (images), Step Functions per state transition of bulk jobs, X-Ray (tracing is on) "
        f"${XRAY_RECORDED * 1e6:.2f} a million traces recorded and ${XRAY_RETRIEVED * 1e6:.2f} a million retrieved "
        "or scanned (the first 100,000 recorded and 1,000,000 retrieved a month are free), Secrets Manager "
        "$0.05 per 10,000 key reads (each environment reads the key once per API_KEY_CACHE_SECONDS)."
    )
    return "\n".join(lines)


#: The settings that differ between the stages, and what each means, for the dev/prod table.
SETTINGS = {
    "MemorySize": "function memory (MB)",
    "ProvisionedConcurrency": "provisioned concurrency (instances kept initialised)",
    "DeploymentType": "traffic shift of a new version",
    "RequireApiKey": "API key required",
    "LogLevel": "log level",
    "LogRetentionDays": "log retention (days)",
    "ThrottleBurstLimit": "throttle burst (requests)",
    "ThrottleRateLimit": "throttle rate (requests a second)",
}


def settings_table() -> str:
    """Each stage's values, from samconfig.toml as the deploy passes them."""
    dev, prod = stage_config.deploy_overrides("dev", {}), stage_config.deploy_overrides("prod", {})
    lines = ["| setting (samconfig.toml) | dev | prod |", "| --- | --- | --- |"]
    lines += [f"| {label} (`{name}`) | {dev[name]} | {prod[name]} |" for name, label in SETTINGS.items()]
    confirm = ["yes" if stage_config.section(env, "deploy")["confirm_changeset"] else "no" for env in ("dev", "prod")]
    lines.append(f"| asks to confirm a hand deploy's change set | {confirm[0]} | {confirm[1]} |")
    return "\n".join(lines)


def write(doc: Path, template: dict[str, Any]) -> None:
    body = f"{settings_table()}\n\n{table(template)}"
    doc.write_text(replace_between(doc.read_text(encoding="utf-8"), BEGIN, END, body, where=doc), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--doc", type=Path, required=True)
    args = parser.parse_args()
    write(args.doc, load_template(TEMPLATE))


if __name__ == "__main__":
    main()
