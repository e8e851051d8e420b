"""The use cases of scanfleet, over an injected TrialStore.

Everything that decides what happens to a scan or a trial lives here, once: the HTTP API,
the Lambda tasks of the state machine, the agent loop and local mode all call these
methods, so the cloud and the laptop run one control flow.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from scanfleet.config import ScanConfig, load_config
from scanfleet.records import (
    Checkpoint,
    PruneDecision,
    RequeueReason,
    ScanRecord,
    ScanStatus,
    SeedSummary,
    TrialRecord,
    TrialState,
    new_scan_id,
    scan_id_of,
    trial_id_for,
)
from scanfleet.runtime.checkpoints import CheckpointError
from scanfleet.search import SAMPLER_ATTRS, SearchStrategy, Suggestion, strategy_for
from scanfleet.service._checkpoint_copy import CheckpointCopier
from scanfleet.service._completion import completion_reason
from scanfleet.service._errors import (
    InvalidValuesError,
    NoBestTrialError,
    ScanCancelledConflictError,
    ScanFinishedError,
)
from scanfleet.service._inputs import InputsNotStoredError, InputStore
from scanfleet.service._params import complete_params
from scanfleet.service._results import (
    TAG_REUSED_FROM,
    TAG_SEED_OF,
    best_of,
    is_seed_run,
    pareto_front,
)
from scanfleet.service._reuse import check_earlier_scans, reusable_result, warm_start_trials
from scanfleet.service._seeds import DEFAULT_SEED_PARAM, queue_seed_runs, seed_summary
from scanfleet.store import (
    InsertResult,
    ScanNotFoundError,
    TrialFinishedError,
    TrialNotFoundError,
    TrialStore,
)

logger = logging.getLogger("scanfleet.service")

_MAX_DUPLICATE_SUGGESTIONS = 20  # a sampler that repeats itself this often has run dry
_MAX_CLAIM_ROUNDS = 10_000  # bounds the loop over grid cells that duplicate earlier cells
_CURVE_READ_CHUNK = 10  # trials whose curves one store read of a curve page fetches

UNFINISHED = frozenset({TrialState.QUEUED, TrialState.RUNNING})


class ScanSummary(BaseModel):
    """A scan with what people ask about it: counts per state, the best trial, the best
    trials (the Pareto front of several metrics) and the seed runs of the best one."""

    scan: ScanRecord
    counts: dict[TrialState, int]
    best_trial: TrialRecord | None
    planned_trials: int  # max_run, or fewer when the strategy has fewer; plus seed runs
    best_trials: list[TrialRecord] = Field(default_factory=list)
    seeds: SeedSummary | None = None


class ScanService:
    """The use cases. ``now`` is injectable so tests control leases and durations."""

    def __init__(
        self,
        store: TrialStore,
        *,
        now: Callable[[], float] = time.time,
        inputs: InputStore | None = None,
        checkpoint_s3_client: Any = None,
    ) -> None:
        self.store = store
        self.inputs = inputs  # where uploaded scripts go (None: uploads are refused)
        self.checkpoints = CheckpointCopier(s3_client=checkpoint_s3_client)  # PBT children
        self._now = now
        self._strategies: dict[str, tuple[str, SearchStrategy]] = {}
        self._warm_starts: dict[str, list[TrialRecord]] = {}

    # ---- scans -------------------------------------------------------------------------

    def create_scan(
        self,
        name: str,
        config: ScanConfig | dict[str, Any] | str,
        *,
        owner: str,
        client_token: str | None = None,
        script_content: str | None = None,
    ) -> tuple[ScanRecord, bool]:
        """Validate and store a scan (idempotent by ``client_token``). ``script_content``
        is the text of the config's ``script``, uploaded with the scan: it is stored, and
        the config's ``script`` becomes the URI of the stored copy.

        Returns:
            The scan, and False when ``client_token`` named an existing scan.

        Raises:
            ConfigError: the config is invalid (also when a ``reuse_from`` or
                ``warm_start_from`` scan, named by id or by name, is not the owner's
                or has another space); nothing is stored.
        """
        cfg = check_earlier_scans(self.store, load_config(config), owner)  # names → ids
        scan = ScanRecord(
            scan_id=new_scan_id(),
            name=name,
            owner=owner,
            config=cfg.model_dump(mode="json"),
            max_run=cfg.max_run,
            tags=dict(cfg.tags),
            client_token=client_token,
            created_at=self._now(),
        )
        if script_content is None:
            return self.store.create_scan(scan)
        return self._create_with_script(scan, cfg, script_content)

    def _create_with_script(
        self, scan: ScanRecord, cfg: ScanConfig, script_content: str
    ) -> tuple[ScanRecord, bool]:
        if self.inputs is None:
            raise InputsNotStoredError("this API does not store uploaded scripts")
        if not cfg.script:
            raise InvalidValuesError("script_content needs the config's 'script' (its file name)")
        name = cfg.script.replace("\\", "/").rsplit("/", 1)[-1]
        uri = self.inputs.put(scan.scan_id, name, script_content.encode())
        scan.config["script"] = uri
        stored, created = self.store.create_scan(scan)
        if not created:  # the client token named an earlier scan: keep its own copy
            self.inputs.delete(scan.scan_id)
        return stored, created

    def get_scan(self, scan_id: str, *, owner: str) -> ScanRecord:
        """Raises ScanNotFoundError, also when the scan belongs to another owner."""
        scan = self.store.get_scan(scan_id)
        if scan.owner != owner:
            raise ScanNotFoundError(f"no scan {scan_id}")
        return scan

    def summarize(self, scan_id: str, *, owner: str) -> ScanSummary:
        scan = self.get_scan(scan_id, owner=owner)
        config = self.config_of(scan)
        size = self._strategy(scan).planned_trials()
        planned = scan.max_run if size is None else min(scan.max_run, size)
        if config.seeds is not None:
            planned += config.seeds.n
        trials = self.store.list_trials(scan_id)
        done = [t for t in trials if t.state is TrialState.COMPLETED]
        best = best_of(done, config)
        return ScanSummary(
            scan=scan,
            counts=self.store.counts(scan_id),
            best_trial=best,
            planned_trials=planned,
            best_trials=pareto_front(done, config),
            seeds=seed_summary(trials, config, best) if best else None,
        )

    def list_scans(
        self,
        *,
        owner: str,
        status: ScanStatus | None = None,
        tag: tuple[str, str] | None = None,
    ) -> list[ScanRecord]:
        return self.store.list_scans(owner, status=status, tag=tag)

    def cancel(self, scan_id: str, *, owner: str) -> ScanRecord:
        """Stop handing out trials; unfinished trials become FAILED ("scan cancelled"), so
        their workers learn it at their next heartbeat. Cancelling twice is harmless."""
        scan = self.get_scan(scan_id, owner=owner)
        if scan.status is ScanStatus.RUNNING:
            self.store.set_scan_status(
                scan_id, ScanStatus.CANCELLED, reason="cancelled by user", now=self._now()
            )
        for trial in self.store.iter_trials(scan_id, states=UNFINISHED):
            self._finish_quietly(trial.trial_id, TrialState.FAILED, reason="scan cancelled")
        return self.store.get_scan(scan_id)

    def delete_scan(self, scan_id: str, *, owner: str) -> ScanRecord:
        """Delete the scan and its trials (Schedy's ``delete``, Oscar's ``resume: False``).
        Workers of its running trials learn it at their next heartbeat (404).

        Raises:
            ScanNotFoundError: no such scan for this owner (also when deleted before).
        """
        self.get_scan(scan_id, owner=owner)
        self._strategies.pop(scan_id, None)
        deleted = self.store.delete_scan(scan_id)
        if self.inputs is not None:
            self.inputs.delete(scan_id)
        return deleted

    def set_status(self, scan_id: str, status: ScanStatus, *, owner: str) -> ScanRecord:
        """Mark a RUNNING scan done (COMPLETED: nothing more is handed out; Schedy's DONE,
        a paused experiment) or a COMPLETED one running again. The same status: no change.

        Raises:
            InvalidValuesError: ``status`` is not RUNNING or COMPLETED.
            ScanCancelledConflictError: the scan was cancelled or failed.
        """
        if status not in (ScanStatus.RUNNING, ScanStatus.COMPLETED):
            raise InvalidValuesError("a scan can only be marked RUNNING or COMPLETED")
        scan = self.get_scan(scan_id, owner=owner)
        if scan.status in (ScanStatus.CANCELLED, ScanStatus.FAILED):
            raise ScanCancelledConflictError(f"scan {scan_id} is {scan.status.value}")
        if scan.status is ScanStatus.COMPLETED and status is ScanStatus.RUNNING:
            self._reopen(scan_id, "marked RUNNING by user")
        elif scan.status is not status:
            self.store.set_scan_status(
                scan_id,
                status,
                reason=f"marked {status.value} by user",
                expected=scan.status,
                now=self._now(),
            )
        return self.store.get_scan(scan_id)

    def extend(self, scan_id: str, max_run: int, *, owner: str) -> ScanRecord:
        """Raise ``max_run`` and go on; a COMPLETED scan runs again, reusing its history.

        Raises:
            InvalidValuesError: ``max_run`` is not above the trials already created.
            ScanCancelledConflictError: the scan was cancelled or failed.
        """
        scan = self.get_scan(scan_id, owner=owner)
        if scan.status in (ScanStatus.CANCELLED, ScanStatus.FAILED):
            raise ScanCancelledConflictError(
                f"scan {scan_id} is {scan.status.value}; only running or completed scans extend"
            )
        if max_run <= scan.trial_count:
            raise InvalidValuesError(
                f"max_run must exceed the {scan.trial_count} trials already created"
            )
        updated = self.store.set_max_run(scan_id, max_run)
        if updated.status is ScanStatus.COMPLETED:
            self._reopen(scan_id, f"extended to {max_run}")
        return self.store.get_scan(scan_id)

    # ---- handing out trials ------------------------------------------------------------

    def claim_next_trial(
        self,
        scan_id: str,
        worker_id: str,
        *,
        owner: str,
        lease_seconds: float | None = None,
    ) -> TrialRecord | None:
        """The one place that decides what runs next: a re-queued (or hand-added) trial
        first, else the strategy's next suggestion, claimed on creation.

        Returns:
            The claimed trial, or None when nothing is free right now (trials are still
            running and may come back to the queue).
        Raises:
            ScanFinishedError: the scan is finished, or has just finished.
        """
        scan = self.get_scan(scan_id, owner=owner)
        self._raise_if_finished(scan)
        config = self.config_of(scan)
        lease = lease_seconds if lease_seconds is not None else config.execution.lease_seconds
        now = self._now()
        self.reclaim_stale(scan_id, owner=owner)
        trial = self.store.claim_queued(scan_id, worker_id, lease_seconds=lease, now=now)
        if trial is not None:
            return trial
        return self._claim_new(scan, config, worker_id, lease)

    def _claim_new(
        self, scan: ScanRecord, config: ScanConfig, worker_id: str, lease: float
    ) -> TrialRecord | None:
        strategy = self._strategy(scan)
        retry = 0
        for _ in range(_MAX_CLAIM_ROUNDS):
            if self._stop_reason(scan, config, strategy) is not None:
                break
            suggestion = strategy.suggest(scan, self._history(scan, strategy), retry=retry)
            if suggestion is None:
                break
            trial = self._new_trial(scan, config, suggestion, worker_id, lease)
            result = self.store.insert_trial(
                trial, expected_cursor=suggestion.cursor, max_trials=scan.max_run
            )
            if result is InsertResult.CREATED and trial.state is TrialState.COMPLETED:
                scan = self.store.get_scan(scan.scan_id)  # a reused result: suggest again
                continue
            if result is InsertResult.CREATED:
                return self.store.get_trial(trial.trial_id)
            if result is InsertResult.DUPLICATE:
                if suggestion.cursor is not None:
                    self.store.skip_cursor(scan.scan_id, suggestion.cursor)
                else:
                    retry += 1
                    if retry >= _MAX_DUPLICATE_SUGGESTIONS:
                        break
            elif result is InsertResult.LIMIT_REACHED:
                break
            scan = self.store.get_scan(scan.scan_id)
        self._finish_scan_if_done(scan.scan_id)
        scan = self.store.get_scan(scan.scan_id)
        self._raise_if_finished(scan)
        # the end of the search may have queued seed runs
        return self.store.claim_queued(
            scan.scan_id, worker_id, lease_seconds=lease, now=self._now()
        )

    def _history(self, scan: ScanRecord, strategy: SearchStrategy) -> list[TrialRecord]:
        """What the strategy learns from: the warm-start trials of earlier scans, then the
        scan's own trials but its seed runs."""
        if not strategy.needs_history:
            return []
        config = self.config_of(scan)
        warm: list[TrialRecord] = []
        if config.warm_start_from:
            if scan.scan_id not in self._warm_starts:
                self._warm_starts[scan.scan_id] = warm_start_trials(self.store, config)
            warm = self._warm_starts[scan.scan_id]
        own = [t for t in self.store.list_trials(scan.scan_id) if not is_seed_run(t)]
        return warm + own

    def _new_trial(
        self,
        scan: ScanRecord,
        config: ScanConfig,
        suggestion: Suggestion,
        worker_id: str,
        lease: float,
    ) -> TrialRecord:
        """The trial a suggestion makes: RUNNING for ``worker_id``; COMPLETED when a
        ``reuse_from`` scan ran these parameters; with its lineage and a copy of its
        parent's checkpoint (pbt)."""
        # a grid cell is complete, and its conditions may set values the lists lack
        grid_cell = suggestion.cursor is not None
        params = suggestion.params if grid_cell else complete_params(config, suggestion.params)
        trial_id = trial_id_for(scan.scan_id, params, slot=suggestion.slot)
        now = self._now()
        trial = TrialRecord(
            scan_id=scan.scan_id,
            trial_id=trial_id,
            number=scan.trial_count,
            params=params,
            state=TrialState.RUNNING,
            attempt=1,
            worker_id=worker_id,
            lease_expires_at=now + lease,
            created_at=now,
            started_at=now,
            lineage=suggestion.lineage,
            checkpoint=self._start_checkpoint(suggestion, trial_id),
            user_attrs={SAMPLER_ATTRS: suggestion.sampler_attrs}
            if suggestion.sampler_attrs
            else {},
        )
        earlier = reusable_result(self.store, config, params) if suggestion.slot is None else None
        if earlier is None:
            return trial
        return trial.model_copy(
            update={
                "state": TrialState.COMPLETED,
                "values": dict(earlier.values),
                "attempt": 0,
                "worker_id": None,
                "lease_expires_at": None,
                "started_at": None,
                "finished_at": now,
                "tags": {TAG_REUSED_FROM: earlier.trial_id},
            }
        )

    def _start_checkpoint(self, suggestion: Suggestion, trial_id: str) -> Checkpoint | None:
        """A copy of the parent's checkpoint, for a pbt trial that starts from one."""
        parent = suggestion.lineage.parent_trial_id if suggestion.lineage else None
        if suggestion.start_from is None or parent is None:
            return None
        try:
            uri = self.checkpoints.copy(suggestion.start_from.uri, parent, trial_id)
        except (CheckpointError, OSError, ValueError) as exc:  # ValueError: a bad URI
            logger.warning("trial %s starts from scratch: %s", trial_id, exc)
            return None
        return Checkpoint(step=suggestion.start_from.step, uri=uri)

    def _reopen(self, scan_id: str, reason: str) -> bool:
        """A COMPLETED scan that got more to do (extended, a trial added, seed runs, marked
        RUNNING) runs again; a scan in any other state is left as it is. True: re-opened."""
        return self.store.set_scan_status(
            scan_id,
            ScanStatus.RUNNING,
            reason=reason,
            expected=ScanStatus.COMPLETED,
            now=self._now(),
        )

    def add_trial(
        self,
        scan_id: str,
        params: dict[str, Any],
        *,
        owner: str,
        tags: dict[str, str] | None = None,
    ) -> tuple[TrialRecord, bool]:
        """Queue a trial by hand (Schedy's ``add_job``, Optuna's ``enqueue_trial``).

        Returns:
            The trial, and False when one with the same params already existed.
        Raises:
            InvalidParamsError: params outside the search space.
            ScanFinishedError: the scan is cancelled or failed.
        """
        scan = self.get_scan(scan_id, owner=owner)
        if scan.status in (ScanStatus.CANCELLED, ScanStatus.FAILED):
            raise ScanFinishedError(f"scan {scan_id} is {scan.status.value}")
        full = complete_params(self.config_of(scan), params)
        trial = TrialRecord(
            scan_id=scan_id,
            trial_id=trial_id_for(scan_id, full),
            number=0,
            params=full,
            tags=tags or {},
            created_at=self._now(),
        )
        result = self.store.insert_trial(trial)
        if scan.status is ScanStatus.COMPLETED and result is InsertResult.CREATED:
            self._reopen(scan_id, "trial added")
        return self.store.get_trial(trial.trial_id), result is InsertResult.CREATED

    def claim_trial(
        self, trial_id: str, worker_id: str, *, owner: str, lease_seconds: float | None = None
    ) -> TrialRecord | None:
        """Claim one named QUEUED trial (the Batch job of a lane runs the trial the state
        machine chose). Returns None when another worker holds it. A holder whose lease
        ran out (its machine vanished; Batch retries the job) loses it first."""
        scan = self._scan_of_trial(trial_id, owner)
        self._raise_if_finished(scan)
        lease = lease_seconds or self.config_of(scan).execution.lease_seconds
        self.reclaim_stale(scan.scan_id, owner=owner)
        return self.store.claim_trial(trial_id, worker_id, lease_seconds=lease, now=self._now())

    # ---- while a trial runs --------------------------------------------------------------

    def get_trial(self, trial_id: str, *, owner: str) -> TrialRecord:
        self._scan_of_trial(trial_id, owner)
        return self.store.get_trial(trial_id)

    def list_trials(
        self,
        scan_id: str,
        *,
        owner: str,
        states: frozenset[TrialState] | None = None,
        after: int = -1,
        limit: int | None = None,
    ) -> list[TrialRecord]:
        """The scan's trials by number; with ``limit``, one page of them: at most ``limit``
        trials numbered above ``after`` (the last number of the previous page)."""
        self.get_scan(scan_id, owner=owner)
        trials = self.store.iter_trials(scan_id, states=states, after=after)
        return list(itertools.islice(trials, limit))

    def intermediate_values(
        self,
        scan_id: str,
        *,
        owner: str,
        metric: str | None = None,
        states: frozenset[TrialState] | None = None,
    ) -> tuple[str, dict[str, dict[int, float]]]:
        """The curves ``{trial_id: {step: value}}`` of one metric (default: the scan's),
        only of the trials in ``states`` when given."""
        scan = self.get_scan(scan_id, owner=owner)
        metric = metric or self.config_of(scan).metric.name
        trial_ids = None
        if states is not None:
            trial_ids = [t.trial_id for t in self.store.iter_trials(scan_id, states=states)]
        return metric, self.store.intermediate_values(scan_id, metric, trial_ids=trial_ids)

    def intermediate_values_page(
        self,
        scan_id: str,
        *,
        owner: str,
        metric: str | None = None,
        states: frozenset[TrialState] | None = None,
        after: int = -1,
        limit: int,
        max_points: int,
    ) -> tuple[str, dict[str, dict[int, float]], int | None]:
        """One page of ``intermediate_values``: the curves of at most ``limit`` trials
        numbered above ``after``, by number, and ``next_after`` (the last number of the page;
        None on the last page). A page ends early before a trial whose curve would take it
        past ``max_points`` values; a page always holds one trial, whatever its length
        (a curve is never split)."""
        scan = self.get_scan(scan_id, owner=owner)
        metric = metric or self.config_of(scan).metric.name
        trials = itertools.islice(
            self.store.iter_trials(scan_id, states=states, after=after), limit
        )
        curves: dict[str, dict[int, float]] = {}
        points, last, taken = 0, after, 0
        # read the curves a few trials at a time, so a cut page wastes few reads
        while chunk := list(itertools.islice(trials, _CURVE_READ_CHUNK)):
            read = self.store.intermediate_values(
                scan_id, metric, trial_ids=[t.trial_id for t in chunk]
            )
            for trial in chunk:
                curve = read.get(trial.trial_id, {})
                if taken and points + len(curve) > max_points:
                    return metric, curves, last
                if curve:
                    curves[trial.trial_id] = curve
                points, last, taken = points + len(curve), trial.number, taken + 1
        return metric, curves, last if taken == limit else None

    def heartbeat(self, trial_id: str, *, owner: str, worker_id: str, attempt: int) -> TrialRecord:
        """Extend the lease. Raises LeaseLostError, TrialFinishedError (also when the scan
        was cancelled: its trials are FAILED)."""
        scan = self._scan_of_trial(trial_id, owner)
        lease = self.config_of(scan).execution.lease_seconds
        return self.store.heartbeat(
            trial_id, worker_id, attempt, lease_seconds=lease, now=self._now()
        )

    def report(
        self, trial_id: str, metric: str, step: int, value: float, *, owner: str
    ) -> PruneDecision:
        """Store an intermediate value and answer whether the trial should stop now."""
        scan = self._scan_of_trial(trial_id, owner)
        config = self.config_of(scan)
        if step < 0:
            raise InvalidValuesError("step must be >= 0")
        self.store.record_intermediate(trial_id, metric, step, float(value))
        if config.early_stopping is None:
            return PruneDecision(step=step, prune=False, reason="no early stopping configured")
        if metric != config.metric.name:
            reason = f"pruning watches {config.metric.name}, not {metric}"
            return PruneDecision(step=step, prune=False, reason=reason)
        if TAG_SEED_OF in self.store.get_trial(trial_id).tags:
            return PruneDecision(step=step, prune=False, reason="seed runs are not pruned")
        from scanfleet.search import decide_prune

        decision = decide_prune(
            config,
            self.store.list_trials(scan.scan_id),
            self.store.intermediate_values(scan.scan_id, metric),
            trial_id,
            step,
        )
        self.store.set_prune_decision(trial_id, decision)
        return decision

    def checkpoint(self, trial_id: str, step: int, uri: str, *, owner: str) -> TrialRecord:
        self._scan_of_trial(trial_id, owner)
        return self.store.record_checkpoint(trial_id, Checkpoint(step=step, uri=uri))

    # ---- ends of trials ------------------------------------------------------------------

    def complete(
        self,
        trial_id: str,
        values: dict[str, float] | float,
        *,
        owner: str,
        attempt: int | None = None,
    ) -> TrialRecord:
        """Finish a trial with its metric(s). A plain number is the scan's metric. A metric
        of several (``metrics``) that is not given is the last value the trial reported
        for it.

        Raises:
            InvalidValuesError: a metric of the scan is missing or not a finite number.
            TrialFinishedError, LeaseLostError.
        """
        scan = self._scan_of_trial(trial_id, owner)
        config = self.config_of(scan)
        metric = config.metric.name
        if not isinstance(values, dict):
            values = {metric: values}
        required = [m.name for m in config.objectives()]
        for name in required:
            if name not in values:
                curve = self.store.intermediate_values(scan.scan_id, name).get(trial_id)
                if curve:
                    values = {**values, name: curve[max(curve)]}
        checked = _finite_values(values, required=required)
        trial = self.store.finish_trial(
            trial_id,
            TrialState.COMPLETED,
            now=self._now(),
            values=checked,
            expected_attempt=attempt,
        )
        self._finish_scan_if_done(scan.scan_id)
        return trial

    def prune(self, trial_id: str, *, owner: str, attempt: int | None = None) -> TrialRecord:
        """Finish a trial as PRUNED; its value is the last intermediate value it reported."""
        scan = self._scan_of_trial(trial_id, owner)
        metric = self.config_of(scan).metric.name
        curve = self.store.intermediate_values(scan.scan_id, metric).get(trial_id, {})
        values = {metric: curve[max(curve)]} if curve else {}
        decision = self.store.get_trial(trial_id).prune_decision
        trial = self.store.finish_trial(
            trial_id,
            TrialState.PRUNED,
            now=self._now(),
            values=values,
            reason=decision.reason if decision else "pruned by the script",
            expected_attempt=attempt,
        )
        self._finish_scan_if_done(scan.scan_id)
        return trial

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
        """A trial stopped without a result.

        A preemption (Spot notice, SIGTERM, lost machine) re-queues it against the
        preemption budget; a script error re-queues it against the error budget while
        ``retry`` and budget allow, else it is FAILED. ``max_failed`` FAILED trials end the
        scan as FAILED.
        """
        scan = self._scan_of_trial(trial_id, owner)
        config = self.config_of(scan)
        trial = self.store.get_trial(trial_id)
        now = self._now()
        if preempted and trial.preemptions < config.retries.max_preemptions:
            requeued = self.store.requeue_trial(
                trial_id, RequeueReason.PREEMPTED, now=now, expected_attempt=attempt, message=reason
            )
            if requeued is not None:
                return requeued
        elif not preempted and retry and trial.errors < config.retries.max_errors:
            requeued = self.store.requeue_trial(
                trial_id, RequeueReason.ERROR, now=now, expected_attempt=attempt, message=reason
            )
            if requeued is not None:
                return requeued
        else:
            budget = "preemption" if preempted else "error"
            failed = self.store.finish_trial(
                trial_id,
                TrialState.FAILED,
                now=now,
                reason=f"{reason} ({budget} budget spent)" if retry else reason,
                expected_attempt=attempt,
            )
            self._finish_scan_if_done(scan.scan_id)
            return failed
        return self.store.get_trial(trial_id)

    def reclaim_stale(self, scan_id: str, *, owner: str) -> list[TrialRecord]:
        """Re-queue RUNNING trials whose lease ran out (their worker died): a preemption,
        not the script's fault. Returns the trials re-queued by this call."""
        self.get_scan(scan_id, owner=owner)
        requeued = []
        for trial in self.store.expired_leases(scan_id, self._now()):
            again = self.store.requeue_trial(
                trial.trial_id,
                RequeueReason.PREEMPTED,
                now=self._now(),
                expected_attempt=trial.attempt,
                message="lease expired",
            )
            if again is not None:
                requeued.append(again)
        return requeued

    # ---- results -------------------------------------------------------------------------

    def best_trial(self, scan_id: str, *, owner: str) -> TrialRecord | None:
        """The best COMPLETED trial by the scan's metric (the first of several); seed runs
        are left out."""
        scan = self.get_scan(scan_id, owner=owner)
        return best_of(self.store.list_trials(scan_id, states=_COMPLETED), self.config_of(scan))

    def best_trials(self, scan_id: str, *, owner: str) -> list[TrialRecord]:
        """The Pareto front of the scan's metrics: the COMPLETED trials that no other one
        beats on every metric. With a single metric: the best trial (and its equals)."""
        scan = self.get_scan(scan_id, owner=owner)
        done = self.store.list_trials(scan_id, states=_COMPLETED)
        return pareto_front(done, self.config_of(scan))

    def gather_seeds(self, scan_id: str, n: int, *, owner: str) -> SeedSummary:
        """Queue the best trial's parameters with seeds 0 .. n-1 (hypnettorch); a COMPLETED
        scan runs again for them. Asking again adds only the missing seeds.

        Raises:
            InvalidValuesError: ``n`` < 1.
            NoBestTrialError: no trial has completed yet.
            ScanCancelledConflictError: the scan was cancelled or failed.
        """
        if n < 1:
            raise InvalidValuesError("n must be at least 1")
        scan = self.get_scan(scan_id, owner=owner)
        if scan.status in (ScanStatus.CANCELLED, ScanStatus.FAILED):
            raise ScanCancelledConflictError(f"scan {scan_id} is {scan.status.value}")
        config = self.config_of(scan)
        best = self.best_trial(scan_id, owner=owner)
        if best is None:
            raise NoBestTrialError(f"scan {scan_id} has no completed trial to gather seeds for")
        param = config.seeds.param if config.seeds is not None else DEFAULT_SEED_PARAM
        created = queue_seed_runs(self.store, scan, best, n, param, self._now())
        if created and scan.status is ScanStatus.COMPLETED:
            self._reopen(scan_id, f"gathering {n} seeds")
        summary = self.seed_summary(scan_id, owner=owner)
        assert summary is not None  # the runs were just queued
        return summary

    def seed_summary(self, scan_id: str, *, owner: str) -> SeedSummary | None:
        """Mean, std and SEM of every metric over the seed runs of the best trial; None
        when none were queued."""
        scan = self.get_scan(scan_id, owner=owner)
        config = self.config_of(scan)
        trials = self.store.list_trials(scan_id)
        best = best_of([t for t in trials if t.state is TrialState.COMPLETED], config)
        return seed_summary(trials, config, best) if best is not None else None

    def tag_trial(self, trial_id: str, tags: dict[str, str], *, owner: str) -> TrialRecord:
        """Merge tags into a trial (finished ones too: tags are annotations)."""
        self._scan_of_trial(trial_id, owner)
        return self.store.set_trial_tags(trial_id, tags)

    # ---- internals -----------------------------------------------------------------------

    def config_of(self, scan: ScanRecord) -> ScanConfig:
        return ScanConfig.model_validate(scan.config)

    def _strategy(self, scan: ScanRecord) -> SearchStrategy:
        cached = self._strategies.get(scan.scan_id)
        if cached is None or cached[0] != str(scan.config):
            cached = (str(scan.config), strategy_for(self.config_of(scan)))
            self._strategies[scan.scan_id] = cached
        return cached[1]

    def _scan_of_trial(self, trial_id: str, owner: str) -> ScanRecord:
        try:
            return self.get_scan(scan_id_of(trial_id), owner=owner)
        except ScanNotFoundError:
            raise TrialNotFoundError(f"no trial {trial_id}") from None

    def _raise_if_finished(self, scan: ScanRecord) -> None:
        if scan.status.is_finished():
            detail = f": {scan.status_reason}" if scan.status_reason else ""
            raise ScanFinishedError(f"scan {scan.scan_id} is {scan.status.value}{detail}")

    def _stop_reason(
        self, scan: ScanRecord, config: ScanConfig, strategy: SearchStrategy
    ) -> str | None:
        """Why no new trial should be created, or None."""
        if scan.trial_count >= scan.max_run:
            return f"max_run ({scan.max_run}) reached"
        exhausted = strategy.exhausted(scan)
        if exhausted is not None:
            return exhausted
        return completion_reason(
            config, scan, lambda: self.store.list_trials(scan.scan_id), self._now()
        )

    def _finish_scan_if_done(self, scan_id: str) -> None:
        """COMPLETED when nothing is queued or running and nothing more will be suggested;
        FAILED as soon as ``max_failed`` trials have failed."""
        scan = self.store.get_scan(scan_id)
        if scan.status.is_finished():
            return
        config = self.config_of(scan)
        counts = self.store.counts(scan_id)
        now = self._now()
        max_failed = config.completion.max_failed
        if max_failed is not None and counts[TrialState.FAILED] >= max_failed:
            self.store.set_scan_status(
                scan_id, ScanStatus.FAILED, reason=f"{max_failed} trials failed", now=now
            )
            return
        if counts[TrialState.QUEUED] or counts[TrialState.RUNNING]:
            return
        reason = self._stop_reason(scan, config, self._strategy(scan))
        if reason is None:
            return
        if config.seeds is not None and self._start_seed_runs(scan, config):
            return
        self.store.set_scan_status(scan_id, ScanStatus.COMPLETED, reason=reason, now=now)

    def _start_seed_runs(self, scan: ScanRecord, config: ScanConfig) -> bool:
        """At the end of the search, once: queue the seed runs of the best trial. Returns
        True when runs were queued (the scan goes on for them)."""
        assert config.seeds is not None
        trials = self.store.list_trials(scan.scan_id)
        if any(TAG_SEED_OF in t.tags for t in trials):
            return False  # the seed runs were queued before: they are done now
        best = best_of([t for t in trials if t.state is TrialState.COMPLETED], config)
        if best is None:
            return False
        n, param = config.seeds.n, config.seeds.param
        return queue_seed_runs(self.store, scan, best, n, param, self._now()) > 0

    def _finish_quietly(self, trial_id: str, state: TrialState, *, reason: str) -> None:
        with contextlib.suppress(TrialFinishedError):
            self.store.finish_trial(trial_id, state, now=self._now(), reason=reason)


_COMPLETED = frozenset({TrialState.COMPLETED})


def _finite_values(values: dict[str, Any], *, required: list[str]) -> dict[str, float]:
    missing = [name for name in required if name not in values]
    if missing:
        raise InvalidValuesError(
            f"values must include the scan's metric {missing[0]!r}"
            + (f" (missing: {', '.join(map(repr, missing))})" if len(missing) > 1 else "")
        )
    out: dict[str, float] = {}
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidValuesError(f"value of {name!r} must be a number, got {value!r}")
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidValuesError(f"value of {name!r} must be finite, got {value!r}")
        out[name] = float(value)
    return out
