"""How a run's end maps to the trial's change and the worker's exit code (pure)."""

from __future__ import annotations

import pytest
from scanfleet.names import ExitCode
from scanfleet.records import TrialState
from scanfleet.runtime.outcome import (
    Action,
    FlapGuard,
    Outcome,
    Transition,
    exit_code_for,
    transition_for,
)

STOP = "spot interruption notice (terminate)"
LAST = {"last": {"loss": [7, 0.25]}}  # what current_trial().report() leaves: [step, value]
MISMATCH = (
    "reported val_loss, val_acc; the scan's metric is loss: pruning watches loss only and"
    " prunes nothing; rename the metric in the config or in the script"
)


@pytest.mark.parametrize(
    "outcome, transition",
    [
        # the lease was lost: another attempt holds the trial, nothing to record
        (Outcome(exit_code=-15, lease_lost=True, stopped=True), Transition(Action.NOTHING)),
        # the script completed the trial itself (current_trial().complete())
        (Outcome(exit_code=0, reported={"completed": True}), Transition(Action.DONE_BY_SCRIPT)),
        (Outcome(exit_code=None, stopped=True, reported={"completed": True}),
         Transition(Action.DONE_BY_SCRIPT)),
        # stopped by SIGTERM or a Spot notice: a preemption, whatever the exit code
        (Outcome(exit_code=-15, stopped=True), Transition(Action.REQUEUE, reason=STOP)),
        (Outcome(exit_code=0, stopped=True, regex_value=1.0),
         Transition(Action.REQUEUE, reason=STOP)),
        (Outcome(exit_code=None, stopped=True), Transition(Action.REQUEUE, reason=STOP)),
        # exited 0: pruned, else the regex's value, else the last reported one
        (Outcome(exit_code=0, reported={"prune": True, **LAST}), Transition(Action.PRUNE)),
        (Outcome(exit_code=0, regex_value=0.5, reported=LAST),
         Transition(Action.COMPLETE, values={"loss": 0.5})),
        (Outcome(exit_code=0, reported=LAST), Transition(Action.COMPLETE, values={"loss": 0.25})),
        (Outcome(exit_code=0, reported={}),
         Transition(Action.FAIL, reason="exited 0 but reported no 'loss'", retry=False)),
        # metrics, but not the scan's: the reason names both, the worker's log warns
        (Outcome(exit_code=0, reported={"last": {"val_loss": [1, 0.2], "val_acc": [1, 0.9]}}),
         Transition(Action.FAIL, reason="reported val_loss, val_acc; the scan's metric is loss",
                    retry=False, warning=MISMATCH)),
        # every other metric reported is kept beside the scan's (a diverged one is not)
        (Outcome(exit_code=0, reported={"last": {"loss": [7, 0.25], "acc": [7, 0.9],
                                                 "gnorm": [7, float("nan")]}}),
         Transition(Action.COMPLETE, values={"acc": 0.9, "loss": 0.25})),
        # a crash fails with the last lines of output (and may be retried)
        (Outcome(exit_code=1, regex_value=0.5, log_tail=[f"l{i}" for i in range(8)]),
         Transition(Action.FAIL, reason="exit code 1; last output:\nl3\nl4\nl5\nl6\nl7")),
        (Outcome(exit_code=-9, reported={"prune": True}),
         Transition(Action.FAIL, reason="exit code -9; last output:\n")),
    ],
)  # fmt: skip
def test_each_end_of_a_run_has_its_transition(outcome: Outcome, transition: Transition) -> None:
    assert transition_for(outcome, "loss", STOP) == transition


@pytest.mark.parametrize(
    "outcome, state, code",
    [
        (Outcome(exit_code=0), TrialState.COMPLETED, ExitCode.OK),
        (Outcome(exit_code=0), TrialState.PRUNED, ExitCode.OK),
        (Outcome(exit_code=1), TrialState.QUEUED, ExitCode.REQUEUED),
        (Outcome(exit_code=1), TrialState.FAILED, ExitCode.SCRIPT_FAILED),
        (Outcome(exit_code=-15, stopped=True), TrialState.QUEUED, ExitCode.INTERRUPTED),
        (Outcome(exit_code=-15, stopped=True), TrialState.FAILED, ExitCode.SCRIPT_FAILED),
        (Outcome(exit_code=-15, lease_lost=True), None, ExitCode.LEASE_LOST),
        (Outcome(exit_code=0), None, ExitCode.API_UNAVAILABLE),
    ],
)
def test_each_end_of_a_run_has_its_exit_code(
    outcome: Outcome, state: TrialState | None, code: ExitCode
) -> None:
    assert exit_code_for(outcome, state) is code


def fast_failure() -> Outcome:
    return Outcome(exit_code=1, seconds=0.5)


def test_a_run_of_fast_failures_stops_the_worker() -> None:
    guard = FlapGuard(window=3, seconds=10.0)
    assert [guard.flapping(fast_failure()) for _ in range(3)] == [False, False, True]


@pytest.mark.parametrize(
    "between",
    [
        Outcome(exit_code=0),  # a success
        Outcome(exit_code=None),  # never started
        Outcome(exit_code=-15, stopped=True),  # interrupted: not the script's fault
        Outcome(exit_code=-15, lease_lost=True),
        Outcome(exit_code=1, seconds=30.0),  # a slow failure breaks the run
    ],
)
def test_anything_but_a_fast_failure_breaks_the_run(between: Outcome) -> None:
    guard = FlapGuard(window=3, seconds=10.0)
    guard.flapping(fast_failure())
    guard.flapping(fast_failure())
    assert not guard.flapping(between)
    assert not guard.flapping(fast_failure())


def test_a_script_that_completes_with_a_number_but_reports_other_metrics_gets_a_warning() -> None:
    reported = {"completed": True, "last": {"val_loss": [3, 0.2]}}
    change = transition_for(Outcome(exit_code=0, reported=reported), "loss", STOP)
    assert change.action is Action.DONE_BY_SCRIPT and change.warning.startswith(
        "reported val_loss; the scan's metric is loss: pruning watches loss only"
    )
