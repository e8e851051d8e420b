"""What the store's multi-process tests run in each child (started with ``spawn``, so
this module imports only the store)."""

from __future__ import annotations

from typing import Any

from scanfleet.records import ScanRecord, TrialRecord, trial_id_for
from scanfleet.store import InsertResult, SQLiteTrialStore

NOW = 1_700_000_000.0


def claim_all(path: str, scan_id: str, worker: str, start: Any, out: Any) -> None:
    """Claim QUEUED trials until none is left; send back ``(trial_id, number)`` pairs."""
    store = SQLiteTrialStore(path)
    start.wait()
    claimed = []
    while trial := store.claim_queued(scan_id, worker, lease_seconds=60, now=NOW):
        assert trial.worker_id == worker
        claimed.append((trial.trial_id, trial.number))
    out.put((worker, claimed))


def fill_grid(path: str, scan: dict[str, Any], cells: int, start: Any, out: Any) -> None:
    """Open a store on a file other processes open at the same moment, create the scan
    (idempotent by client token), then insert grid cells at the scan's cursor until
    ``cells`` are filled; send back how many this process created."""
    start.wait()
    store = SQLiteTrialStore(path)
    stored, _ = store.create_scan(ScanRecord.model_validate(scan))
    created = 0
    while (cursor := store.get_scan(stored.scan_id).cursor) < cells:
        params = {"cell": cursor}
        trial = TrialRecord(
            scan_id=stored.scan_id,
            trial_id=trial_id_for(stored.scan_id, params),
            number=0,
            params=params,
            created_at=NOW,
        )
        if store.insert_trial(trial, expected_cursor=cursor) is InsertResult.CREATED:
            created += 1
    out.put((stored.scan_id, created))
