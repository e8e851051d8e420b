"""claim_next_trial raced by real threads and real processes: every trial of a 500-cell
grid is claimed exactly once and none is lost."""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from scanfleet.records import ScanStatus, TrialState
from scanfleet.service import ScanFinishedError, ScanService
from scanfleet.store import DynamoDBTrialStore, SQLiteTrialStore, TrialStore

OWNER = "racer"


def grid(a: int, b: int) -> dict[str, Any]:
    return {
        "strategy": "grid",
        "max_run": 1000,
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"a": {"values": list(range(a))}, "b": {"values": list(range(b))}},
    }


GRID_500 = grid(20, 25)
# moto serialised by a lock makes every DynamoDB call a queue: a smaller grid keeps the
# race as sharp (16 threads) and the test under a minute.
GRID_120 = grid(8, 15)


def claim_until_finished(service: ScanService, scan_id: str, worker: str) -> list[str]:
    claimed = []
    while True:
        try:
            trial = service.claim_next_trial(scan_id, worker, owner=OWNER)
        except ScanFinishedError:
            return claimed
        if trial is None:
            continue  # the last cells are held by others; they finish soon
        claimed.append(trial.trial_id)
        service.complete(trial.trial_id, float(trial.params["a"]), owner=OWNER)


def race_threads(
    store: TrialStore, n_threads: int, config: dict[str, Any] = GRID_500
) -> tuple[str, list[str]]:
    service = ScanService(store)
    scan, _ = service.create_scan("race", config, owner=OWNER)
    results: list[list[str]] = [[] for _ in range(n_threads)]
    barrier = threading.Barrier(n_threads)

    def work(i: int) -> None:
        barrier.wait()
        results[i] = claim_until_finished(service, scan.scan_id, f"t{i}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not any(t.is_alive() for t in threads)
    return scan.scan_id, [tid for r in results for tid in r]


def assert_each_cell_once(
    store: TrialStore, scan_id: str, claimed: list[str], n: int = 500
) -> None:
    assert len(claimed) == n
    assert Counter(claimed).most_common(1)[0][1] == 1, "a trial was claimed twice"
    trials = store.list_trials(scan_id)
    assert len(trials) == n
    cells = {(t.params["a"], t.params["b"]) for t in trials}
    assert len(cells) == n
    assert all(t.state is TrialState.COMPLETED and t.attempt == 1 for t in trials)
    assert sorted(t.number for t in trials) == list(range(n))
    assert store.get_scan(scan_id).status is ScanStatus.COMPLETED


def test_sixteen_threads_claim_each_grid_cell_exactly_once(tmp_path: Path) -> None:
    store = SQLiteTrialStore(tmp_path / "race.db")
    scan_id, claimed = race_threads(store, 16)
    assert_each_cell_once(store, scan_id, claimed)


def _process_worker(db: str, scan_id: str, worker: str, start: Any, out: Any) -> None:
    service = ScanService(SQLiteTrialStore(db))
    start.wait()
    out.put(claim_until_finished(service, scan_id, worker))


def test_four_processes_claim_each_grid_cell_exactly_once(tmp_path: Path) -> None:
    db = str(tmp_path / "race.db")
    store = SQLiteTrialStore(db)
    scan, _ = ScanService(store).create_scan("race", GRID_500, owner=OWNER)
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_process_worker, args=(db, scan.scan_id, f"p{i}", start, out))
        for i in range(4)
    ]
    for p in procs:
        p.start()
    start.set()
    claimed = [tid for _ in procs for tid in out.get(timeout=240)]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert_each_cell_once(store, scan.scan_id, claimed)


def test_sixteen_threads_over_dynamodb_claim_each_grid_cell_exactly_once(
    dynamodb_store: DynamoDBTrialStore,
) -> None:
    """moto's handler is serialised (see conftest): this proves our conditional writes,
    not DynamoDB's."""
    scan_id, claimed = race_threads(dynamodb_store, 16, GRID_120)
    assert_each_cell_once(dynamodb_store, scan_id, claimed, n=120)
