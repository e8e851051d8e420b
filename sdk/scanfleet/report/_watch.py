"""``scanfleet scans watch``: a live terminal table of a scan — counts by state, the best
trial so far, the running trials with their last reported step and value, the last
failed trials with their reasons, the workers seen, and an ETA from the median trial
time — refreshed until the scan ends."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scanfleet.client import reason_line
from scanfleet.display import format_params, format_value
from scanfleet.records import ScanRecord, TrialRecord, TrialState

if TYPE_CHECKING:
    from rich.console import Group

    from scanfleet.client import Scan

FINISHED = (TrialState.COMPLETED, TrialState.PRUNED, TrialState.FAILED)
FAILURES_SHOWN = 5  # the "last failures" panel: this many failed trials, the latest first


@dataclass
class WatchView:
    """One look at a scan (everything a frame shows)."""

    scan: ScanRecord
    counts: dict[TrialState, int]
    planned: int | None
    best: TrialRecord | None
    running: list[TrialRecord]
    last_reports: dict[str, tuple[int, float]]  # running trial id → (last step, value)
    workers: list[str]
    median_s: float | None  # of the finished trials that ran to the end or were pruned
    failures: list[TrialRecord] = field(default_factory=list)  # the last failed, latest first
    taken_at: float = field(default_factory=time.time)

    @classmethod
    def fetch(cls, scan: Scan) -> WatchView:
        """One look through the API (local or cloud)."""
        return ScanWatcher(scan).look()

    def eta_s(self) -> float | None:
        """Trials left × median trial time ÷ trials running at once (None: unknown)."""
        if self.planned is None or self.median_s is None:
            return None
        finished = sum(self.counts.get(s, 0) for s in FINISHED)
        left = max(self.planned - finished, 0)
        parallel = max(self.counts.get(TrialState.RUNNING, 0), 1)
        return math.ceil(left / parallel) * self.median_s


class ScanWatcher:
    """Looks at one scan again and again, reading only what may have changed.

    Finished trials never change, so the trials up to the first unfinished one (by number)
    are read once: their durations and workers are kept, and each later look lists the
    trials after them (``settled``). Trials mostly finish in the order they started, so a
    look reads the recent trials, not the whole scan."""

    def __init__(self, scan: Scan) -> None:
        self.scan = scan
        self.settled = -1  # every trial numbered up to this one is finished
        self._durations: list[float] = []  # of the settled trials that completed or pruned
        self._workers: set[str] = set()
        self._failures: dict[str, TrialRecord] = {}  # the last FAILURES_SHOWN failed trials

    def _saw_failure(self, trial: TrialRecord) -> None:
        self._failures[trial.trial_id] = trial
        if len(self._failures) > FAILURES_SHOWN:
            oldest = min(self._failures.values(), key=_finished_at)
            del self._failures[oldest.trial_id]

    def look(self) -> WatchView:
        best = self.scan.best_trial()  # refreshes the summary too
        durations: list[float] = []  # of finished trials after the settled ones
        running: list[TrialRecord] = []
        contiguous = True
        for trial in self.scan.iter_records(after=self.settled):
            if trial.worker_id:
                self._workers.add(trial.worker_id)
            if trial.state is TrialState.FAILED:
                self._saw_failure(trial)
            finished = trial.state.is_finished()
            contiguous = contiguous and finished
            ran = trial.state in (TrialState.COMPLETED, TrialState.PRUNED)
            if contiguous:
                self.settled = trial.number
                if ran:
                    self._durations.append(trial.duration_s)
            elif ran:
                durations.append(trial.duration_s)
            elif trial.state is TrialState.RUNNING:
                running.append(trial)
        curves = self.scan.intermediate_values(state=TrialState.RUNNING) if running else {}
        durations += self._durations
        return WatchView(
            scan=self.scan.record,
            counts=dict(self.scan.counts),
            planned=self.scan.planned_trials,
            best=best.record if best is not None else None,
            running=running,
            last_reports={tid: (max(c), c[max(c)]) for tid, c in curves.items() if c},
            workers=sorted(self._workers),
            median_s=statistics.median(durations) if durations else None,
            failures=sorted(self._failures.values(), key=_finished_at, reverse=True),
        )


def render_frame(view: WatchView) -> Group:
    """The frame of ``view`` as rich renderables."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    scan = view.scan
    metric = str(scan.config["metric"]["name"])
    title = Text.assemble(
        (f"{scan.name} ", "bold"), f"{scan.scan_id}  ", (scan.status.value, _status_style(scan))
    )
    counts = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for state in TrialState:
        counts.add_column(state.value.lower(), justify="right")
    counts.add_column("planned", justify="right")
    counts.add_column("ETA", justify="right")
    counts.add_row(
        *(str(view.counts.get(s, 0)) for s in TrialState),
        str(view.planned) if view.planned is not None else "?",
        _duration(view.eta_s()) if not scan.status.is_finished() else "done",
    )
    lines: list[Any] = [title, counts]
    if view.best is not None:
        value = view.best.values.get(metric)
        lines.append(
            Text(
                f"best {metric}={format_value(value)}  trial {view.best.number}  "
                f"{_params(view.best)}"
            )
        )
    else:
        lines.append(Text(f"best {metric}: none yet", style="dim"))
    lines.append(_running_table(view, metric))
    if view.failures:
        lines.append(_failures_table(view))
    median = _duration(view.median_s) if view.median_s is not None else "?"
    lines.append(
        Text(f"workers seen ({len(view.workers)}): {', '.join(view.workers) or '-'}", style="dim")
    )
    lines.append(Text(f"median trial time {median}", style="dim"))
    return Group(*lines)


def _running_table(view: WatchView, metric: str) -> Any:
    from rich.table import Table

    table = Table(title=f"running ({len(view.running)})", title_justify="left", expand=False)
    for name in ("trial", "worker", "attempt", "step", f"last {metric}", "for", "params"):
        table.add_column(name, overflow="fold")
    for trial in view.running:
        step, value = view.last_reports.get(trial.trial_id, (trial.last_step, None))
        since = view.taken_at - trial.started_at if trial.started_at else None
        table.add_row(
            str(trial.number),
            trial.worker_id or "-",
            str(trial.attempt),
            "-" if step is None else str(step),
            format_value(value),
            _duration(since),
            _params(trial),
        )
    return table


def _failures_table(view: WatchView) -> Any:
    """The last failed trials, the latest first, each with its reason on one line."""
    from rich.table import Table

    failed = view.counts.get(TrialState.FAILED, 0)
    table = Table(
        title=f"last failures ({len(view.failures)} of {failed})",
        title_justify="left",
        title_style="red",
        expand=False,
    )
    for name in ("trial", "worker", "attempt", "reason"):
        table.add_column(name, overflow="fold")
    for trial in view.failures:
        table.add_row(
            str(trial.number),
            trial.worker_id or "-",
            str(trial.attempt),
            reason_line(trial.failure_reason) or "-",
        )
    return table


def watch(
    scan: Scan,
    *,
    interval: float = 2.0,
    console: Any = None,
    sleep: Callable[[float], None] = time.sleep,
) -> WatchView:
    """Show the live frame until the scan is finished; returns the last view."""
    from rich.live import Live

    watcher = ScanWatcher(scan)
    view = watcher.look()
    with Live(render_frame(view), console=console, auto_refresh=False) as live:
        while not view.scan.status.is_finished():
            sleep(interval)
            view = watcher.look()
            live.update(render_frame(view), refresh=True)
    return view


def _finished_at(trial: TrialRecord) -> float:
    return trial.finished_at or 0.0


def _params(trial: TrialRecord) -> str:
    return format_params(trial.params)


def _status_style(scan: ScanRecord) -> str:
    return {"RUNNING": "cyan", "COMPLETED": "green"}.get(scan.status.value, "red")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"
