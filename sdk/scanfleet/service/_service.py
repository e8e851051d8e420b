"""The use cases of scanfleet, over an injected TrialStore: the facade callers hold.

Everything that decides what happens to a scan or a trial lives in this package, once:
the HTTP API, the Lambda tasks of the state machine, the agent loop and local mode all
call these methods, so the cloud and the laptop run one control flow. Each method hands
its call to the module of its use case (``_scans``, ``_dispatch``, ``_trials``,
``_results``, ``_seeds``) over one :class:`ServiceContext`; what differs between the
laptop and the cloud comes in through the ports (``_ports``), never by subclassing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from scanfleet.artifacts import CheckpointCopier, InputStore
from scanfleet.config import ScanConfig
from scanfleet.records import (
    PruneDecision,
    ScanRecord,
    ScanStatus,
    SeedSummary,
    TrialRecord,
    TrialState,
)
from scanfleet.service._context import ServiceContext
from scanfleet.service._dispatch import Dispatch
from scanfleet.service._ports import ArtifactCopier, QuietLifecycle, ScanLifecycle
from scanfleet.service._results import Results
from scanfleet.service._scans import Scans, ScanSummary
from scanfleet.service._seeds import Seeds
from scanfleet.service._trials import Trials
from scanfleet.store import TrialStore

_States = frozenset[TrialState] | None  # only trials in these states (None: all)


class ScanService:
    """The use cases, one method each (the docstrings are on the use-case modules).

    Args:
        store: where scans and trials are kept.
        now: the clock (tests control leases and durations with it).
        inputs: where uploaded scripts go (None: uploads are refused).
        lifecycle: hears scans start, re-open and stop (default: nothing happens;
            in AWS ``scanfleet.cloud.ScanExecutions``).
        artifacts: copies PBT parents' checkpoints (default: the object store's
            ``CheckpointCopier``, local folders and S3).
    """

    def __init__(
        self,
        store: TrialStore,
        *,
        now: Callable[[], float] = time.time,
        inputs: InputStore | None = None,
        lifecycle: ScanLifecycle | None = None,
        artifacts: ArtifactCopier | None = None,
    ) -> None:
        self.context = ServiceContext(
            store=store,
            now=now,
            lifecycle=lifecycle if lifecycle is not None else QuietLifecycle(),
            artifacts=artifacts if artifacts is not None else CheckpointCopier(),
            inputs=inputs,
        )
        self.scans = Scans(self.context)
        self.dispatch = Dispatch(self.context)
        self.trials = Trials(self.context)
        self.results = Results(self.context)
        self.seeds = Seeds(self.context)

    @property
    def store(self) -> TrialStore:
        return self.context.store

    @property
    def inputs(self) -> InputStore | None:
        return self.context.inputs

    def config_of(self, scan: ScanRecord) -> ScanConfig:
        return self.context.config_of(scan)

    # ---- scans (_scans) ----------------------------------------------------------------

    def create_scan(
        self,
        name: str,
        config: ScanConfig | dict[str, Any] | str,
        *,
        owner: str,
        client_token: str | None = None,
        script_content: str | None = None,
    ) -> tuple[ScanRecord, bool]:
        return self.scans.create_scan(
            name, config, owner=owner, client_token=client_token, script_content=script_content
        )

    def get_scan(self, scan_id: str, *, owner: str) -> ScanRecord:
        return self.scans.get_scan(scan_id, owner=owner)

    def summarize(self, scan_id: str, *, owner: str) -> ScanSummary:
        return self.scans.summarize(scan_id, owner=owner)

    def list_scans(
        self, *, owner: str, status: ScanStatus | None = None, tag: tuple[str, str] | None = None
    ) -> list[ScanRecord]:
        return self.scans.list_scans(owner=owner, status=status, tag=tag)

    def cancel(self, scan_id: str, *, owner: str) -> ScanRecord:
        return self.scans.cancel(scan_id, owner=owner)

    def delete_scan(self, scan_id: str, *, owner: str) -> ScanRecord:
        return self.scans.delete_scan(scan_id, owner=owner)

    def set_status(self, scan_id: str, status: ScanStatus, *, owner: str) -> ScanRecord:
        return self.scans.set_status(scan_id, status, owner=owner)

    def extend(self, scan_id: str, max_run: int, *, owner: str) -> ScanRecord:
        return self.scans.extend(scan_id, max_run, owner=owner)

    # ---- handing out trials (_dispatch) ------------------------------------------------

    def claim_next_trial(
        self, scan_id: str, worker_id: str, *, owner: str, lease_seconds: float | None = None
    ) -> TrialRecord | None:
        return self.dispatch.claim_next_trial(
            scan_id, worker_id, owner=owner, lease_seconds=lease_seconds
        )

    def claim_trial(
        self, trial_id: str, worker_id: str, *, owner: str, lease_seconds: float | None = None
    ) -> TrialRecord | None:
        return self.dispatch.claim_trial(
            trial_id, worker_id, owner=owner, lease_seconds=lease_seconds
        )

    def reclaim_stale(self, scan_id: str, *, owner: str) -> list[TrialRecord]:
        return self.dispatch.reclaim_stale(scan_id, owner=owner)

    # ---- trials (_trials) --------------------------------------------------------------

    def add_trial(
        self,
        scan_id: str,
        params: dict[str, Any],
        *,
        owner: str,
        tags: dict[str, str] | None = None,
    ) -> tuple[TrialRecord, bool]:
        return self.trials.add_trial(scan_id, params, owner=owner, tags=tags)

    def get_trial(self, trial_id: str, *, owner: str) -> TrialRecord:
        return self.trials.get_trial(trial_id, owner=owner)

    def tag_trial(self, trial_id: str, tags: dict[str, str], *, owner: str) -> TrialRecord:
        return self.trials.tag_trial(trial_id, tags, owner=owner)

    def heartbeat(self, trial_id: str, *, owner: str, worker_id: str, attempt: int) -> TrialRecord:
        return self.trials.heartbeat(trial_id, owner=owner, worker_id=worker_id, attempt=attempt)

    def report(
        self, trial_id: str, metric: str, step: int, value: float, *, owner: str
    ) -> PruneDecision:
        return self.trials.report(trial_id, metric, step, value, owner=owner)

    def checkpoint(self, trial_id: str, step: int, uri: str, *, owner: str) -> TrialRecord:
        return self.trials.checkpoint(trial_id, step, uri, owner=owner)

    def complete(
        self,
        trial_id: str,
        values: dict[str, float] | float,
        *,
        owner: str,
        attempt: int | None = None,
    ) -> TrialRecord:
        return self.trials.complete(trial_id, values, owner=owner, attempt=attempt)

    def prune(self, trial_id: str, *, owner: str, attempt: int | None = None) -> TrialRecord:
        return self.trials.prune(trial_id, owner=owner, attempt=attempt)

    def fail(
        self,
        trial_id: str,
        reason: str,
        *,
        owner: str,
        attempt: int | None = None,
        preempted: bool = False,
        retry: bool = True,
    ) -> TrialRecord:
        return self.trials.fail(
            trial_id, reason, owner=owner, attempt=attempt, preempted=preempted, retry=retry
        )

    # ---- results (_results, _seeds) ----------------------------------------------------

    def list_trials(
        self,
        scan_id: str,
        *,
        owner: str,
        states: _States = None,
        after: int = -1,
        limit: int | None = None,
    ) -> list[TrialRecord]:
        return self.results.list_trials(
            scan_id, owner=owner, states=states, after=after, limit=limit
        )

    def intermediate_values(
        self, scan_id: str, *, owner: str, metric: str | None = None, states: _States = None
    ) -> tuple[str, dict[str, dict[int, float]]]:
        return self.results.intermediate_values(scan_id, owner=owner, metric=metric, states=states)

    def intermediate_values_page(
        self,
        scan_id: str,
        *,
        owner: str,
        metric: str | None = None,
        states: _States = None,
        after: int = -1,
        limit: int,
        max_points: int,
    ) -> tuple[str, dict[str, dict[int, float]], int | None]:
        return self.results.intermediate_values_page(
            scan_id,
            owner=owner,
            metric=metric,
            states=states,
            after=after,
            limit=limit,
            max_points=max_points,
        )

    def best_trial(self, scan_id: str, *, owner: str) -> TrialRecord | None:
        return self.results.best_trial(scan_id, owner=owner)

    def best_trials(self, scan_id: str, *, owner: str) -> list[TrialRecord]:
        return self.results.best_trials(scan_id, owner=owner)

    def gather_seeds(self, scan_id: str, n: int, *, owner: str) -> SeedSummary:
        return self.seeds.gather_seeds(scan_id, n, owner=owner)

    def seed_summary(self, scan_id: str, *, owner: str) -> SeedSummary | None:
        return self.seeds.seed_summary(scan_id, owner=owner)
