"""How a record changes in each transition of the contract: the one implementation of
those rules. A store reads the current record atomically, asks a function here for the
new one, and writes it atomically (SQLite: inside ``BEGIN IMMEDIATE``; DynamoDB: a write
conditioned on the version it read). A function returns None when there is nothing to do
(a lost race the contract reports as None or False), or raises the contract's error.
"""

from __future__ import annotations

from typing import Any

from scanfleet.records import (
    Checkpoint,
    PruneDecision,
    RequeueReason,
    ScanRecord,
    ScanStatus,
    TrialRecord,
    TrialState,
)
from scanfleet.store._base import InsertResult, LeaseLostError, TrialFinishedError

# ---- scans -----------------------------------------------------------------------------


def status_update(status: ScanStatus, reason: str | None, now: float) -> dict[str, Any]:
    """The fields ``set_scan_status`` writes: ``finished_at`` is set for a finished status
    and cleared for RUNNING."""
    return {
        "status": status,
        "status_reason": reason,
        "finished_at": now if status.is_finished() else None,
    }


def insert_refusal(
    scan: ScanRecord,
    *,
    exists: bool,
    expected_cursor: int | None,
    max_trials: int | None,
) -> InsertResult | None:
    """Why ``insert_trial`` writes nothing, in the contract's order, or None to insert."""
    if exists:
        return InsertResult.DUPLICATE
    if expected_cursor is not None and scan.cursor != expected_cursor:
        return InsertResult.CURSOR_MOVED
    if max_trials is not None and scan.trial_count >= max_trials:
        return InsertResult.LIMIT_REACHED
    return None


# ---- trials ----------------------------------------------------------------------------


def raise_if_finished(trial: TrialRecord) -> None:
    if trial.state.is_finished():
        raise TrialFinishedError(
            f"trial {trial.trial_id} is {trial.state.value} and can no longer change",
            details={"trial_id": trial.trial_id, "state": trial.state.value},
        )


def claimed(
    trial: TrialRecord, worker_id: str, lease_seconds: float, now: float
) -> TrialRecord | None:
    """QUEUED → RUNNING for ``worker_id``; None when the trial is not QUEUED (a caller
    that named the trial raises first when it is finished)."""
    if trial.state is not TrialState.QUEUED:
        return None
    return trial.model_copy(
        update={
            "state": TrialState.RUNNING,
            "attempt": trial.attempt + 1,
            "worker_id": worker_id,
            "lease_expires_at": now + lease_seconds,
            "started_at": now,
        }
    )


def heartbeat(
    trial: TrialRecord, worker_id: str, attempt: int, lease_seconds: float, now: float
) -> TrialRecord:
    raise_if_finished(trial)
    if (
        trial.state is not TrialState.RUNNING
        or trial.worker_id != worker_id
        or trial.attempt != attempt
    ):
        raise LeaseLostError(
            f"trial {trial.trial_id} is not held by {worker_id} at attempt {attempt}",
            details={"trial_id": trial.trial_id, "attempt": trial.attempt},
        )
    if trial.lease_expires_at is not None and trial.lease_expires_at < now:
        raise LeaseLostError(
            f"the lease of trial {trial.trial_id} expired at {trial.lease_expires_at}",
            details={"trial_id": trial.trial_id, "lease_expires_at": trial.lease_expires_at},
        )
    return trial.model_copy(update={"lease_expires_at": now + lease_seconds})


def reported(trial: TrialRecord, step: int) -> TrialRecord:
    """The trial after an intermediate value at ``step``: ``last_step`` only rises."""
    raise_if_finished(trial)
    if trial.last_step is not None and step <= trial.last_step:
        return trial
    return trial.model_copy(update={"last_step": step})


def with_prune_decision(trial: TrialRecord, decision: PruneDecision) -> TrialRecord:
    raise_if_finished(trial)
    return trial.model_copy(update={"prune_decision": decision})


def with_checkpoint(trial: TrialRecord, checkpoint: Checkpoint) -> TrialRecord:
    """A checkpoint at a lower step than the stored one is ignored."""
    raise_if_finished(trial)
    if trial.checkpoint is not None and checkpoint.step < trial.checkpoint.step:
        return trial
    return trial.model_copy(update={"checkpoint": checkpoint})


def with_tags(trial: TrialRecord, tags: dict[str, str]) -> TrialRecord:
    """Tags are annotations: allowed on finished trials too."""
    return trial.model_copy(update={"tags": {**trial.tags, **tags}})


def finished(
    trial: TrialRecord,
    state: TrialState,
    *,
    now: float,
    values: dict[str, float] | None,
    reason: str | None,
    expected_attempt: int | None,
) -> TrialRecord:
    raise_if_finished(trial)
    if expected_attempt is not None and (
        trial.state is not TrialState.RUNNING or trial.attempt != expected_attempt
    ):
        raise LeaseLostError(
            f"trial {trial.trial_id} is no longer held by attempt {expected_attempt}",
            details={"trial_id": trial.trial_id, "attempt": trial.attempt},
        )
    return trial.model_copy(
        update={
            "state": state,
            "values": dict(values or {}),
            "failure_reason": reason,
            "finished_at": now,
            "duration_s": trial.duration_s + running_time(trial, now),
            "lease_expires_at": None,
        }
    )


def requeued(
    trial: TrialRecord,
    reason: RequeueReason,
    *,
    now: float,
    expected_attempt: int | None,
    message: str | None,
) -> TrialRecord | None:
    """RUNNING → QUEUED, checkpoint kept, one more preemption or error; None when the
    trial is not RUNNING at ``expected_attempt``."""
    raise_if_finished(trial)
    if trial.state is not TrialState.RUNNING or (
        expected_attempt is not None and trial.attempt != expected_attempt
    ):
        return None
    counter = "preemptions" if reason is RequeueReason.PREEMPTED else "errors"
    return trial.model_copy(
        update={
            "state": TrialState.QUEUED,
            counter: getattr(trial, counter) + 1,
            "duration_s": trial.duration_s + running_time(trial, now),
            "worker_id": None,
            "lease_expires_at": None,
            "failure_reason": message,
        }
    )


def running_time(trial: TrialRecord, now: float) -> float:
    """The running time of the current attempt (0 unless RUNNING)."""
    if trial.state is TrialState.RUNNING and trial.started_at is not None:
        return max(0.0, now - trial.started_at)
    return 0.0


def moves_sequence(old: TrialRecord, new: TrialRecord) -> bool:
    """Whether changing ``old`` into ``new`` moves the scan's change sequence: a change of
    what a search reads (state, params, values, tags, user attributes), not a per-step
    write (lease, checkpoint, last step, prune decision)."""
    return (
        old.state is not new.state
        or old.params != new.params
        or old.values != new.values
        or old.tags != new.tags
        or old.user_attrs != new.user_attrs
    )


def require_finished_state(state: TrialState) -> None:
    if not state.is_finished():
        raise ValueError(f"{state.value} is not a finished state")
