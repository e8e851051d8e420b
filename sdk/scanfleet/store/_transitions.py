"""The trial transitions both stores share: each is one ``_rules`` decision applied by
the store's own atomic read-decide-write (``_change_trial``), so a rule is written once."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable

from scanfleet.records import Checkpoint, PruneDecision, RequeueReason, TrialRecord, TrialState
from scanfleet.store import _rules
from scanfleet.store._base import TrialStore


class TransitionStore(TrialStore):
    """A TrialStore whose single-trial changes go through ``_change_trial``."""

    @abstractmethod
    def _change_trial(
        self, trial_id: str, change: Callable[[TrialRecord], TrialRecord | None]
    ) -> TrialRecord | None:
        """Apply ``change`` to the current trial atomically (None from it: nothing to do).
        Raises TrialNotFoundError."""

    def claim_trial(
        self, trial_id: str, worker_id: str, *, lease_seconds: float, now: float
    ) -> TrialRecord | None:
        def claim(trial: TrialRecord) -> TrialRecord | None:
            _rules.raise_if_finished(trial)
            return _rules.claimed(trial, worker_id, lease_seconds, now)

        return self._change_trial(trial_id, claim)

    def heartbeat(
        self, trial_id: str, worker_id: str, attempt: int, *, lease_seconds: float, now: float
    ) -> TrialRecord:
        return _must(
            self._change_trial(
                trial_id, lambda t: _rules.heartbeat(t, worker_id, attempt, lease_seconds, now)
            )
        )

    def set_prune_decision(self, trial_id: str, decision: PruneDecision) -> None:
        self._change_trial(trial_id, lambda t: _rules.with_prune_decision(t, decision))

    def record_checkpoint(self, trial_id: str, checkpoint: Checkpoint) -> TrialRecord:
        return _must(self._change_trial(trial_id, lambda t: _rules.with_checkpoint(t, checkpoint)))

    def finish_trial(
        self,
        trial_id: str,
        state: TrialState,
        *,
        now: float,
        values: dict[str, float] | None = None,
        reason: str | None = None,
        expected_attempt: int | None = None,
    ) -> TrialRecord:
        _rules.require_finished_state(state)
        return _must(
            self._change_trial(
                trial_id,
                lambda t: _rules.finished(
                    t,
                    state,
                    now=now,
                    values=values,
                    reason=reason,
                    expected_attempt=expected_attempt,
                ),
            )
        )

    def requeue_trial(
        self,
        trial_id: str,
        reason: RequeueReason,
        *,
        now: float,
        expected_attempt: int | None = None,
        message: str | None = None,
    ) -> TrialRecord | None:
        return self._change_trial(
            trial_id,
            lambda t: _rules.requeued(
                t, reason, now=now, expected_attempt=expected_attempt, message=message
            ),
        )

    def set_trial_tags(self, trial_id: str, tags: dict[str, str]) -> TrialRecord:
        return _must(self._change_trial(trial_id, lambda t: _rules.with_tags(t, tags)))


def _must(trial: TrialRecord | None) -> TrialRecord:
    assert trial is not None
    return trial
