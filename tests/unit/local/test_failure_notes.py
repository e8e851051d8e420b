"""What `scanfleet local run` prints about failed trials: a line per failure as it
happens (with the trial's log), the last reasons when the workers gave up, a summary."""

from __future__ import annotations

from pathlib import Path

from scanfleet.local.failure_notes import FailureNotes
from scanfleet.records import TrialRecord, TrialState

CRASH = "exit code 1; last output:\nTraceback (most recent call last):\nValueError: bad lr"


def trial(n: int, state: TrialState, errors: int = 0, reason: str | None = None) -> TrialRecord:
    return TrialRecord(
        scan_id="sc1", trial_id=f"sc1-{n}", number=n, params={}, state=state, attempt=errors + 1,
        errors=errors, failure_reason=reason, finished_at=float(n) if state.is_finished() else None,
    )  # fmt: skip


def test_each_failure_is_told_once_with_its_log_and_earlier_ones_are_not(tmp_path: Path) -> None:
    before = trial(0, TrialState.FAILED, reason="from an earlier run")
    notes = FailureNotes(tmp_path / "logs", [before])
    retried = trial(1, TrialState.QUEUED, errors=1, reason=CRASH)
    assert notes.new_lines([before, retried]) == [
        "trial 1 failed, retrying (error 1): exit code 1; last output: ... ValueError: bad lr"
        f" (log: {tmp_path / 'logs' / 'sc1-1.log'})"
    ]
    assert notes.new_lines([before, retried]) == []  # told already
    failed = trial(1, TrialState.FAILED, errors=1, reason=CRASH + " (error budget spent)")
    assert notes.new_lines([before, failed]) == [
        "trial 1 failed: exit code 1; last output: ... ValueError: bad lr (error budget spent)"
        f" (log: {tmp_path / 'logs' / 'sc1-1.log'})"
    ]
    assert notes.last_words().startswith("their trials kept failing; the last reasons:\n")
    assert "from an earlier run" not in notes.last_words()


def test_the_summary_groups_the_reasons_commonest_first(tmp_path: Path) -> None:
    mismatch = "reported val_loss; the scan's metric is loss"
    trials = [
        trial(0, TrialState.FAILED, reason=mismatch),
        trial(1, TrialState.COMPLETED),
        trial(2, TrialState.FAILED, reason=CRASH),
        trial(3, TrialState.FAILED, reason=mismatch),
    ]
    notes = FailureNotes(tmp_path, [])
    assert notes.summary(trials).splitlines() == [
        "3 trial(s) failed:",
        f"  2x {mismatch}",
        f"     e.g. trial 0: {tmp_path / 'sc1-0.log'}",
        "  1x exit code 1; last output: ... ValueError: bad lr",
        f"     e.g. trial 2: {tmp_path / 'sc1-2.log'}",
    ]
    assert notes.summary(trials[1:2]) == ""
