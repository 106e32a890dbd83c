"""Runtime configuration: the only module that reads environment variables.

Every field is documented, with its default, in the README's configuration table and docs/configuration.md.
Values are parsed once per execution environment; a bad value fails the cold start with the variable's name
instead of failing a request.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .backends import BACKENDS
from .schemas import MAX_ITEMS

#: The bundled model sits next to the ``app`` package, both locally and in the image (/var/task/model).
DEFAULT_MODEL_PATH = Path(__file__).resolve().parent.parent / "model"


class Settings(BaseSettings):
    """Service settings, read from environment variables of the same name (upper case)."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    model_path: Path = Field(DEFAULT_MODEL_PATH, description="Directory of the baked Hugging Face model.")
    model_s3_uri: str | None = Field(
        None,
        description="s3://bucket/prefix of a model fetched into MODEL_CACHE_DIR at cold start; wins over MODEL_PATH.",
    )
    model_sha256: str | None = Field(
        None,
        description=(
            "Expected digest of the model fetched from MODEL_S3_URI (docs/configuration.md: Model digest); the model "
            "is refused unless it matches. Only with MODEL_S3_URI."
        ),
    )
    model_cache_dir: Path = Field(
        Path("/tmp/model"),  # /tmp is the only writable path on Lambda  # noqa: S108  # nosec B108
        description="Where an S3 model is downloaded to.",
    )
    model_backend: str = Field(
        "onnx", description="Inference backend: onnx (int8, the fast default) or torch (fp32, any exported model)."
    )
    num_threads: int = Field(
        0, ge=0, description="Intra-op threads for inference; 0 uses the CPUs this process may run on."
    )
    max_batch: int = Field(32, ge=1, le=MAX_ITEMS, description="Most texts accepted by POST /predict/batch.")
    max_text_chars: int = Field(5000, ge=1, description="Most characters accepted in one text.")
    max_request_tokens: int = Field(
        4096,
        ge=512,
        description=(
            "Most tokens the model may read of one request's texts together (each text at most 512): bounds the "
            "work of one call (docs/performance.md measures the costliest request it allows)."
        ),
    )
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Most bytes accepted in one request body.")
    api_key_secret_name: str | None = Field(
        None, description="Secrets Manager secret (name or ARN) whose value is the API key; enables the key check."
    )
    api_key_parameter_name: str | None = Field(
        None, description="SSM SecureString parameter whose value is the API key; enables the key check."
    )
    api_key_cache_seconds: int = Field(300, ge=0, description="How long a fetched API key is reused before refetching.")
    cors_allow_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="Comma-separated origins allowed by CORS; empty sends no CORS headers."
    )
    min_remaining_ms: int = Field(
        1000,
        ge=0,
        description="Least Lambda time left (ms) to start a request; below it the answer is 504 at once.",
    )
    log_input_text: bool = Field(False, description="Log request texts (debugging only: texts may be personal data).")
    service_name: str = Field(
        "emotion-api",
        validation_alias=AliasChoices("POWERTOOLS_SERVICE_NAME", "SERVICE_NAME"),
        description="Service name in logs, metrics and traces.",
    )
    trace_disabled: bool = Field(
        False,
        validation_alias=AliasChoices("POWERTOOLS_TRACE_DISABLED", "TRACE_DISABLED"),
        description="Turn X-Ray tracing off inside Lambda; outside Lambda it is always off.",
    )
    lambda_task_root: str | None = Field(
        None,
        validation_alias="LAMBDA_TASK_ROOT",
        description="Set by the Lambda runtime; its presence means the code runs inside Lambda.",
    )
    metrics_namespace: str = Field(
        "EmotionApi",
        validation_alias=AliasChoices("POWERTOOLS_METRICS_NAMESPACE", "METRICS_NAMESPACE"),
        description="CloudWatch namespace of the EMF metrics.",
    )

    @field_validator("model_s3_uri", "model_sha256", "api_key_secret_name", "api_key_parameter_name", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """SAM passes optional parameters as empty strings; treat those as unset."""
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("model_backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if value not in BACKENDS:
            raise ValueError(f"MODEL_BACKEND must be one of {sorted(BACKENDS)}")
        return value

    @field_validator("model_s3_uri")
    @classmethod
    def _must_be_s3_uri(cls, value: str | None) -> str | None:
        if value is not None and (not value.startswith("s3://") or len(value) <= len("s3://")):
            raise ValueError("MODEL_S3_URI must look like s3://bucket/prefix")
        return value

    @field_validator("model_sha256")
    @classmethod
    def _must_be_sha256(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", value.strip()):
            raise ValueError("MODEL_SHA256 must be 64 hexadecimal digits (a sha256)")
        return value.strip().lower() if value is not None else None

    @model_validator(mode="after")
    def _digest_needs_s3(self) -> Settings:
        if self.model_sha256 is not None and self.model_s3_uri is None:
            raise ValueError("MODEL_SHA256 verifies a model fetched from S3: set MODEL_S3_URI too, or unset it")
        return self

    @field_validator("cors_allow_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(origin.strip() for origin in value.split(",") if origin.strip())
        return value

    @property
    def is_tracing_enabled(self) -> bool:
        """X-Ray only inside Lambda, where its daemon listens, and not when switched off."""
        return self.lambda_task_root is not None and not self.trace_disabled

    def inference_threads(self) -> int:
        """Threads for inference: oversubscribing the CPUs made single requests 5-10x slower."""
        return self.num_threads or available_cpus()


#: Where the CPU controller's files are: the container's own cgroup, under cgroup namespaces and in Lambda.
CGROUP_ROOT = Path("/sys/fs/cgroup")


def available_cpus(cgroup_root: Path = CGROUP_ROOT) -> int:
    """CPUs this process may use without oversubscribing them: the affinity mask, capped by every CPU quota.

    A container limited with ``--cpus`` keeps every core in its affinity mask; only its cgroup's quota says how
    much time it gets. Both cgroup versions are read: v2's ``cpu.max`` and v1's ``cpu.cfs_quota_us`` /
    ``cpu.cfs_period_us`` (Docker and podman on v1 hosts). A fractional quota rounds down, never below one:
    at half a CPU two threads would only take turns, and waiting on each other made requests 5-10x slower.
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    for quota in _cpu_quotas(cgroup_root):
        cpus = min(cpus, int(quota))
    return max(1, cpus)


def _cpu_quotas(root: Path) -> list[float]:
    """The CPU quotas (in CPUs) that the cgroup files under ``root`` set; none when unlimited or unreadable."""
    quotas = []
    try:
        quota, period = (root / "cpu.max").read_text().split()
        if quota != "max":
            quotas.append(int(quota) / int(period))
    except (OSError, ValueError):
        pass
    for controller in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        try:
            quota_us = int((root / controller / "cpu.cfs_quota_us").read_text())
            period_us = int((root / controller / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
        if quota_us > 0 and period_us > 0:  # -1: no quota
            quotas.append(quota_us / period_us)
    return quotas


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this execution environment, parsed on first use."""
    return Settings()
