"""The life of a trial once it exists: queued by hand, read, kept alive, its reports
(and the pruning decision each one gets), its checkpoints, tags, and its end (completed,
pruned, failed or re-queued against its budgets)."""

from __future__ import annotations

import math
from typing import Any

from scanfleet.artifacts import ArtifactError
from scanfleet.errors import InvalidRequestError, InvalidValuesError, ScanFinishedError
from scanfleet.records import (
    Checkpoint,
    PruneDecision,
    RequeueReason,
    ScanStatus,
    TrialRecord,
    TrialState,
    metric_mismatch,
    trial_id_for,
)
from scanfleet.service._context import ServiceContext
from scanfleet.service._params import complete_params
from scanfleet.service._pruning import PruneDecisions
from scanfleet.service._results import TAG_SEED_OF
from scanfleet.service._scan_end import finish_scan_if_done
from scanfleet.store import InsertResult


class Trials:
    """The use cases of one trial."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.decisions = PruneDecisions(ctx)  # each scan's pruning inputs, kept

    def add_trial(
        self,
        scan_id: str,
        params: dict[str, Any],
        *,
        owner: str,
        tags: dict[str, str] | None = None,
    ) -> tuple[TrialRecord, bool]:
        """Queue a trial by hand (Schedy's ``add_job``, Optuna's ``enqueue_trial``); a
        COMPLETED scan runs again for it.

        Returns:
            The trial, and False when one with the same params already existed.
        Raises:
            InvalidParamsError: params outside the search space.
            ScanFinishedError: the scan is cancelled or failed.
        """
        ctx = self.ctx
        scan = ctx.scan(scan_id, owner)
        if scan.status in (ScanStatus.CANCELLED, ScanStatus.FAILED):
            raise ScanFinishedError(f"scan {scan_id} is {scan.status.value}")
        full = complete_params(ctx.config_of(scan), params)
        trial = TrialRecord(
            scan_id=scan_id,
            trial_id=trial_id_for(scan_id, full),
            number=0,
            params=full,
            tags=tags or {},
            created_at=ctx.now(),
        )
        result = ctx.store.insert_trial(trial)
        if scan.status is ScanStatus.COMPLETED and result is InsertResult.CREATED:
            ctx.reopen(scan_id, "trial added")
        return ctx.store.get_trial(trial.trial_id), result is InsertResult.CREATED

    def get_trial(self, trial_id: str, *, owner: str) -> TrialRecord:
        self.ctx.scan_of_trial(trial_id, owner, reading=True)
        return self.ctx.store.get_trial(trial_id)

    def tag_trial(self, trial_id: str, tags: dict[str, str], *, owner: str) -> TrialRecord:
        """Merge tags into a trial (finished ones too: tags are annotations)."""
        self.ctx.scan_of_trial(trial_id, owner)
        return self.ctx.store.set_trial_tags(trial_id, tags)

    def heartbeat(self, trial_id: str, *, owner: str, worker_id: str, attempt: int) -> TrialRecord:
        """Extend the lease. Raises LeaseLostError, TrialFinishedError (also when the scan
        was cancelled: its trials are FAILED)."""
        ctx = self.ctx
        scan = ctx.scan_of_trial(trial_id, owner)
        lease = ctx.config_of(scan).execution.lease_seconds
        return ctx.store.heartbeat(trial_id, worker_id, attempt, lease_seconds=lease, now=ctx.now())

    def report(
        self, trial_id: str, metric: str, step: int, value: float, *, owner: str
    ) -> PruneDecision:
        """Store an intermediate value and answer whether the trial should stop now: from
        the trial's own curve and the scan's pruning inputs kept in this process
        (``_pruning``), so a report's reads do not grow with the scan."""
        ctx = self.ctx
        scan = ctx.scan_of_trial(trial_id, owner)
        config = ctx.config_of(scan)
        if step < 0:
            raise InvalidValuesError("step must be >= 0")
        ctx.store.record_intermediate(trial_id, metric, step, float(value))
        if config.early_stopping is None:
            return PruneDecision(step=step, prune=False, reason="no early stopping configured")
        if metric != config.metric.name:
            reason = f"pruning watches {config.metric.name}, not {metric}"
            return PruneDecision(step=step, prune=False, reason=reason)
        trial = ctx.store.get_trial(trial_id)
        if TAG_SEED_OF in trial.tags:
            return PruneDecision(step=step, prune=False, reason="seed runs are not pruned")
        decision = self.decisions.decide(scan, config, trial, step)
        ctx.store.set_prune_decision(trial_id, decision)
        return decision

    def checkpoint(self, trial_id: str, step: int, uri: str, *, owner: str) -> TrialRecord:
        """Records the trial's last checkpoint; ``uri`` must lie inside the trial's folder
        of the checkpoint root (``<root>/<scan>/<trial>/``), else 400 naming ``uri``."""
        scan = self.ctx.scan_of_trial(trial_id, owner)
        try:
            self.ctx.artifacts.check(uri, scan.scan_id, trial_id)
        except ArtifactError as exc:
            self.ctx.store.get_trial(trial_id)  # an unknown trial is 404 first
            raise InvalidRequestError(
                f"uri: {exc}", details=[{"path": "uri", "message": str(exc)}]
            ) from exc
        return self.ctx.store.record_checkpoint(trial_id, Checkpoint(step=step, uri=uri))

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

        A metric that is NaN or infinite (a diverged run) fails the trial for good, with
        the reason ``metric <name> is nan`` (as Optuna fails a trial whose objective
        returns NaN). Values none of which is a metric of the scan (nor reported as one)
        fail the trial for good too: ``reported val_loss, val_acc; the scan's metric is
        loss`` (a name mistyped in the config or the script; docs/troubleshooting.md).

        Raises:
            InvalidValuesError: no values, a metric of several missing, or a value that
                is not a number.
            TrialFinishedError, LeaseLostError.
        """
        ctx = self.ctx
        scan = ctx.scan_of_trial(trial_id, owner)
        config = ctx.config_of(scan)
        if not isinstance(values, dict):
            values = {config.metric.name: values}
        required = [m.name for m in config.objectives()]
        for name in required:
            if name not in values:
                curve = _own_curve(ctx, scan.scan_id, name, trial_id)
                if curve:
                    values = {**values, name: curve[max(curve)]}
        if values and not any(name in values for name in required):  # a name mistyped
            reason = metric_mismatch(list(values), required)
            return self.fail(trial_id, reason, owner=owner, attempt=attempt, retry=False)
        diverged = _first_non_finite(values)
        if diverged is not None:  # as Optuna fails a trial whose objective returns NaN
            reason = f"metric {diverged[0]} is {diverged[1]}"
            return self.fail(trial_id, reason, owner=owner, attempt=attempt, retry=False)
        checked = _finite_values(values, required=required)
        trial = ctx.store.finish_trial(
            trial_id,
            TrialState.COMPLETED,
            now=ctx.now(),
            values=checked,
            expected_attempt=attempt,
        )
        finish_scan_if_done(ctx, scan.scan_id)
        return trial

    def prune(self, trial_id: str, *, owner: str, attempt: int | None = None) -> TrialRecord:
        """Finish a trial as PRUNED; its value is the last intermediate value it reported."""
        ctx = self.ctx
        scan = ctx.scan_of_trial(trial_id, owner)
        metric = ctx.config_of(scan).metric.name
        curve = _own_curve(ctx, scan.scan_id, metric, trial_id)
        values = {metric: curve[max(curve)]} if curve else {}
        decision = ctx.store.get_trial(trial_id).prune_decision
        trial = ctx.store.finish_trial(
            trial_id,
            TrialState.PRUNED,
            now=ctx.now(),
            values=values,
            reason=decision.reason if decision else "pruned by the script",
            expected_attempt=attempt,
        )
        finish_scan_if_done(ctx, scan.scan_id)
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
        ctx = self.ctx
        scan = ctx.scan_of_trial(trial_id, owner)
        retries = ctx.config_of(scan).retries
        trial = ctx.store.get_trial(trial_id)
        if preempted and trial.preemptions < retries.max_preemptions:
            why: RequeueReason | None = RequeueReason.PREEMPTED
        elif not preempted and retry and trial.errors < retries.max_errors:
            why = RequeueReason.ERROR
        else:
            why = None
        if why is not None:
            requeued = ctx.store.requeue_trial(
                trial_id, why, now=ctx.now(), expected_attempt=attempt, message=reason
            )
            return requeued if requeued is not None else ctx.store.get_trial(trial_id)
        budget = "preemption" if preempted else "error"
        failed = ctx.store.finish_trial(
            trial_id,
            TrialState.FAILED,
            now=ctx.now(),
            reason=f"{reason} ({budget} budget spent)" if retry else reason,
            expected_attempt=attempt,
        )
        finish_scan_if_done(ctx, scan.scan_id)
        return failed


def _own_curve(ctx: ServiceContext, scan_id: str, metric: str, trial_id: str) -> dict[int, float]:
    """One trial's curve of ``metric`` (its items alone, never the scan's)."""
    return ctx.store.intermediate_values(scan_id, metric, trial_ids=[trial_id]).get(trial_id, {})


def _first_non_finite(values: dict[str, Any]) -> tuple[str, float] | None:
    """The first metric whose value is NaN or infinite (a diverged run), if any."""
    for name, value in values.items():
        if isinstance(value, float) and (value != value or value in (math.inf, -math.inf)):
            return name, value
    return None


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
