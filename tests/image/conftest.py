"""The real image: built with podman, run under the Lambda emulator, driven through SAM; its figures recorded.

Every test here is marked ``image`` and runs in its own pass (`make image-test`, which `.ci/run` runs). A machine
that cannot run containers fails these tests, saying why; SKIP_IMAGE_TEST=1 skips them on purpose.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.common.docs_blocks import render
from scripts.perf.lambda_image import (
    ROOT,
    Build,
    Container,
    ContainerError,
    FunctionConfig,
    Podman,
    SamCli,
    base_image,
    build_image,
    ensure_base,
    function_config,
    podman_service,
    setup_podman,
)

IMAGE_TAG = "localhost/emotion-api:image-test"
FIGURES_JSON = ROOT / "docs" / "image.json"
DEV_PAGE = ROOT / "docs" / "development.md"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.image)


@pytest.fixture(scope="session")
def podman() -> Podman:
    if os.environ.get("SKIP_IMAGE_TEST") == "1":
        pytest.skip("SKIP_IMAGE_TEST=1: the image tests were skipped on request")
    try:
        return setup_podman()
    except ContainerError as error:
        pytest.fail(f"this machine cannot run the image ({error}); SKIP_IMAGE_TEST=1 skips these tests", False)


@pytest.fixture(scope="session")
def base(podman: Podman) -> dict[str, Any]:
    name = base_image()
    try:
        kind = ensure_base(podman, name)
    except ContainerError as error:
        pytest.fail(f"no base image {name}: {error}", False)
    return {"name": name, "kind": kind, "bytes": podman.image_size(name)}


@pytest.fixture(scope="session")
def image(podman: Podman, base: dict[str, Any], figures: dict[str, Any]) -> Iterator[Build]:
    """The function's image, built from the cached base; the build's intermediate images are pruned after the run."""
    try:
        build = build_image(podman, IMAGE_TAG)
    except ContainerError as error:
        pytest.fail(f"the image does not build: {error}", False)
    size = podman.image_size(IMAGE_TAG)
    figures.update(
        base=base["name"],
        base_kind=base["kind"],
        base_mb=round(base["bytes"] / 1e6, 1),
        image_mb=round(size / 1e6, 1),
        over_base_mb=round((size - base["bytes"]) / 1e6, 1),
        build_seconds=round(build.seconds, 1),
    )
    yield build
    podman("image", "prune", "--force", check=False)


@pytest.fixture(scope="session")
def config() -> FunctionConfig:
    return function_config()


@pytest.fixture(scope="session")
def container(podman: Podman, image: Build, config: FunctionConfig) -> Iterator[Container]:
    with Container(podman, image.tag, config) as running:
        yield running


@pytest.fixture(scope="session")
def figures() -> Iterator[dict[str, Any]]:
    """Measured figures; written to docs/image.json and docs/development.md when a run measured them all."""
    measured: dict[str, Any] = {}
    yield measured
    if {"image_mb", "cold_invoke_s", "warm_p50_ms"} <= set(measured):
        measured["cpus"] = os.cpu_count()
        FIGURES_JSON.write_text(json.dumps(measured, indent=2) + "\n")
        DEV_PAGE.write_text(render(DEV_PAGE.read_text(), {"image": figures_table(measured)}, where=DEV_PAGE))


def figures_table(figures: dict[str, Any]) -> str:
    base = "a stand-in built from Debian packages" if figures["base_kind"] == "stand-in" else "AWS's base image"
    rows = [
        ("image size", f"{figures['image_mb']} MB ({figures['over_base_mb']} MB over {base}, {figures['base_mb']} MB)"),
        ("build (layers that did not change are reused)", f"{figures['build_seconds']} s"),
        ("cold invoke (the first request to a new container)",
         f"{figures['cold_invoke_s']} s, median of {figures['cold_starts']} (max {figures['cold_invoke_max_s']} s)"),
        ("warm invoke, one text", f"p50 {figures['warm_p50_ms']} ms, p90 {figures['warm_p90_ms']} ms"),
        ("warm invoke, batch event", f"p50 {figures['warm_batch_p50_ms']} ms"),
    ]  # fmt: skip
    lines = ["| figure | measured |", "| --- | --- |", *(f"| {name} | {value} |" for name, value in rows)]
    note = (
        f"\nMeasured by `make image-test` through the Runtime Interface Emulator on {figures['cpus']} cores, "
        f"read-only root filesystem, {figures['memory_mb']} MB memory limit (docs/image.json)."
    )
    return "\n".join(lines) + "\n" + note


# --------------------------------------------------------------------------- the SAM CLI through podman


@pytest.fixture(scope="session")
def docker_host(podman: Podman, image: Build) -> Iterator[str]:
    with podman_service(podman) as url:
        yield url


@pytest.fixture(scope="session")
def sam() -> SamCli:
    """For commands that need no container engine (generate-event)."""
    return sam_cli(None)


@pytest.fixture(scope="session")
def sam_podman(docker_host: str) -> SamCli:
    return sam_cli(docker_host)


def sam_cli(docker_host: str | None) -> SamCli:
    try:
        return SamCli(docker_host)
    except ContainerError as error:
        pytest.fail(str(error), False)


@pytest.fixture(scope="session")
def sam_template(sam_podman: SamCli, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`sam build InferenceFunction`; the built template that `sam local` runs."""
    build_dir = tmp_path_factory.mktemp("aws-sam")
    result = sam_podman("build", "InferenceFunction", "--build-dir", str(build_dir))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return build_dir / "template.yaml"
