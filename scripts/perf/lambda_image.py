"""Build the function's container image with podman and run it the way Lambda runs it.

The image runs under the Runtime Interface Emulator with a read-only root filesystem, a writable /tmp, and the
memory, timeout and environment that template.yaml gives the function. No Docker daemon and no registry access are
needed: podman runs as root with its configuration and storage in a work folder of its own (IMAGE_WORK_DIR, default
~/.cache/emotion-api/podman), and when the Lambda base image cannot be had, a stand-in is built from Debian packages
and PyPI (scripts/perf/container/). The image tests (tests/image, `make image-test`) and benchmarks of the real image
share this module.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scripts.common.sam_template import TEMPLATE, load_template, with_globals

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "functions" / "inference" / "Dockerfile"
STAND_IN_DIR = Path(__file__).resolve().parent / "container"
SAM = ROOT / ".venv-sam" / "bin" / "sam"
FUNCTION_ID = "InferenceFunction"
ROOTFS_TAG = "localhost/emotion-api/debian-rootfs:bookworm"
#: Marks a base image as our stand-in, so a later run can tell it from AWS's own.
STAND_IN_LABEL = "org.emotion-api.stand-in"
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
#: Enough for every rlimit podman sets by default that this sandbox refuses to raise (no CAP_SYS_RESOURCE).
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
# crun refuses the hybrid cgroup v1/v2 layout of some sandboxes; runc and cgroupfs work under both.
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""
PACKAGES = ("podman", "runc", "mmdebstrap", "uidmap", "ca-certificates")


class ContainerError(RuntimeError):
    """Raised when this machine cannot build or run the image; the message says why."""


@dataclass(frozen=True)
class Podman:
    """The podman CLI over this project's configuration and storage (never the user's global ones)."""

    work: Path

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CONTAINERS_CONF": str(self.work / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(self.work / "storage.conf"),
        }

    @property
    def socket(self) -> Path:
        return self.work / "podman.sock"

    @property
    def binary(self) -> str:
        found = shutil.which("podman")
        if found is None:
            raise ContainerError("podman is not installed")
        return found

    def __call__(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.binary, *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise ContainerError(f"podman {' '.join(args[:2])} failed ({result.returncode}): {result.stderr[-2000:]}")
        return result

    def image_exists(self, name: str) -> bool:
        return self("image", "exists", name, check=False).returncode == 0

    def image_size(self, name: str) -> int:
        return int(self("image", "inspect", "--format", "{{.Size}}", name).stdout.strip())


def default_work_dir() -> Path:
    configured = os.environ.get("IMAGE_WORK_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "emotion-api" / "podman"


def setup_podman(work: Path | None = None) -> Podman:
    """podman configured for this project, installed first from Debian's packages when it is missing (as root)."""
    if shutil.which("podman") is None:
        _install_packages()
    work = (work or default_work_dir()).resolve()
    work.mkdir(parents=True, exist_ok=True)
    (work / "containers.conf").write_text(CONTAINERS_CONF)
    (work / "storage.conf").write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{work / "storage"}"\nrunroot = "{work / "run"}"\n'
    )
    podman = Podman(work)
    info = podman("info", "--format", "{{.Host.OCIRuntime.Name}}", check=False)
    if info.returncode != 0:
        raise ContainerError(f"podman cannot run here: {info.stderr.strip()[-1000:]}")
    return podman


def _install_packages() -> None:
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise ContainerError("podman is not installed, and only root on Debian can install it (apt-get install podman)")
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *PACKAGES]):
        result = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise ContainerError(f"{' '.join(command[:2])} failed: {result.stderr.strip()[-1000:]}")


def base_image(dockerfile: Path = DOCKERFILE) -> str:
    """The image every stage of the Dockerfile starts from: its BASE_IMAGE build argument's default."""
    match = re.search(r"^ARG\s+BASE_IMAGE=(\S+)", dockerfile.read_text(), flags=re.MULTILINE)
    if match is None:
        raise ContainerError(f"{dockerfile} has no ARG BASE_IMAGE=<image> line")
    return match.group(1)


def local_name(reference: str) -> str:
    """``reference`` without its digest: the name a stand-in is tagged with (no image can be tagged by digest)."""
    return reference.split("@", 1)[0]


def available_base(podman: Podman, reference: str) -> str:
    """What a build may name as BASE_IMAGE here: the pinned image when it is on this machine, else the stand-in."""
    return reference if podman.image_exists(reference) else local_name(reference)


def ensure_base(podman: Podman, name: str, *, pull_timeout: float = 120) -> str:
    """Make ``name`` available: already there, pulled from its registry, or our stand-in; returns which."""
    present = next((candidate for candidate in (name, local_name(name)) if podman.image_exists(candidate)), None)
    if present is not None:
        label = podman("image", "inspect", "--format", f'{{{{index .Labels "{STAND_IN_LABEL}"}}}}', present).stdout
        return "stand-in" if label.strip() == "true" else "real"
    with contextlib.suppress(subprocess.TimeoutExpired):
        if podman("pull", "--quiet", name, timeout=pull_timeout, check=False).returncode == 0:
            return "real"
    build_stand_in(podman, local_name(name))
    return "stand-in"


def build_stand_in(podman: Podman, name: str) -> None:
    """A Lambda-shaped Python base from a Debian rootfs, the host's trust store and pip settings, and SAM's RIE."""
    if not podman.image_exists(ROOTFS_TAG):
        if shutil.which("mmdebstrap") is None:
            _install_packages()
        rootfs = podman.work / "rootfs.tar"
        _run(["mmdebstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates", "bookworm",
              str(rootfs)], "mmdebstrap")  # fmt: skip
        podman("import", str(rootfs), ROOTFS_TAG)
        rootfs.unlink()
    with tempfile.TemporaryDirectory(prefix="stand-in-") as folder:
        context = Path(folder)
        for source in STAND_IN_DIR.iterdir():
            shutil.copy2(source, context / source.name)
        shutil.copy2(host_ca_bundle(), context / "ca-certificates.crt")
        shutil.copy2(find_rie(), context / "aws-lambda-rie")
        (context / "pip.conf").write_text(host_pip_settings())
        podman("build", "--pull=never", "--network=host", "--build-arg", f"ROOTFS={ROOTFS_TAG}",
               "--label", f"{STAND_IN_LABEL}=true", "-f", str(context / "stand-in-base.Containerfile"),
               "-t", name, str(context))  # fmt: skip


def host_ca_bundle() -> Path:
    """The CA bundle this host trusts (a TLS-intercepting proxy's certificate included)."""
    debian = "/etc/ssl/certs/ca-certificates.crt"
    for candidate in (os.environ.get("PIP_CERT"), os.environ.get("SSL_CERT_FILE"), debian):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise ContainerError("no CA bundle found on this host (looked at PIP_CERT, SSL_CERT_FILE and Debian's path)")


def host_pip_settings() -> str:
    """The host's package index settings as a pip.conf for the stand-in; local file indexes stay behind."""
    settings = {"cert": "/etc/ssl/certs/ca-certificates.crt"}
    for key in ("index-url", "extra-index-url", "timeout", "default-timeout"):
        value = os.environ.get(f"PIP_{key.upper().replace('-', '_')}") or _pip_config(f"global.{key}")
        urls = " ".join(part for part in value.split() if not part.startswith("file:")) if value else ""
        if urls:
            settings[key] = urls
    return "[global]\n" + "".join(f"{key} = {value}\n" for key, value in settings.items())


def _pip_config(key: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "config", "get", key], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() if result.returncode == 0 else ""


def find_rie(arch: str | None = None) -> Path:
    """The Runtime Interface Emulator that ships inside the aws-sam-cli wheel (or RIE_PATH)."""
    arch = arch or {"aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), "x86_64")
    configured = os.environ.get("RIE_PATH")
    candidates = [Path(configured)] if configured else []
    candidates += sorted(ROOT.glob(f".venv*/lib/python*/site-packages/samcli/local/rapid/aws-lambda-rie-{arch}"))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ContainerError("no aws-lambda-rie found: run `make sam-setup` (the SAM CLI wheel ships it) or set RIE_PATH")


@dataclass(frozen=True)
class Build:
    """One image build: its tag, how long it took, and its log."""

    tag: str
    seconds: float
    log: str


def build_image(podman: Podman, tag: str, *, build_args: Mapping[str, str] | None = None) -> Build:
    """``podman build`` of the function's Dockerfile from the repository root, as `sam build` builds it, on the
    pinned base when this machine has it, else on the stand-in ``ensure_base`` built."""
    settings = {"BASE_IMAGE": available_base(podman, base_image()), **(build_args or {})}
    arguments = [item for key, value in settings.items() for item in ("--build-arg", f"{key}={value}")]
    started = time.perf_counter()
    result = podman("build", "--pull=never", "--network=host", *arguments, "-f", str(DOCKERFILE), "-t", tag,
                    str(ROOT), timeout=1800)  # fmt: skip
    return Build(tag, time.perf_counter() - started, result.stdout + result.stderr)


@dataclass(frozen=True)
class FunctionConfig:
    """What Lambda gives the function, read from template.yaml with the parameters' defaults."""

    memory_mb: int
    timeout_s: int
    environment: dict[str, str]


def function_config(template: Path = TEMPLATE, function_id: str = FUNCTION_ID) -> FunctionConfig:
    parsed = load_template(template)
    defaults = {name: str(spec.get("Default", "")) for name, spec in parsed.get("Parameters", {}).items()}
    properties = with_globals(parsed, parsed["Resources"][function_id])["Properties"]

    def resolve(value: Any) -> str | None:
        if isinstance(value, str | int | float):
            return str(value)
        if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in defaults:
            return defaults[value["Ref"]]
        return None  # a condition or an attribute of a deployed resource: absent, as with the defaults

    variables = properties.get("Environment", {}).get("Variables", {})
    environment = {name: text for name, value in variables.items() if (text := resolve(value)) is not None}
    return FunctionConfig(int(resolve(properties["MemorySize"]) or 0), int(properties["Timeout"]), environment)


@dataclass(frozen=True)
class Invocation:
    """One invoke through the emulator: what the function returned and the round trip in seconds."""

    payload: Any
    seconds: float


@dataclass
class Container:
    """The image running under the emulator like a Lambda execution environment; a context manager."""

    podman: Podman
    image: str
    config: FunctionConfig
    cpus: float | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)
    name: str = field(default_factory=lambda: f"emotion-api-{uuid.uuid4().hex[:10]}")
    port: int = 0
    _connection: http.client.HTTPConnection | None = field(default=None, init=False, repr=False)

    def __enter__(self) -> Container:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def start(self, *, ready_timeout: float = 30) -> None:
        environment = {
            **self.config.environment,
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_ID,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.config.memory_mb),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(self.config.timeout_s),
            **self.extra_env,
        }
        limits = ["--memory", f"{self.config.memory_mb}m", "--memory-swap", f"{self.config.memory_mb}m"]
        if self.cpus is not None:
            limits += ["--cpus", f"{self.cpus:.3f}"]
        tmp = "/tmp:rw,size=512m"  # noqa: S108  # nosec B108: the container's own /tmp, writable as in Lambda
        self.podman("run", "--detach", "--name", self.name, "--read-only", "--tmpfs", tmp,
                    "--publish", "127.0.0.1::8080", *limits,
                    *[item for key, value in environment.items() for item in ("--env", f"{key}={value}")],
                    self.image)  # fmt: skip
        self.port = int(self.podman("port", self.name, "8080/tcp").stdout.strip().rsplit(":", 1)[1])
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                connection.connect()
                connection.close()
                return
            time.sleep(0.05)
        raise ContainerError(f"the emulator in {self.name} did not listen within {ready_timeout} s: {self.logs()}")

    def invoke(self, event: Any, *, timeout: float = 60) -> Invocation:
        """One invoke over a kept-alive connection, as API Gateway holds its own: the round trip is the
        emulator's and the function's, not a TCP handshake per request."""
        body = json.dumps(event).encode()
        try:
            return self._send(body, timeout)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # The emulator closed an idle kept-alive connection before this request reached it: reconnect once.
            self._close_connection()
            return self._send(body, timeout)

    def _send(self, body: bytes, timeout: float) -> Invocation:
        if self._connection is None:
            self._connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        connection = self._connection
        if connection.sock is not None:
            connection.sock.settimeout(timeout)
        started = time.perf_counter()
        connection.request("POST", INVOKE_PATH, body=body, headers={"content-type": "application/json"})
        raw = connection.getresponse().read()
        return Invocation(json.loads(raw) if raw else None, time.perf_counter() - started)

    def _close_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def exec(self, *command: str) -> subprocess.CompletedProcess[str]:
        return self.podman("exec", self.name, *command, check=False)

    def logs(self) -> str:
        result = self.podman("logs", self.name, check=False)
        return result.stdout + result.stderr

    def remove(self) -> None:
        self._close_connection()
        self.podman("rm", "--force", "--time", "2", self.name, check=False)


@contextlib.contextmanager
def podman_service(podman: Podman) -> Iterator[str]:
    """podman's Docker-compatible API on a unix socket, for the SAM CLI; yields the DOCKER_HOST value."""
    podman.socket.unlink(missing_ok=True)
    url = f"unix://{podman.socket}"
    process = subprocess.Popen(
        [podman.binary, "system", "service", "--time=0", url],
        env=podman.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not podman.socket.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise ContainerError("podman system service did not open its socket")
            time.sleep(0.1)
        yield url
    finally:
        stop_process(process)


class SamCli:
    """The SAM CLI from .venv-sam, with telemetry off and, when given, podman's socket as the Docker host."""

    def __init__(self, docker_host: str | None = None) -> None:
        if not SAM.exists():
            raise ContainerError(f"the SAM CLI is missing ({SAM}): run `make sam-setup`")
        self.env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
        if docker_host:
            self.env["DOCKER_HOST"] = docker_host

    def command(self, *args: str) -> list[str]:
        return [str(SAM), *args]

    def __call__(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args), cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )


def stop_process(process: subprocess.Popen[Any], *, grace: float = 10) -> None:
    """Stop a process started in its own session, and everything it started, by its process group id."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ContainerError(f"{what} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
