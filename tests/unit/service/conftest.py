"""The service over the real SQLite store, on the test's clock."""

from __future__ import annotations

from pathlib import Path

import pytest
from scanfleet.service import ScanService
from scanfleet.store import SQLiteTrialStore

from tests.conftest import FakeClock


@pytest.fixture
def service(tmp_path: Path, clock: FakeClock) -> ScanService:
    return ScanService(SQLiteTrialStore(tmp_path / "scanfleet.db"), now=clock)
