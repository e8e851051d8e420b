"""What every use case shares: the store, the clock, the ports, and the per-scan caches
(the strategy built from a scan's config, the warm-start trials of earlier scans, the
live study an Optuna scan's claims catch up instead of rebuilding)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scanfleet.artifacts import InputStore
from scanfleet.config import ScanConfig
from scanfleet.errors import PermissionDeniedError, RunNotStartedError, ScanFinishedError
from scanfleet.records import ScanRecord, ScanStatus, TrialRecord, TrialState, scan_id_of
from scanfleet.search import SearchStrategy, strategy_for
from scanfleet.service._ports import ArtifactCopier, ScanLifecycle
from scanfleet.store import ScanNotFoundError, TrialFinishedError, TrialNotFoundError, TrialStore
from scanfleet.tenancy import Tenant, TenantMap, TrialGrant

UNFINISHED = frozenset({TrialState.QUEUED, TrialState.RUNNING})
COMPLETED = frozenset({TrialState.COMPLETED})


@dataclass
class LiveStudyEntry:
    """A scan's live study (``scanfleet.search.LiveStudy``, typed loosely: naming it
    imports optuna), the config it was built for and the store's change sequence it is
    caught up to. ``lock``: held across catching up and asking (one claim at a time per
    scan in this process)."""

    config: str
    study: Any = None
    seq: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class ServiceContext:
    """One per service. ``now`` is injectable so tests control leases and durations;
    ``inputs`` is where uploaded scripts go (None: uploads are refused)."""

    store: TrialStore
    now: Callable[[], float]
    lifecycle: ScanLifecycle
    artifacts: ArtifactCopier
    inputs: InputStore | None = None
    tenants: TenantMap = field(default_factory=TenantMap.from_env)  # stored ARN owners → tenant
    strategies: dict[str, tuple[str, SearchStrategy]] = field(default_factory=dict)
    warm_starts: dict[str, list[TrialRecord]] = field(default_factory=dict)
    live_studies: dict[str, LiveStudyEntry] = field(default_factory=dict)
    _live_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def config_of(self, scan: ScanRecord) -> ScanConfig:
        return ScanConfig.model_validate(scan.config)

    def strategy(self, scan: ScanRecord) -> SearchStrategy:
        """The scan's strategy, built once per config (a changed config builds anew)."""
        cached = self.strategies.get(scan.scan_id)
        if cached is None or cached[0] != str(scan.config):
            cached = (str(scan.config), strategy_for(self.config_of(scan)))
            self.strategies[scan.scan_id] = cached
        return cached[1]

    def live_study_entry(self, scan: ScanRecord) -> LiveStudyEntry:
        """The scan's live-study entry (a changed config starts an empty one)."""
        with self._live_lock:
            entry = self.live_studies.get(scan.scan_id)
            if entry is None or entry.config != str(scan.config):
                entry = LiveStudyEntry(config=str(scan.config))
                self.live_studies[scan.scan_id] = entry
            return entry

    def forget(self, scan_id: str) -> None:
        """Drop what is cached of a deleted scan."""
        self.strategies.pop(scan_id, None)
        self.warm_starts.pop(scan_id, None)
        self.live_studies.pop(scan_id, None)

    def owns(self, scan: ScanRecord, owner: str) -> bool:
        """Whether ``owner`` (a tenant, or a trial grant) may act on ``scan``: its tenant
        (an ARN stored before tenancy read as the tenant it maps to now, a token's former
        owner id as that caller's), a grant of one of its trials, or the stored owner
        itself (a plain string: the lanes and the reaper act as the scan's owner)."""
        if isinstance(owner, TrialGrant):
            return scan_id_of(owner.trial_id) == scan.scan_id
        tenant = self.tenants.owner_tenant(scan.owner)
        if isinstance(owner, Tenant):
            return owner.owns(tenant, scan.owner)
        # the platform's own callers (the state machine's lanes, the reaper) pass the scan's
        # stored owner as it is: an ARN stored before tenancy, too
        return owner in (scan.owner, tenant)

    def scan(self, scan_id: str, owner: str) -> ScanRecord:
        """Raises ScanNotFoundError, also when the scan belongs to another tenant."""
        scan = self.store.get_scan(scan_id)
        if not self.owns(scan, owner):
            raise ScanNotFoundError(f"no scan {scan_id}")
        return scan

    def scan_of_trial(self, trial_id: str, owner: str, *, reading: bool = False) -> ScanRecord:
        """Raises TrialNotFoundError when the trial's scan is not the tenant's (or the
        trial is not the grant's); for a grant (``scanfleet.tenancy.TrialGrant``) whose
        attempt ended, PermissionDeniedError, or TrialFinishedError (409) for a change to
        its own finished attempt (``reading``: its record stays readable, so a retried end
        can see that it landed)."""
        if isinstance(owner, TrialGrant):
            if trial_id != owner.trial_id:
                raise TrialNotFoundError(f"no trial {trial_id}")
            self._check_grant(owner, reading=reading)
        try:
            return self.scan(scan_id_of(trial_id), owner)
        except ScanNotFoundError:
            raise TrialNotFoundError(f"no trial {trial_id}") from None

    def _check_grant(self, grant: TrialGrant, *, reading: bool) -> None:
        """A worker token lives as long as its attempt runs."""
        trial = self.store.get_trial(grant.trial_id)
        if trial.state is TrialState.RUNNING and trial.attempt == grant.attempt:
            return
        if trial.state.is_finished() and trial.attempt == grant.attempt:
            if reading:
                return
            raise TrialFinishedError(
                f"trial {grant.trial_id} is {trial.state.value}: its worker token can only read it"
            )
        now = f"{trial.state.value}, attempt {trial.attempt}"
        raise PermissionDeniedError(
            f"the worker token of trial {grant.trial_id} attempt {grant.attempt} has ended"
            f" (the trial is {now})"
        )

    def reopen(self, scan_id: str, reason: str) -> bool:
        """A COMPLETED scan that got more to do (extended, a trial added, seed runs, marked
        RUNNING) runs again, and the lifecycle hears it; a scan in any other state is left
        as it is. True: re-opened."""
        reopened = self.store.set_scan_status(
            scan_id,
            ScanStatus.RUNNING,
            reason=reason,
            expected=ScanStatus.COMPLETED,
            now=self.now(),
        )
        if reopened:
            self.announce(self.store.get_scan(scan_id), self.lifecycle.on_reopened)
        return reopened

    def announce(self, scan: ScanRecord, hook: Callable[[ScanRecord], None]) -> None:
        """Tell the lifecycle a scan started or runs again. When AWS refuses to start its
        run, nothing would ever run the scan: it is FAILED with AWS's answer, and the
        error goes on to the caller."""
        try:
            hook(scan)
        except RunNotStartedError as exc:
            self.store.set_scan_status(
                scan.scan_id,
                ScanStatus.FAILED,
                reason=exc.message[:1000],
                expected=ScanStatus.RUNNING,
                now=self.now(),
            )
            raise


def raise_if_finished(scan: ScanRecord) -> None:
    if scan.status.is_finished():
        detail = f": {scan.status_reason}" if scan.status_reason else ""
        raise ScanFinishedError(f"scan {scan.scan_id} is {scan.status.value}{detail}")
