"""Build scanfleet's own wheel, the artifact the stack's machines install
(``python -m infra.worker_wheel [--out DIR]``; the stack builds it at every synth).

scanfleet is not published on a package index, and a bare ``pip install scanfleet`` would
install whatever someone registered under that name, with the instance role's rights. So
the deployment carries its own wheel: the stack uploads this file as an asset and
``scanfleet worker user-data --wheel`` installs exactly it, its sha256 checked.

The wheel is pure Python (``py3-none-any``) and written here, with the standard library
only: the synth stays offline (no build backend to fetch) and the file is reproducible
(sorted entries, fixed timestamps), so the same sources give the same sha256 and the same
template, whether ``cdk deploy`` or ``scanfleet deploy`` synthesises it.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from infra.paths import ROOT, SDK_PACKAGE_DIR

WHEEL_TAG = "py3-none-any"
_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can hold: reproducible entries
_SKIPPED_DIRS = {"__pycache__", ".mypy_cache", ".pytest_cache"}
_SKIPPED_SUFFIXES = (".pyc", ".pyo")


@dataclass(frozen=True)
class BuiltWheel:
    path: Path
    sha256: str  # hex digest of the file, what the installer checks

    @property
    def filename(self) -> str:
        return self.path.name


def project_metadata(pyproject: Path = ROOT / "pyproject.toml") -> dict:  # type: ignore[type-arg]
    return tomllib.loads(pyproject.read_text())["project"]  # type: ignore[no-any-return]


def metadata_text(project: dict) -> str:  # type: ignore[type-arg]
    """Core metadata 2.1: name, version, Python, and every dependency and extra."""
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {project['version']}",
        f"Summary: {project.get('description', '')}",
        f"Requires-Python: {project.get('requires-python', '>=3.11')}",
    ]
    lines += [f"Requires-Dist: {req}" for req in project.get("dependencies", [])]
    for extra, reqs in project.get("optional-dependencies", {}).items():
        lines.append(f"Provides-Extra: {extra}")
        lines += [f"Requires-Dist: {_in_extra(req, extra)}" for req in reqs]
    return "\n".join(lines) + "\n"


def _in_extra(requirement: str, extra: str) -> str:
    spec, _, marker = requirement.partition(";")
    condition = f'extra == "{extra}"'
    if marker.strip():
        condition = f"({marker.strip()}) and {condition}"
    return f"{spec.strip()}; {condition}"


def entry_points_text(project: dict) -> str:  # type: ignore[type-arg]
    scripts = project.get("scripts", {})
    return "[console_scripts]\n" + "".join(f"{k} = {v}\n" for k, v in scripts.items())


def package_files(package_dir: Path = SDK_PACKAGE_DIR) -> Iterator[tuple[str, Path]]:
    """(name in the wheel, file) for every file of the package, byte code left out."""
    for path in sorted(package_dir.rglob("*")):
        relative = path.relative_to(package_dir.parent)
        if set(relative.parts) & _SKIPPED_DIRS or not path.is_file():
            continue
        if path.suffix in _SKIPPED_SUFFIXES:
            continue
        yield relative.as_posix(), path


def build_wheel(out: Path, *, package_dir: Path = SDK_PACKAGE_DIR) -> BuiltWheel:
    """Write ``<name>-<version>-py3-none-any.whl`` into ``out``; the same sources give the
    same bytes."""
    project = project_metadata()
    name, version = project["name"], project["version"]
    dist_info = f"{name}-{version}.dist-info"
    entries: list[tuple[str, bytes]] = [(n, p.read_bytes()) for n, p in package_files(package_dir)]
    entries += [
        (f"{dist_info}/METADATA", metadata_text(project).encode()),
        (f"{dist_info}/WHEEL", _wheel_file().encode()),
        (f"{dist_info}/entry_points.txt", entry_points_text(project).encode()),
        (f"{dist_info}/top_level.txt", f"{package_dir.name}\n".encode()),
    ]
    record = "".join(f"{n},{_record_hash(data)},{len(data)}\n" for n, data in entries)
    entries.append((f"{dist_info}/RECORD", (record + f"{dist_info}/RECORD,,\n").encode()))
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}-{version}-{WHEEL_TAG}.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for entry_name, data in entries:
            info = zipfile.ZipInfo(entry_name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(info, data)
    return BuiltWheel(path, hashlib.sha256(path.read_bytes()).hexdigest())


def _wheel_file() -> str:
    return (
        "Wheel-Version: 1.0\nGenerator: scanfleet infra.worker_wheel\n"
        f"Root-Is-Purelib: true\nTag: {WHEEL_TAG}\n"
    )


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "worker-wheel")
    built = build_wheel(parser.parse_args(argv).out)
    print(f"{built.path} sha256={built.sha256}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
