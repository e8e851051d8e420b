"""The service over the real SQLite store, on the test's clock; checkpoints are accepted
under ``<tmp_path>/checkpoints/<scan>/<trial>/``."""

from __future__ import annotations

from pathlib import Path

import pytest
from scanfleet.artifacts import CheckpointCopier
from scanfleet.service import ScanService
from scanfleet.store import SQLiteTrialStore

from tests.conftest import FakeClock


@pytest.fixture
def service(tmp_path: Path, clock: FakeClock) -> ScanService:
    copier = CheckpointCopier(root=tmp_path / "checkpoints")
    return ScanService(SQLiteTrialStore(tmp_path / "scanfleet.db"), now=clock, artifacts=copier)
