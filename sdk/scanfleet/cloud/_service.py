"""ScanService for the cloud: remote scans get their state machine executions.

The API Lambda builds this instead of a plain ScanService. A remote scan starts running
when it is created, and again when ``extend`` (or a trial added by hand) re-opens a
COMPLETED scan; cancelling it stops its executions and terminates its Batch jobs. Scans of
other execution types are untouched.
"""

from __future__ import annotations

from typing import Any

from scanfleet.cloud._executions import ScanExecutions
from scanfleet.cloud._lanes import is_remote
from scanfleet.records import ScanRecord, ScanStatus, TrialRecord
from scanfleet.service import ScanService
from scanfleet.store import TrialStore


class CloudScanService(ScanService):
    def __init__(self, store: TrialStore, executions: ScanExecutions, **kwargs: Any) -> None:
        super().__init__(store, **kwargs)
        self.executions = executions

    def create_scan(self, name: str, config: Any, **kwargs: Any) -> tuple[ScanRecord, bool]:
        scan, created = super().create_scan(name, config, **kwargs)
        if created and is_remote(scan):
            self.executions.start(scan.scan_id, scan.owner)
        return scan, created

    def extend(self, scan_id: str, max_run: int, *, owner: str) -> ScanRecord:
        before = self.get_scan(scan_id, owner=owner).status
        scan = super().extend(scan_id, max_run, owner=owner)
        self._start_if_reopened(before, scan)
        return scan

    def add_trial(
        self, scan_id: str, params: dict[str, Any], **kwargs: Any
    ) -> tuple[TrialRecord, bool]:
        before = self.get_scan(scan_id, owner=kwargs["owner"]).status
        trial, created = super().add_trial(scan_id, params, **kwargs)
        self._start_if_reopened(before, self.store.get_scan(scan_id))
        return trial, created

    def cancel(self, scan_id: str, *, owner: str) -> ScanRecord:
        scan = super().cancel(scan_id, owner=owner)
        if is_remote(scan):
            self.executions.stop(scan_id, reason="scan cancelled")
        return scan

    def _start_if_reopened(self, before: ScanStatus, scan: ScanRecord) -> None:
        if before is ScanStatus.COMPLETED and scan.status is ScanStatus.RUNNING and is_remote(scan):
            self.executions.start(scan.scan_id, scan.owner)
