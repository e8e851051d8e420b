from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from scanfleet.records import TrialState
from scanfleet.store import ScanNotFoundError, SQLiteTrialStore, TrialStore

from tests.unit.store import _processes
from tests.unit.store.contract import NOW, TrialStoreContract, a_scan, a_trial, counts_of


class TestSQLiteTrialStore(TrialStoreContract):
    race_trials = 500
    race_cells = 200

    @pytest.fixture
    def store(self, tmp_path: Path) -> TrialStore:
        return SQLiteTrialStore(tmp_path / "store.db", page_size=3)


def test_a_second_store_on_the_same_file_sees_the_same_data(tmp_path: Path) -> None:
    first = SQLiteTrialStore(tmp_path / "deep" / "er" / "shared.db")
    scan, _ = first.create_scan(a_scan())
    first.insert_trial(a_trial(scan, 0))
    second = SQLiteTrialStore(tmp_path / "deep" / "er" / "shared.db")
    assert second.get_scan(scan.scan_id) == first.get_scan(scan.scan_id)
    assert second.claim_queued(scan.scan_id, "w", lease_seconds=5, now=NOW) is not None
    assert first.counts(scan.scan_id) == counts_of(RUNNING=1)


def test_stores_opened_on_a_new_file_at_the_same_moment_all_work(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def open_and_write() -> None:
        try:
            barrier.wait()
            store = SQLiteTrialStore(path)
            store.create_scan(a_scan())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_and_write) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert len(SQLiteTrialStore(path).list_scans("alice")) == 8


def test_a_writer_blocked_past_its_busy_timeout_retries_until_the_lock_is_free(
    tmp_path: Path,
) -> None:
    store = SQLiteTrialStore(tmp_path / "locked.db", busy_timeout_s=0.02)
    scan, _ = store.create_scan(a_scan())
    store.insert_trial(a_trial(scan, 0))
    other = sqlite3.connect(tmp_path / "locked.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    released = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    started = time.monotonic()
    released.start()
    try:
        claimed = store.claim_queued(scan.scan_id, "w", lease_seconds=5, now=NOW)
    finally:
        released.join()
        other.close()
    assert claimed is not None and claimed.number == 0
    assert time.monotonic() - started >= 0.25


def test_a_write_that_raises_leaves_no_lock_behind(tmp_path: Path) -> None:
    store = SQLiteTrialStore(tmp_path / "s.db")
    with pytest.raises(ScanNotFoundError):
        store.insert_trial(a_trial(a_scan(), 0))
    impatient = SQLiteTrialStore(tmp_path / "s.db", busy_timeout_s=0.0)
    assert impatient.create_scan(a_scan())[1]


def test_four_processes_claim_each_queued_trial_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "procs.db"
    store = SQLiteTrialStore(path)
    scan, _ = store.create_scan(a_scan())
    n = 500
    for i in range(n):
        store.insert_trial(a_trial(scan, i))
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(
            target=_processes.claim_all, args=(str(path), scan.scan_id, f"p{i}", start, out)
        )
        for i in range(4)
    ]
    for p in procs:
        p.start()
    start.set()
    results = dict(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    every = [trial_id for claimed in results.values() for trial_id, _ in claimed]
    assert len(every) == n and max(Counter(every).values()) == 1
    numbers = sorted(number for claimed in results.values() for _, number in claimed)
    assert numbers == list(range(n))
    for worker, claimed in results.items():
        assert {store.get_trial(t).worker_id for t, _ in claimed} <= {worker}
    assert store.counts(scan.scan_id) == counts_of(RUNNING=n)


def test_four_processes_fill_one_grid_without_gaps_or_repeats(tmp_path: Path) -> None:
    path = tmp_path / "grid.db"  # created by the children, all at once
    cells = 120
    scan = a_scan(client_token="one-grid").model_dump()
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_processes.fill_grid, args=(str(path), scan, cells, start, out))
        for _ in range(4)
    ]
    for p in procs:
        p.start()
    start.set()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert len({scan_id for scan_id, _ in results}) == 1
    assert sum(created for _, created in results) == cells
    store = SQLiteTrialStore(path)
    (only,) = store.list_scans("alice")
    trials = store.list_trials(only.scan_id)
    assert [t.number for t in trials] == list(range(cells))
    assert sorted(t.params["cell"] for t in trials) == list(range(cells))
    assert (only.trial_count, only.cursor) == (cells, cells)
    assert store.counts(only.scan_id)[TrialState.QUEUED] == cells
