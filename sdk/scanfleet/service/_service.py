"""The use cases of scanfleet, over an injected TrialStore.

Everything that decides what happens to a scan or a trial lives here, once: the HTTP API,
the Lambda tasks of the state machine, the agent loop and local mode all call these
methods, so the cloud and the laptop run one control flow.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from scanfleet.config import ScanConfig, Strategy, load_config
from scanfleet.records import (
    Checkpoint,
    PruneDecision,
    RequeueReason,
    ScanRecord,
    ScanStatus,
    TrialRecord,
    TrialState,
    new_scan_id,
    scan_id_of,
    trial_id_for,
)
from scanfleet.search import GridStrategy, SearchStrategy, strategy_for
from scanfleet.service._errors import (
    InvalidValuesError,
    ScanCancelledConflictError,
    ScanFinishedError,
)
from scanfleet.service._params import complete_params
from scanfleet.store import (
    InsertResult,
    ScanNotFoundError,
    TrialFinishedError,
    TrialNotFoundError,
    TrialStore,
)

_MAX_DUPLICATE_SUGGESTIONS = 20  # a sampler that repeats itself this often has run dry
_MAX_CLAIM_ROUNDS = 10_000  # bounds the loop over grid cells that duplicate earlier cells

UNFINISHED = frozenset({TrialState.QUEUED, TrialState.RUNNING})


class ScanSummary(BaseModel):
    """A scan with what people ask about it: counts per state and the best trial."""

    scan: ScanRecord
    counts: dict[TrialState, int]
    best_trial: TrialRecord | None
    planned_trials: int  # max_run, or fewer when the grid has fewer cells


class ScanService:
    """The use cases. ``now`` is injectable so tests control leases and durations."""

    def __init__(self, store: TrialStore, *, now: Callable[[], float] = time.time) -> None:
        self.store = store
        self._now = now
        self._strategies: dict[str, tuple[str, SearchStrategy]] = {}

    # ---- scans -------------------------------------------------------------------------

    def create_scan(
        self,
        name: str,
        config: ScanConfig | dict[str, Any] | str,
        *,
        owner: str,
        client_token: str | None = None,
    ) -> tuple[ScanRecord, bool]:
        """Validate and store a scan (idempotent by ``client_token``).

        Returns:
            The scan, and False when ``client_token`` named an existing scan.

        Raises:
            ConfigError: the config is invalid; nothing is stored.
        """
        cfg = load_config(config)
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
        return self.store.create_scan(scan)

    def get_scan(self, scan_id: str, *, owner: str) -> ScanRecord:
        """Raises ScanNotFoundError, also when the scan belongs to another owner."""
        scan = self.store.get_scan(scan_id)
        if scan.owner != owner:
            raise ScanNotFoundError(f"no scan {scan_id}")
        return scan

    def summarize(self, scan_id: str, *, owner: str) -> ScanSummary:
        scan = self.get_scan(scan_id, owner=owner)
        config = self.config_of(scan)
        planned = scan.max_run
        if config.strategy is Strategy.GRID:
            planned = min(planned, GridStrategy(config).size())
        return ScanSummary(
            scan=scan,
            counts=self.store.counts(scan_id),
            best_trial=self.best_trial(scan_id, owner=owner),
            planned_trials=planned,
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
            self.store.set_scan_status(
                scan_id,
                ScanStatus.RUNNING,
                reason=f"extended to {max_run}",
                expected=ScanStatus.COMPLETED,
                now=self._now(),
            )
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
            history = self.store.list_trials(scan.scan_id) if strategy.needs_history else ()
            suggestion = strategy.suggest(scan, history, retry=retry)
            if suggestion is None:
                break
            params = complete_params(config, suggestion.params)
            now = self._now()
            trial = TrialRecord(
                scan_id=scan.scan_id,
                trial_id=trial_id_for(scan.scan_id, params),
                number=scan.trial_count,
                params=params,
                state=TrialState.RUNNING,
                attempt=1,
                worker_id=worker_id,
                lease_expires_at=now + lease,
                created_at=now,
                started_at=now,
            )
            result = self.store.insert_trial(
                trial, expected_cursor=suggestion.cursor, max_trials=scan.max_run
            )
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
        return None

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
            self.store.set_scan_status(
                scan_id,
                ScanStatus.RUNNING,
                reason="trial added",
                expected=ScanStatus.COMPLETED,
                now=self._now(),
            )
        return self.store.get_trial(trial.trial_id), result is InsertResult.CREATED

    def claim_trial(
        self, trial_id: str, worker_id: str, *, owner: str, lease_seconds: float | None = None
    ) -> TrialRecord | None:
        """Claim one named QUEUED trial (the Batch job of a lane runs the trial the state
        machine chose). Returns None when another worker holds it."""
        scan = self._scan_of_trial(trial_id, owner)
        self._raise_if_finished(scan)
        lease = lease_seconds or self.config_of(scan).execution.lease_seconds
        return self.store.claim_trial(trial_id, worker_id, lease_seconds=lease, now=self._now())

    # ---- while a trial runs --------------------------------------------------------------

    def get_trial(self, trial_id: str, *, owner: str) -> TrialRecord:
        self._scan_of_trial(trial_id, owner)
        return self.store.get_trial(trial_id)

    def list_trials(
        self, scan_id: str, *, owner: str, states: frozenset[TrialState] | None = None
    ) -> list[TrialRecord]:
        self.get_scan(scan_id, owner=owner)
        return self.store.list_trials(scan_id, states=states)

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
        """Finish a trial with its metric(s). A plain number is the scan's metric.

        Raises:
            InvalidValuesError: the scan's metric is missing or not a finite number.
            TrialFinishedError, LeaseLostError.
        """
        scan = self._scan_of_trial(trial_id, owner)
        metric = self.config_of(scan).metric.name
        if not isinstance(values, dict):
            values = {metric: values}
        checked = _finite_values(values, required=metric)
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
        scan = self.get_scan(scan_id, owner=owner)
        return _best(self.store.list_trials(scan_id, states=_COMPLETED), self.config_of(scan))

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
        size = strategy.size()
        if size is not None and scan.cursor >= size:
            return "grid exhausted"
        completion = config.completion
        if completion.target is None and completion.patience is None:
            return None
        done = self.store.list_trials(scan.scan_id, states=_COMPLETED)
        best = _best(done, config)
        metric = config.metric.name
        if completion.target is not None and best is not None:
            value = best.values[metric]
            reached = (
                value <= completion.target if _minimize(config) else value >= completion.target
            )
            if reached:
                return f"target {completion.target} reached ({value})"
        if completion.patience is not None and best is not None:
            order = sorted(done, key=lambda t: (t.finished_at or 0.0, t.number))
            since_best = len(order) - 1 - order.index(best)
            if since_best >= completion.patience:
                return f"no improvement in {since_best} trials (patience {completion.patience})"
        return None

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
        self.store.set_scan_status(scan_id, ScanStatus.COMPLETED, reason=reason, now=now)

    def _finish_quietly(self, trial_id: str, state: TrialState, *, reason: str) -> None:
        with contextlib.suppress(TrialFinishedError):
            self.store.finish_trial(trial_id, state, now=self._now(), reason=reason)


_COMPLETED = frozenset({TrialState.COMPLETED})


def _minimize(config: ScanConfig) -> bool:
    return config.metric.goal.value == "minimize"


def _best(trials: list[TrialRecord], config: ScanConfig) -> TrialRecord | None:
    metric = config.metric.name
    scored = [t for t in trials if t.value(metric) is not None]
    if not scored:
        return None
    pick = min if _minimize(config) else max
    return pick(scored, key=lambda t: t.values[metric])


def _finite_values(values: dict[str, Any], *, required: str) -> dict[str, float]:
    if required not in values:
        raise InvalidValuesError(f"values must include the scan's metric {required!r}")
    out: dict[str, float] = {}
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidValuesError(f"value of {name!r} must be a number, got {value!r}")
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidValuesError(f"value of {name!r} must be finite, got {value!r}")
        out[name] = float(value)
    return out
