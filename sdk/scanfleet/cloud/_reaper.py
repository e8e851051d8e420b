"""The stale-lease reaper: re-queue RUNNING trials whose worker stopped heartbeating, in
every scan, so a scan whose workers all died does not wait for a claim that never comes.
Claims reclaim their own scan's stale leases too; this covers the scans nobody claims from.
On the same schedule the Lambda counts the scans by status for the dashboard
(``TrialStore.count_scans_by_status``).

The search is the store's (``TrialStore.stale_trials``): it reads only running trials,
never trials' history or intermediate values, in whichever store it is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scanfleet.service import ScanService
from scanfleet.store import ScanNotFoundError, TrialStore


@dataclass
class ReapResult:
    scans_checked: int = 0
    requeued: list[str] = field(default_factory=list)  # trial ids


def reap_stale_leases(service: ScanService, store: TrialStore, *, now: float) -> ReapResult:
    """Re-queue every trial whose lease expired before ``now``, scan by scan, through
    :meth:`ScanService.reclaim_stale` (which re-checks each lease on the trial item)."""
    result = ReapResult()
    for scan_id in sorted({trial.scan_id for trial in store.stale_trials(now)}):
        try:
            owner = store.get_scan(scan_id).owner
        except ScanNotFoundError:  # deleted since the search: its trials go with it
            continue
        result.scans_checked += 1
        result.requeued += [t.trial_id for t in service.reclaim_stale(scan_id, owner=owner)]
    return result
