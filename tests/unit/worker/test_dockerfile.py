"""worker/Dockerfile cannot be built here (no Docker engine): lint it with hadolint and
check what the Batch job relies on."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "worker" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    done = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_cuda_base_is_a_build_argument_and_the_job_runs_as_a_user() -> None:
    steps = instructions()
    assert steps[0][0] == "ARG" and steps[0][1].startswith("BASE_IMAGE=nvidia/cuda:")
    assert ("FROM", "${BASE_IMAGE}") in steps
    users = [rest for keyword, rest in steps if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")


def test_scanfleet_and_the_scans_requirements_are_installed() -> None:
    runs = " ".join(rest for keyword, rest in instructions() if keyword == "RUN")
    assert 'pip install "${SCANFLEET_SPEC}"' in runs
    assert 'pip install -r "${REQUIREMENTS}"' in runs


def test_the_entrypoint_is_exec_form_and_names_the_batch_runtime() -> None:
    (entrypoint,) = [rest for keyword, rest in instructions() if keyword == "ENTRYPOINT"]
    argv = json.loads(entrypoint)  # exec form: the runtime is PID 1 and receives SIGTERM
    assert argv[:2] == ["python", "-m"]
    assert importlib.util.find_spec(argv[2]) is not None
    thin = (ROOT / "worker" / "entrypoint.py").read_text()
    assert f"from {argv[2]} import main" in thin
