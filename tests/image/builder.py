"""Builds and runs the real worker image without a Docker daemon: buildah (vfs storage,
chroot isolation) over a Debian bookworm base made with debootstrap (Python 3.11).

The build's RUN steps reach the package registries through this machine's CA bundle,
mounted into the build with a pip config that points at it; neither is baked into the
image. The base image's root file system is kept in ``build/image-test/`` between runs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "build" / "image-test"
BASE_TAG = "localhost/scanfleet-test-base:bookworm"
IMAGE_TAG = "localhost/scanfleet-worker:test"
MIRROR = "http://deb.debian.org/debian"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
BUILD_CA = "/run/scanfleet-build/ca.crt"


def missing_tools() -> list[str]:
    return [tool for tool in ("buildah", "debootstrap") if shutil.which(tool) is None]


def bookworm_rootfs(timings: dict[str, float] | None = None) -> Path:
    """Debian bookworm (minbase, python3, venv, CA certificates), made with debootstrap
    once and kept in ``build/image-test/``. Copy it before changing anything in it."""
    rootfs = CACHE / "bookworm-rootfs"
    if not (rootfs / "usr" / "bin" / "python3").exists():
        start = time.monotonic()
        shutil.rmtree(rootfs, ignore_errors=True)
        rootfs.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["debootstrap", "--variant=minbase",
             "--include=python3,python3-venv,ca-certificates", "bookworm", str(rootfs),
             MIRROR],  # fmt: skip
            check=True, capture_output=True, timeout=900,
        )  # fmt: skip
        if timings is not None:
            timings["debootstrap"] = time.monotonic() - start
    return rootfs


@dataclass
class Buildah:
    """buildah with its own storage under ``root`` (so tests never touch the host's)."""

    root: Path
    timings: dict[str, float] = field(default_factory=dict)
    last_output: str = ""

    def __call__(self, *args: str, timeout: float = 900, check: bool = True) -> str:
        argv = ["buildah", "--root", str(self.root / "storage"),
                "--runroot", str(self.root / "run"), "--storage-driver", "vfs", *args]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} -> {done.returncode}\n{done.stderr[-4000:]}")
        return done.stdout.strip()

    def timed(self, label: str, *args: str, timeout: float = 900) -> str:
        start = time.monotonic()
        out = self(*args, timeout=timeout)
        self.timings[label] = time.monotonic() - start
        return out

    def base_image(self) -> str:
        """Debian bookworm (minbase, python3, venv, CA certificates) as an image."""
        rootfs = bookworm_rootfs(self.timings)
        container = self("from", "scratch")
        self.timed("base import", "copy", container, f"{rootfs}/", "/")
        self("commit", "--quiet", container, BASE_TAG)
        self("rm", container)
        return BASE_TAG

    def build_worker(self, pip_conf: Path) -> str:
        pip_conf.write_text(f"[global]\ncert = {BUILD_CA}\n")
        self.timed(
            "image build",
            "bud", "--isolation", "chroot", "--format", "docker", "--layers=false",
            "-f", str(ROOT / "worker" / "Dockerfile"),
            "--build-arg", f"BASE_IMAGE={self.base_image()}",
            "-v", f"{HOST_CA}:{BUILD_CA}:ro", "-v", f"{pip_conf}:/etc/pip.conf:ro",
            "-t", IMAGE_TAG, str(ROOT),
        )  # fmt: skip
        return IMAGE_TAG

    def image_size(self, tag: str) -> str:
        """The size buildah reports for ``tag`` ("540 MB")."""
        for image in json.loads(self("images", "--json")):
            if tag in image["names"]:
                return str(image["size"])
        return "unknown"

    def entrypoint(self, tag: str) -> list[str]:
        config = json.loads(self("inspect", "--type", "image", tag))
        return list(config["Docker"]["config"]["Entrypoint"])

    def run(
        self, container: str, argv: list[str], env: dict[str, str], timeout: float = 120
    ) -> int:
        """``argv`` in ``container`` as its image's user, on the host's network (loopback)."""
        flags = [flag for name, value in env.items() for flag in ("--env", f"{name}={value}")]
        command = ["buildah", "--root", str(self.root / "storage"),
                "--runroot", str(self.root / "run"), "--storage-driver", "vfs",
                "run", "--isolation", "chroot", "--network", "host", *flags, container,
                "--", *argv]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        self.last_output = done.stdout + done.stderr
        return done.returncode
