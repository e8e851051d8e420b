"""How one run of a trial's script ended, and what follows from it — pure functions.

``transition_for`` says what becomes of the trial (complete, prune, fail, back to the
queue, nothing), ``exit_code_for`` what the worker tells AWS Batch, and ``FlapGuard``
when a worker whose trials keep failing fast should stop. The agent applies them.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scanfleet import names
from scanfleet.records import TrialState

FAILURE_TAIL_LINES = 5  # lines of the script's last output kept in a failure's reason


@dataclass
class Outcome:
    """How one run of the command ended.

    ``reported`` is what the script wrote to its result file (``completed``, ``prune``,
    ``last`` values per metric, checkpoint answers); ``stopped`` means the worker was
    interrupted (a signal, a Spot notice) before the script ended by itself."""

    exit_code: int | None
    regex_value: float | None = None
    reported: dict[str, Any] = field(default_factory=dict)
    lease_lost: bool = False
    stopped: bool = False
    log_tail: list[str] = field(default_factory=list)
    seconds: float = 0.0


class Action(enum.Enum):
    """What the worker does to the trial once its run ended."""

    NOTHING = "nothing"  # the lease was lost: another attempt holds the trial
    DONE_BY_SCRIPT = "done_by_script"  # the script completed the trial itself
    REQUEUE = "requeue"  # interrupted: back to the queue as a preemption
    PRUNE = "prune"
    COMPLETE = "complete"
    FAIL = "fail"


@dataclass(frozen=True)
class Transition:
    """The change to make: ``values`` for COMPLETE, ``reason`` (and ``retry``) for FAIL
    and REQUEUE."""

    action: Action
    reason: str = ""
    values: Mapping[str, float] = field(default_factory=dict)
    retry: bool = True


def transition_for(outcome: Outcome, metric: str, stop_reason: str) -> Transition:
    """What becomes of the trial after ``outcome``, whose objective is ``metric``.

    A value the metric regex found in the output wins over the last one the script
    reported; a script that exits 0 without either fails for good (retrying would not
    give a value); any other exit fails (and retries within the error budget)."""
    if outcome.lease_lost:
        return Transition(Action.NOTHING)
    if outcome.reported.get("completed"):
        return Transition(Action.DONE_BY_SCRIPT)
    if outcome.stopped:
        return Transition(Action.REQUEUE, reason=stop_reason)
    if outcome.exit_code != 0:
        tail = "\n".join(outcome.log_tail[-FAILURE_TAIL_LINES:])
        return Transition(
            Action.FAIL, reason=f"exit code {outcome.exit_code}; last output:\n{tail}"
        )
    if outcome.reported.get("prune"):
        return Transition(Action.PRUNE)
    if outcome.regex_value is not None:
        return Transition(Action.COMPLETE, values={metric: outcome.regex_value})
    last = outcome.reported.get("last", {})
    if metric in last:
        return Transition(Action.COMPLETE, values={metric: last[metric][1]})
    return Transition(Action.FAIL, reason=f"exited 0 but reported no {metric!r}", retry=False)


def exit_code_for(outcome: Outcome, state: TrialState | None) -> names.ExitCode:
    """How one run ended, as the exit code the Batch retry strategy matches on.
    ``state`` is the trial's state afterwards (None: unknown, the API did not answer)."""
    if outcome.lease_lost:
        return names.ExitCode.LEASE_LOST
    if state is None:
        return names.ExitCode.API_UNAVAILABLE
    if state in (TrialState.COMPLETED, TrialState.PRUNED):
        return names.ExitCode.OK
    if state is TrialState.FAILED:
        return names.ExitCode.SCRIPT_FAILED
    return names.ExitCode.INTERRUPTED if outcome.stopped else names.ExitCode.REQUEUED


class FlapGuard:
    """Says when ``window`` trials in a row failed, each faster than ``seconds``: the
    script (or the machine) is broken and the worker should stop taking trials."""

    def __init__(self, window: int, seconds: float) -> None:
        self.window = window
        self.seconds = seconds
        self._recent: deque[float] = deque(maxlen=window)

    def flapping(self, outcome: Outcome) -> bool:
        """Count ``outcome``; whether the worker should stop now."""
        if outcome.exit_code in (0, None) or outcome.stopped or outcome.lease_lost:
            self._recent.clear()
            return False
        self._recent.append(outcome.seconds)
        return len(self._recent) == self.window and all(s < self.seconds for s in self._recent)
