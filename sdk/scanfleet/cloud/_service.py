"""ScanService for the cloud: remote scans get their state machine executions.

The API Lambda builds this instead of a plain ScanService. A remote scan starts running
when it is created, and again whenever a COMPLETED scan is re-opened (``extend``, a trial
added by hand, seed runs, marked RUNNING: the one ``_reopen`` hook); cancelling or deleting
it stops its executions and terminates its Batch jobs. Scans of other execution types are
untouched.
"""

from __future__ import annotations

from typing import Any

from scanfleet.cloud._executions import ScanExecutions
from scanfleet.cloud._lanes import is_remote
from scanfleet.records import ScanRecord
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

    def cancel(self, scan_id: str, *, owner: str) -> ScanRecord:
        scan = super().cancel(scan_id, owner=owner)
        if is_remote(scan):
            self.executions.stop(scan_id, reason="scan cancelled")
        return scan

    def delete_scan(self, scan_id: str, *, owner: str) -> ScanRecord:
        if is_remote(self.get_scan(scan_id, owner=owner)):
            self.executions.stop(scan_id, reason="scan deleted")
        return super().delete_scan(scan_id, owner=owner)

    def _reopen(self, scan_id: str, reason: str) -> bool:
        if not super()._reopen(scan_id, reason):
            return False
        scan = self.store.get_scan(scan_id)
        if is_remote(scan):
            self.executions.start(scan.scan_id, scan.owner)
        return True
