"""How one run of a trial's script ended, and what follows from it — pure functions.

``transition_for`` says what becomes of the trial (complete, prune, fail, back to the
queue, nothing), ``exit_code_for`` what the worker tells AWS Batch, and ``FlapGuard``
when a worker whose trials keep failing fast should stop. The agent applies them.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from scanfleet import names
from scanfleet.records import TrialState, metric_mismatch

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
    and REQUEUE; ``warning`` for the worker's log (the run reported metrics but never the
    scan's: ``metric_warning``)."""

    action: Action
    reason: str = ""
    values: Mapping[str, float] = field(default_factory=dict)
    retry: bool = True
    warning: str = ""


def transition_for(outcome: Outcome, metric: str, stop_reason: str) -> Transition:
    """``_transition_for`` with the worker's warning when the run reported metrics but
    never ``metric``."""
    change = _transition_for(outcome, metric, stop_reason)
    warning = metric_warning(outcome, metric)
    return replace(change, warning=warning) if warning else change


def _transition_for(outcome: Outcome, metric: str, stop_reason: str) -> Transition:
    """What becomes of the trial after ``outcome``, whose objective is ``metric``.

    A value the metric regex found in the output wins over the last one the script
    reported; the last value of every other metric reported (finite) is kept beside it
    (``val_acc``: a column of the results). A script that exits 0 without either fails
    for good (retrying would not give a value), its reason naming the metrics it did
    report if any; any other exit fails (and retries within the error budget)."""
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
    last = outcome.reported.get("last", {})
    others = {name: v for name, (_, v) in last.items() if name != metric and math.isfinite(v)}
    if outcome.regex_value is not None:
        return Transition(Action.COMPLETE, values={**others, metric: outcome.regex_value})
    if metric in last:
        return Transition(Action.COMPLETE, values={**others, metric: last[metric][1]})
    if last:  # metrics, but not the scan's: a name mistyped in the config or the script
        return Transition(Action.FAIL, reason=metric_mismatch(list(last), [metric]), retry=False)
    return Transition(Action.FAIL, reason=f"exited 0 but reported no {metric!r}", retry=False)


def metric_warning(outcome: Outcome, metric: str) -> str | None:
    """What the worker warns of when a run reported metrics but never the scan's
    ``metric`` (pruning watches that one only, so it stays idle, and a trial completed
    with a plain number hides it); None when it reported the metric, or nothing."""
    last = list(outcome.reported.get("last") or {})
    if not last or metric in last:
        return None
    return (
        f"{metric_mismatch(last, [metric])}: pruning watches {metric} only and prunes nothing;"
        " rename the metric in the config or in the script"
    )


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
