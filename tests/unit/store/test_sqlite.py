from __future__ import annotations

from pathlib import Path

import pytest
from scanfleet.store import SQLiteTrialStore, TrialStore

from tests.unit.store.contract import TrialStoreContract


class TestSQLiteTrialStore(TrialStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> TrialStore:
        return SQLiteTrialStore(tmp_path / "store.db")


def test_a_second_store_on_the_same_file_sees_the_same_data(tmp_path: Path) -> None:
    from tests.unit.store.contract import a_scan

    first = SQLiteTrialStore(tmp_path / "shared.db")
    scan, _ = first.create_scan(a_scan())
    assert SQLiteTrialStore(tmp_path / "shared.db").get_scan(scan.scan_id) == scan
