"""The Makefile's deploy targets, planned with `make -n` for a stage outside us-east-1, and their refusals.

Every aws and sam command a target would run must name the stage's region (samconfig's), since the SAM CLI reads no
region from the environment and the aws CLI would follow AWS_REGION; nothing may fall back to us-east-1.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from template_support import ROOT, SAMCONFIG_PATH, WORKFLOWS_DIR, load_workflow

REGION = "eu-central-1"
#: The commands that reach AWS: the aws CLI, the SAM CLI and scripts/deploy/stage_ops.py (boto3).
AWS_OR_SAM = re.compile(r"(?:^|[\s;&|(\"])(aws|\.venv-sam/bin/sam|-m scripts\.deploy\.stage_ops) [a-z]")


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """samconfig.toml with every environment in REGION."""
    path = tmp_path_factory.mktemp("samconfig") / "samconfig.toml"
    path.write_text(SAMCONFIG_PATH.read_text(encoding="utf-8").replace('"us-east-1"', f'"{REGION}"'), encoding="utf-8")
    return path


def make(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", **(env or {})}
    return subprocess.run(
        ["make", "--no-print-directory", *args], cwd=cwd, env=environment, capture_output=True, text=True, check=False
    )


def commands(plan: str) -> list[str]:
    """The planned recipe lines that reach AWS (continuation lines joined)."""
    joined = re.sub(r"\\\n\s*", " ", plan)
    return [line for line in joined.splitlines() if AWS_OR_SAM.search(line)]


@pytest.mark.parametrize(
    "target",
    [
        ["deploy", "ENV=dev"],
        ["promote", "ENV=prod", "RELEASE=0123abc"],
        ["rollback", "ENV=prod", "RELEASE=0123abc"],
        ["bootstrap", "ENV=prod", "GITHUB_REPO=owner/name"],
        ["preflight", "ENV=prod"],
        ["outputs", "ENV=prod"],
        ["rotate-key", "ENV=prod"],
        ["destroy", "ENV=prod"],
        ["destroy", "ENV=dev", "PURGE=1"],
        ["validate", "ENV=prod"],
    ],
    ids=lambda target: target[0],
)
def test_every_aws_and_sam_call_names_the_stages_region(elsewhere: Path, target: list[str]) -> None:
    # GIVEN samconfig.toml placing the stages in eu-central-1, and a shell whose AWS_REGION says us-east-1
    # WHEN make plans the target
    result = make("-n", *target, f"SAMCONFIG={elsewhere}")
    assert result.returncode == 0, result.stderr
    planned = commands(result.stdout)
    # THEN every aws and sam call it would make targets eu-central-1, and nothing names us-east-1
    assert planned, result.stdout
    for line in planned:
        for call in re.split(r"\$\(|&&|;", line):
            if AWS_OR_SAM.search(f" {call.strip()}") and " build " not in f" {call} ":
                assert f"--region {REGION}" in call, call
    assert "us-east-1" not in result.stdout
    # AND the SAM CLI reads the same samconfig the region came from
    for line in planned:
        if ".venv-sam/bin/sam " in line:
            assert f"--config-file {elsewhere}" in line, line


def test_deploy_checks_the_tree_before_building_then_packages_uploads_and_deploys_in_order(elsewhere: Path) -> None:
    plan = make("-n", "deploy", "ENV=dev", f"SAMCONFIG={elsewhere}").stdout
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    steps = [
        "git status --porcelain",
        "sam build",
        "sam package",
        "scripts.deploy.stage_ops pin-release dev --template .aws-sam/packaged.yaml",
        f"/emotion-api/releases/{head.strip()}/packaged.yaml",
        "scripts.deploy.stage_ops release dev",
        "scripts.deploy.stage_ops verify-release dev --template .aws-sam/release-dev.yaml",
        "scripts.deploy.stage_ops parameters dev",
        "sam deploy",
        "scripts/deploy/smoke_test.sh",
    ]
    positions = [plan.index(step) for step in steps]
    assert positions == sorted(positions), dict(zip(steps, positions, strict=True))
    # The deploy's parameters: samconfig's, the alarm recipient, the boundary and the concurrency the account allows.
    assert '--parameter-overrides "$params"' in plan


def test_a_hand_promote_checks_the_release_against_the_sha256_dev_printed(elsewhere: Path) -> None:
    plan = make("-n", "promote", "ENV=prod", "RELEASE=0123abc", f"SAMCONFIG={elsewhere}", "RELEASE_SHA256=ab12").stdout
    assert "stage_ops verify-release prod --template .aws-sam/release-prod.yaml" in plan
    assert "--sha256 ab12" in plan
    assert plan.index("verify-release") < plan.index("sam deploy")


@pytest.mark.parametrize("target", ["promote", "rollback", "destroy", "rotate-key"])
def test_targets_acting_on_a_deployed_stage_refuse_to_default_to_dev(target: str, tmp_path: Path) -> None:
    # GIVEN the SAM CLI's virtualenv in place (a marker newer than its requirements)
    (tmp_path / ".installed").touch()
    # WHEN the target is run without ENV
    result = make(target, "RELEASE=0123abc", f"SAM_VENV={tmp_path}")
    # THEN it stops before any AWS call and says ENV is needed
    assert result.returncode == 2
    assert f"usage: make {target} ENV=dev|prod" in result.stderr


def test_a_tree_with_changes_is_refused_before_it_becomes_a_release(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "app.py").write_text("one\n", encoding="utf-8")
    git("add", "app.py")
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "one")
    (tmp_path / "app.py").write_text("two\n", encoding="utf-8")
    makefile = str(ROOT / "Makefile")
    result = make("-f", makefile, "committed", cwd=tmp_path)
    assert result.returncode == 2
    assert "make deploy: commit or stash your changes first" in result.stderr and "app.py" in result.stderr
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qam", "two")
    assert make("-f", makefile, "committed", cwd=tmp_path).returncode == 0


def test_make_validate_needs_no_torch() -> None:
    """cfn-lint comes with the SAM CLI's virtualenv; validating must not install the function's requirements."""
    plan = make("-n", "-B", "validate").stdout
    assert "requirements-torch" not in plan and "torch==" not in plan


def test_the_deploy_workflow_takes_each_stages_region_as_make_does() -> None:
    """The pipeline asks scripts/deploy/stage_config.py, as make does (DEPLOY_REGION, else samconfig's): no region of
    its own, no us-east-1 default. A bootstrap in another region needs only the DEPLOY_REGION variable, no commit."""
    text = (WORKFLOWS_DIR / "deploy.yml").read_text(encoding="utf-8")
    assert "us-east-1" not in text and "vars.AWS_REGION" not in text
    assert "DEPLOY_REGION: ${{ vars.DEPLOY_REGION }}" in text
    for name, job in load_workflow(WORKFLOWS_DIR / "deploy.yml")["jobs"].items():
        steps = job["steps"]
        config = next(step for step in steps if step.get("id") == "config")
        assert 'python3 -m scripts.deploy.stage_config region "$CONFIG_ENV"' in config["run"], name
        credentials = next(s for s in steps if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@"))
        assert credentials["with"]["aws-region"] == "${{ steps.config.outputs.region }}", name
        assert steps.index(config) < steps.index(credentials)
        for step in steps:
            for call in re.findall(r"sam (?:package|deploy)[^\n]*(?:\n[^\n]+)*", step.get("run", "")):
                assert '--region "$AWS_REGION"' in call, (name, call)


def test_deploy_region_moves_every_stage_for_make_and_the_pipeline(elsewhere: Path) -> None:
    plan = make("-n", "preflight", "ENV=prod", f"SAMCONFIG={elsewhere}", env={"DEPLOY_REGION": "ap-south-1"}).stdout
    assert "--region ap-south-1" in plan and REGION not in plan
