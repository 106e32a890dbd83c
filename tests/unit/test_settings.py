"""Settings are read from the environment once and bad values fail the cold start, naming the variable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import AliasChoices, ValidationError

from app.settings import Settings, available_cpus


def test_defaults_serve_the_bundled_model_openly(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MODEL_PATH", "MODEL_S3_URI", "API_KEY_SECRET_NAME", "API_KEY_PARAMETER_NAME", "MAX_BATCH"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.model_path.name == "model"
    assert settings.model_path.parent.name == "inference"
    assert settings.model_s3_uri is None
    assert settings.max_batch == 32
    assert settings.max_text_chars == 5000
    assert settings.api_key_secret_name is None and settings.api_key_parameter_name is None


def test_empty_optional_values_from_sam_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_S3_URI", "")
    monkeypatch.setenv("API_KEY_SECRET_NAME", " ")
    settings = Settings()
    assert settings.model_s3_uri is None
    assert settings.api_key_secret_name is None and settings.api_key_parameter_name is None


def test_a_bad_value_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_S3_URI", "https://example.com/model")
    with pytest.raises(ValidationError, match="model_s3_uri"):
        Settings()
    monkeypatch.delenv("MODEL_S3_URI")
    monkeypatch.setenv("MAX_BATCH", "lots")
    with pytest.raises(ValidationError, match="max_batch"):
        Settings()
    monkeypatch.delenv("MAX_BATCH")
    monkeypatch.setenv("MAX_REQUEST_TOKENS", "100")  # below one text of the model's length
    with pytest.raises(ValidationError, match="max_request_tokens"):
        Settings()


def test_cors_origins_are_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", "https://a.example, https://b.example,")
    assert Settings().cors_allow_origins == ("https://a.example", "https://b.example")


def test_inference_threads_follow_the_cpus_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NUM_THREADS", raising=False)
    assert Settings().inference_threads() == available_cpus() >= 1
    monkeypatch.setenv("NUM_THREADS", "1")
    assert Settings().inference_threads() == 1


def _cgroup(root: Path, files: dict[str, str]) -> Path:
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content + "\n")
    return root


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({}, 4),  # no CPU controller visible: the affinity mask
        ({"cpu.max": "max 100000"}, 4),
        ({"cpu.max": "200000 100000"}, 2),
        ({"cpu.max": "50000 100000"}, 1),  # half a CPU: one thread, never zero
        ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, 4),  # cgroup v1, unlimited
        ({"cpu/cpu.cfs_quota_us": "50000", "cpu/cpu.cfs_period_us": "100000"}, 1),  # podman --cpus 0.5 on v1
        ({"cpu,cpuacct/cpu.cfs_quota_us": "150000", "cpu,cpuacct/cpu.cfs_period_us": "100000"}, 1),
        ({"cpu/cpu.cfs_quota_us": "300000", "cpu/cpu.cfs_period_us": "100000"}, 3),
        ({"cpu/cpu.cfs_quota_us": "900000", "cpu/cpu.cfs_period_us": "100000"}, 4),  # capped by the mask
        ({"cpu.max": "garbage", "cpu/cpu.cfs_quota_us": "nan", "cpu/cpu.cfs_period_us": "0"}, 4),
    ],
)
def test_threads_never_exceed_any_cpu_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str], expected: int
) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert available_cpus(_cgroup(tmp_path, files)) == expected


def _variable(name: str, alias: object) -> str:
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return alias if isinstance(alias, str) else name.upper()


@pytest.mark.parametrize("document", ["README.md", "docs/configuration.md"])
def test_every_setting_is_documented_with_its_default(document: str) -> None:
    """The README's brief table and the configuration page's full one each name every variable and its default."""
    text = (Path(__file__).resolve().parents[2] / document).read_text()
    documented = dict(re.findall(r"^\| `([A-Z0-9_]+)` \| ([^|]+) \|", text, flags=re.MULTILINE))
    variables = {_variable(name, field.validation_alias): field for name, field in Settings.model_fields.items()}
    assert set(variables) <= set(documented), sorted(set(variables) - set(documented))
    for variable, field in variables.items():
        default = field.default
        if isinstance(default, bool | int):
            shown = str(default).lower() if isinstance(default, bool) else str(default)
            assert documented[variable].strip() == f"`{shown}`", (variable, documented[variable])


def test_tracing_runs_only_inside_lambda_and_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    assert not Settings().is_tracing_enabled
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    assert Settings().is_tracing_enabled
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    assert not Settings().is_tracing_enabled
