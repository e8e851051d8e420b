"""What ``scanfleet local run`` says about failed trials (docs/troubleshooting.md): a
line for each failure as it happens, with the path of the trial's log, the last reasons
when every worker gave up, and a summary of the reasons at the end."""

from __future__ import annotations

from pathlib import Path

from scanfleet.client import reason_line
from scanfleet.records import TrialRecord, TrialState

FAILURES_SHOWN = 3  # the last failure reasons repeated when every worker gave up


class FailureNotes:
    """What a local run says about failed trials: a line for each failure as it happens
    (a trial that failed for good, or an attempt that failed and is retried) with the
    path of the trial's log, and a summary of the reasons at the end."""

    def __init__(self, logs: Path, trials: list[TrialRecord]) -> None:
        self.logs = logs
        self._told = {t.trial_id: _failures_of(t) for t in trials}  # those before this run
        self._last: list[str] = []  # the reasons told, in order

    def new_lines(self, trials: list[TrialRecord]) -> list[str]:
        """A line for each failure among ``trials`` not told yet."""
        new = [t for t in trials if _failures_of(t) > self._told.get(t.trial_id, 0)]
        lines = []
        for trial in sorted(new, key=lambda t: t.finished_at or t.created_at):
            self._told[trial.trial_id] = _failures_of(trial)
            reason = reason_line(trial.failure_reason) or "no reason recorded"
            self._last.append(f"trial {trial.number}: {reason}")
            retried = f", retrying (error {trial.errors})"  # its attempt may run again already
            what = "failed" + ("" if trial.state is TrialState.FAILED else retried)
            lines.append(f"trial {trial.number} {what}: {reason} (log: {self.log_of(trial)})")
        return lines

    def log_of(self, trial: TrialRecord) -> Path:
        return self.logs / f"{trial.trial_id}.log"

    def last_words(self) -> str:
        """The last reasons told, for the line saying the workers gave up."""
        if not self._last:
            return ""
        return "their trials kept failing; the last reasons:\n" + "\n".join(
            f"  {line}" for line in self._last[-FAILURES_SHOWN:]
        )

    def summary(self, trials: list[TrialRecord]) -> str:
        """The failed trials' reasons, the commonest first, with a trial's log for each
        ("" when no trial failed)."""
        failed = [t for t in trials if t.state is TrialState.FAILED]
        if not failed:
            return ""
        by_reason: dict[str, list[TrialRecord]] = {}
        for trial in failed:
            by_reason.setdefault(reason_line(trial.failure_reason) or "no reason", []).append(trial)
        lines = [f"{len(failed)} trial(s) failed:"]
        for reason, group in sorted(by_reason.items(), key=lambda kv: -len(kv[1])):
            first = group[0]
            lines.append(
                f"  {len(group)}x {reason}\n     e.g. trial {first.number}: {self.log_of(first)}"
            )
        return "\n".join(lines)


def _failures_of(trial: TrialRecord) -> int:
    """Failures of ``trial`` so far: its failed attempts that were retried, and its end."""
    return trial.errors + (trial.state is TrialState.FAILED)
