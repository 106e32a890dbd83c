"""The hash-pinned locks the image and the zip flavor's dependencies layer install (`make lock` writes them).

pip --require-hashes refuses a package that is not in the lock, so a lock that misses a dependency breaks the
build; these tests catch it first, from the packages' own metadata in the project's virtualenv (which installs the
image's lock, so its versions are the ones locked).
"""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from template_support import FUNCTION_DIR, ROOT, dockerfile_instructions

IMAGE_LOCK = FUNCTION_DIR / "requirements.lock"
LAYER_LOCK = ROOT / "layers" / "dependencies" / "requirements.lock"
#: lock -> (the requirements it is resolved from, the Pythons it must serve). The image: AWS's 3.12 base, and the
#: stand-in's 3.11 that `make image-test` builds on where that base cannot be pulled; the layer: python3.12.
LOCKS = {
    IMAGE_LOCK: (FUNCTION_DIR / "requirements.txt", ("3.11", "3.12")),
    LAYER_LOCK: (ROOT / "layers" / "dependencies" / "requirements.txt", ("3.12",)),
}
MACHINES = ("x86_64", "aarch64")


class Locked:
    """One lock entry: its version, the marker saying where it applies, and its files' sha256 digests."""

    def __init__(self, version: str, marker: str | None, hashes: list[str]) -> None:
        self.version, self.marker, self.hashes = version, Marker(marker) if marker else None, hashes


def read_lock(path: Path) -> dict[str, Locked]:
    """name -> entry of a `uv pip compile --generate-hashes` file (continuation lines joined, comments dropped)."""
    text = re.sub(r"\s*\\\n\s*", " ", path.read_text(encoding="utf-8"))
    entries: dict[str, Locked] = {}
    for line in text.splitlines():
        requirement = line.split("#", 1)[0].strip() if not line.lstrip().startswith("--hash") else line
        if not requirement or requirement.startswith("#"):
            continue
        spec, *hashes = requirement.split(" --hash=")
        name_version, _, marker = spec.partition(";")
        name, version = name_version.strip().split("==")
        entries[canonicalize_name(name)] = Locked(version.strip(), marker.strip() or None, hashes)
    return entries


def environments(pythons: tuple[str, ...]) -> list[dict[str, str]]:
    """Lambda's environments (Linux, CPython, x86_64 and arm64) for each Python, as marker variables."""
    return [
        {"python_version": python, "python_full_version": f"{python}.0", "sys_platform": "linux",
         "platform_system": "Linux", "platform_machine": machine, "os_name": "posix",
         "implementation_name": "cpython", "platform_python_implementation": "CPython"}
        for python in pythons
        for machine in MACHINES
    ]  # fmt: skip


@pytest.mark.parametrize("lock", LOCKS, ids=lambda path: path.parent.name)
def test_every_locked_package_has_an_exact_version_and_hashes_and_none_is_torch(lock: Path) -> None:
    entries = read_lock(lock)
    assert entries
    for name, entry in entries.items():
        assert re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", entry.version), name
        assert entry.hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", digest) for digest in entry.hashes), name
    assert not {name for name in entries if re.match(r"torch|nvidia|triton|transformers", name)}  # CPU-only, no torch
    assert "make lock" in lock.read_text(encoding="utf-8").split("\n", 3)[1]  # says how to write it again


@pytest.mark.parametrize("lock", LOCKS, ids=lambda path: path.parent.name)
def test_the_lock_holds_every_dependency_of_what_it_installs(lock: Path) -> None:
    """Each requirement, and each dependency of each locked package on Lambda's platforms, is locked at a version it
    accepts: pip --require-hashes installs nothing else, so starlette, anyio, pydantic-core ... can no longer float."""
    requirements_file, pythons = LOCKS[lock]
    entries = read_lock(lock)
    direct = [Requirement(line.split("#", 1)[0]) for line in requirements_file.read_text(encoding="utf-8").splitlines()
              if line.split("#", 1)[0].strip()]  # fmt: skip
    for environment in environments(pythons):
        pending = [(requirement, "requirements.txt") for requirement in direct]
        seen: set[tuple[str, frozenset[str]]] = set()
        while pending:
            requirement, wanted_by = pending.pop()
            name = canonicalize_name(requirement.name)
            assert name in entries, f"{name} ({wanted_by}, Python {environment['python_version']}) is not in {lock}"
            entry = entries[name]
            assert requirement.specifier.contains(entry.version, prereleases=True), (name, wanted_by, entry.version)
            assert entry.marker is None or entry.marker.evaluate(environment), (name, environment)
            if (name, frozenset(requirement.extras)) in seen:
                continue
            seen.add((name, frozenset(requirement.extras)))
            installed = importlib.metadata.distribution(name)
            assert installed.version == entry.version, f"{name}: run `make setup` (the virtualenv installs the lock)"
            for dependency in map(Requirement, installed.requires or []):
                extras = requirement.extras or {""}
                if dependency.marker is None or any(
                    dependency.marker.evaluate({**environment, "extra": extra}) for extra in extras
                ):
                    pending.append((dependency, name))


def test_the_image_and_the_layer_lock_the_same_versions() -> None:
    """Both flavors run the same code: what both locks hold, they hold at one version."""
    image, layer = read_lock(IMAGE_LOCK), read_lock(LAYER_LOCK)
    assert {name: image[name].version for name in image.keys() & layer.keys()} == {
        name: layer[name].version for name in image.keys() & layer.keys()
    }
    assert set(layer) - set(image) == {"snapshot-restore-py"}  # the layer adds the SnapStart hooks only


def test_the_image_and_the_layer_install_their_lock_with_require_hashes() -> None:
    """The default image's one pip install, and the layer's, take the lock in hash-checking mode."""
    (install,) = [args for keyword, args in dockerfile_instructions() if keyword == "RUN" and "pip install" in args]
    onnx_branch = install.split("else", 1)[1].split("fi", 1)[0]
    assert re.findall(r"pip install [^;&]*", onnx_branch) == [
        'pip install --no-cache-dir --require-hashes -r "${LAMBDA_TASK_ROOT}/requirements.lock"'
    ]
    copied = next(args for keyword, args in dockerfile_instructions() if keyword == "COPY" and ".lock" in args)
    assert "functions/inference/requirements.lock" in copied.split()
    makefile = re.sub(r"\\\n", " ", (ROOT / "layers" / "Makefile").read_text(encoding="utf-8"))
    installs = [line for line in makefile.splitlines() if "pip install" in line]
    assert len(installs) == 1 and "--require-hashes -r requirements.lock" in installs[0]
