"""The walls hold: the import contract of pyproject.toml (``lint-imports``, run by
``make lint``) refuses an upward import, a private module imported from another package,
a package given no place in the layers, and an import of a deployment unit.

Each test copies the packages into a temporary folder, writes one wrong import into the
copy and runs ``lint-imports`` there with the project's own contract, so the contract
itself is what is tested, not a copy of it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter not installed")


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the three root packages and of the contract (pyproject.toml)."""
    folder = tmp_path_factory.mktemp("walls")
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "layer-placeholder")
    shutil.copytree(ROOT / "sdk" / "scanfleet", folder / "scanfleet", ignore=skip)
    for unit in ("lambdas", "infra"):
        shutil.copytree(ROOT / unit, folder / unit, ignore=skip)
    shutil.copy(ROOT / "pyproject.toml", folder / "pyproject.toml")
    return folder


def lint_imports(folder: Path) -> str:
    """``lint-imports`` in ``folder`` (which the tool puts first on the import path, so
    the copy is analysed, not the installed package). Returns its report."""
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(folder / "pyproject.toml")],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Could not read any configuration" not in done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.fixture
def wrong(packages: Path):
    """Write a module into the copy for one test, and take it away after."""
    written: list[Path] = []

    def write(relative: str, source: str) -> Path:
        path = packages / relative
        assert not path.exists()
        path.write_text(source)
        written.append(path)
        return path

    yield write
    for path in written:
        path.unlink()


def broken(report: str, contract: str) -> bool:
    return f"{contract} BROKEN" in report


def test_an_upward_import_breaks_the_layers(packages: Path, wrong) -> None:
    wrong("scanfleet/store/_upward.py", "from scanfleet.cli import main\n")
    report = lint_imports(packages)
    assert broken(report, "scanfleet's packages import downward only")
    assert "scanfleet.store is not allowed to import scanfleet.cli" in report
    assert "scanfleet.store._upward -> scanfleet.cli" in report


def test_siblings_of_one_row_may_not_import_each_other(packages: Path, wrong) -> None:
    wrong("scanfleet/cloud/_sideways.py", "import scanfleet.api\n")
    report = lint_imports(packages)
    assert "scanfleet.cloud is not allowed to import scanfleet.api" in report


def test_a_private_module_of_another_package_is_refused(packages: Path, wrong) -> None:
    wrong("scanfleet/cloud/_private.py", "from scanfleet.store._sqlite import SQLiteTrialStore\n")
    wrong("lambdas/private.py", "from scanfleet.store import _codec\n")
    report = lint_imports(packages)
    assert broken(report, "a private module (_x) is imported only from inside its own package")
    assert "scanfleet.cloud._private -> scanfleet.store._sqlite" in report
    assert "lambdas.private -> scanfleet.store._codec" in report


def test_a_package_without_a_place_in_the_layers_is_refused(packages: Path, wrong) -> None:
    wrong("scanfleet/misc.py", '"""a module nobody placed in the walls"""\n')
    assert "scanfleet.misc" in lint_imports(packages)


def test_scanfleet_does_not_import_its_deployment_units(packages: Path, wrong) -> None:
    wrong("scanfleet/service/_lambda.py", "import lambdas.api\n")
    report = lint_imports(packages)
    assert broken(report, "scanfleet does not import its deployment units")


def test_the_client_sdk_does_not_import_the_server_side(packages: Path, wrong) -> None:
    wrong("scanfleet/client/_server.py", "from scanfleet.store import SQLiteTrialStore\n")
    report = lint_imports(packages)
    assert broken(report, "the client SDK does not import the server side")
