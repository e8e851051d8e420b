"""worker/Dockerfile: lint it with hadolint and check what the Batch job relies on (the
image itself is built and run with buildah in tests/image)."""

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


def test_the_base_is_a_build_argument_with_python_3_11_and_the_job_runs_as_a_user() -> None:
    steps = instructions()
    assert steps[0][0] == "ARG" and steps[0][1].startswith("BASE_IMAGE=")
    assert re.search(r"python:3\.1[1-9]", steps[0][1]), steps[0][1]
    assert ("FROM", "${BASE_IMAGE}") in steps
    users = [rest for keyword, rest in steps if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")


def test_an_old_python_in_the_base_stops_the_build_with_a_message() -> None:
    runs = " ".join(rest for keyword, rest in instructions() if keyword == "RUN")
    assert "sys.version_info" in runs and "needs Python >= 3.11" in runs


def test_scanfleet_is_installed_from_the_build_context_never_a_bare_index_name() -> None:
    args = dict(rest.split("=", 1) for keyword, rest in instructions() if keyword == "ARG")
    assert args["SCANFLEET_SPEC"].strip('"').startswith(".")
    runs = " ".join(rest for keyword, rest in instructions() if keyword == "RUN")
    assert "is not a path in the build context" in runs


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
