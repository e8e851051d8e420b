"""Build the Lambda dependencies layer: ``python -m infra.build_layer [--out DIR]``.

Installs the runtime dependencies of the ``server`` extra (less what Lambda already has,
boto3, and the CLI-only rich) as manylinux wheels for CPython 3.12 on x86_64 into
``<out>/python``, then writes the marker file that tells the stack the layer is complete.
Needs PyPI; the synth itself never does.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from infra.paths import LAYER_DIR, LAYER_MARKER, ROOT

_NOT_IN_LAYER = {"boto3", "rich", "plotly"}  # Lambda has boto3; rich, plotly: CLI, reports
_EXTRA_FOR_LAMBDA = ["aws-lambda-powertools[tracer]"]  # X-Ray SDK for the Tracer
# what the Python 3.12 Lambda runtime already has (boto3's stack): dropped from the layer,
# so the layer stays small and never shadows the runtime's boto3 with another botocore
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six")


def requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["server"]]
    kept = [req for req in wanted if _name(req) not in _NOT_IN_LAYER]
    return [*kept, *_EXTRA_FOR_LAMBDA]


def built_for(layer_dir: Path = LAYER_DIR) -> list[str] | None:
    """The requirements the layer in ``layer_dir`` was built for (its marker file, written
    last), or None when it is not built."""
    marker = layer_dir / LAYER_MARKER
    if not marker.is_file():
        return None
    return [line for line in marker.read_text().splitlines() if line.strip()]


def write_marker(layer_dir: Path, reqs: list[str]) -> None:
    (layer_dir / LAYER_MARKER).write_text("\n".join(reqs) + "\n")


def pip_command(target: Path, reqs: list[str]) -> list[str]:
    return [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--platform", "manylinux2014_x86_64", "--implementation", "cp",
        "--python-version", "3.12", "--only-binary=:all:",
        "--target", str(target), *reqs,
    ]  # fmt: skip


def build(out: Path = LAYER_DIR) -> Path:
    shutil.rmtree(out, ignore_errors=True)
    reqs = requirements()
    subprocess.run(pip_command(out / "python", reqs), check=True)
    prune(out / "python")
    write_marker(out, reqs)
    return out


def prune(site: Path) -> None:
    """Remove the runtime's own packages, their metadata, scripts and byte code."""
    for name in RUNTIME_PROVIDED:
        for path in [site / name, site / f"{name}.py", *site.glob(f"{name}-*.dist-info")]:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
    for path in [site / "bin", *site.rglob("__pycache__")]:
        shutil.rmtree(path, ignore_errors=True)
    for dist_info in site.glob("python_dateutil-*.dist-info"):
        shutil.rmtree(dist_info)


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=LAYER_DIR)
    args = parser.parse_args(argv)
    print(f"built {build(args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
