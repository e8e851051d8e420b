"""DynamoDB reads of a report and of a complete as the scan grows (issue 12 item 6), in
moto, against the real ``DynamoDBTrialStore`` and ``ScanService``.

One scan (random search, median pruner, so every report runs the pruning decision) grows
to each size in turn: N finished trials of ``--steps`` steps. Then a new API process (a
store and a service of its own) runs ``--lanes`` workers, staggered: each claims a
trial, reports its steps through ``ScanService.report`` (one step a round, every lane in
turn), ends it through ``ScanService.complete`` and claims the next, so reports see other
trials end and begin between them. Every DynamoDB request of those reports and completes
is counted: read requests (``GetItem``, each page of a ``Query``, ``BatchGetItem``) and
read units (``bench/dynamodb_units.py``). Printed per report (the mean over the reports
after the process's first, and the largest), per complete, the process's first report
(it reads every finished curve once: the pruning inputs it keeps), and the full read a
report made before (every trial, every curve).

How the scan grows: each trial is claimed (``claim_next_trial``), its steps but the last
are written by the store's ``record_intermediate`` (what a report writes: the trial's
``GetItem`` and one ``TransactWriteItems``), its last step goes through
``ScanService.report`` (the pruning decision runs and is stored) and it ends through
``ScanService.complete``. Every item is written by our code; the shortcut is only that
99 of 100 steps skip the decision's reads (a whole report takes ~23 ms in moto: 200,000
of them would take 75 minutes). moto runs with ``bench/moto_at_scale.py`` (its answers
unchanged: ``--check`` runs small sizes with moto's own code compared request by
request).

    .venv/bin/python bench/report_reads.py [--trials 100 500 2000] [--steps 100]
        [--lanes 8] [--check]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "sdk"), str(ROOT / "bench")]

from dynamodb_units import Units, count_units  # noqa: E402
from moto_at_scale import at_scale  # noqa: E402

OWNER = "bench"
TABLE = "scanfleet-reads"
METRIC = "loss"
LEASE = 86_400.0  # no heartbeats here: a lease that outlasts the run (else a lane's trial
# is re-queued by the next claim and claimed by another lane)
CONFIG = {
    "strategy": "random",
    "metric": {"name": METRIC, "goal": "minimize"},
    "max_run": 100_000,
    "parameters": {"x": {"distribution": "uniform", "min": 0, "max": 1}},
    "early_stopping": {"median": {"n_startup_trials": 5, "n_warmup_steps": 1}},
}


@dataclass
class Reads:
    """Read requests and read units of each call of one kind."""

    requests: list[float] = field(default_factory=list)
    units: list[float] = field(default_factory=list)

    def mean(self, which: str) -> float:
        values = getattr(self, which)
        return sum(values) / len(values) if values else 0.0


@dataclass
class Row:
    trials: int
    steps: int
    reports: Reads
    completes: Reads
    first: Reads
    full: Reads
    fill_s: float
    fill_cpu_s: float
    measure_s: float
    rss_mb: float


def value(number: int, step: int, steps: int) -> float:
    """A curve better at every step than every earlier trial's: nothing is pruned, so
    every trial keeps all its steps."""
    return (steps - step) / (number + 1)


def grow(sizes: list[int], steps: int, lanes: int, *, verify: bool = False) -> Iterator[Row]:
    """One scan grown to each of ``sizes`` finished trials, measured at each."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config
    from moto import mock_aws
    from scanfleet.service import ScanService
    from scanfleet.store import DynamoDBTrialStore
    from scanfleet.store.dynamodb_layout import create_table

    for key, val in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
                     "AWS_DEFAULT_REGION": "us-east-1"}.items():  # fmt: skip
        os.environ.setdefault(key, val)
    monkeypatch = pytest.MonkeyPatch()
    with mock_aws(), at_scale(monkeypatch, verify=verify):
        # unsigned: moto does not check signatures, and SigV4 is a third of a request's time
        client = boto3.client("dynamodb", region_name="us-east-1",
                              config=Config(signature_version=UNSIGNED))  # fmt: skip
        create_table(client, TABLE)
        page = 7 if verify else None  # checking: every query in pages (their start keys)
        store = DynamoDBTrialStore(TABLE, client=client, page_size=page)
        service = ScanService(store, now=time.time)
        scan_id = service.create_scan("reads", CONFIG, owner=OWNER)[0].scan_id
        finished = 0
        for size in sizes:
            started, cpu = time.perf_counter(), time.process_time()
            while finished < size:
                fill_trial(service, store, scan_id, steps)
                finished += 1
            fill_s, fill_cpu_s = time.perf_counter() - started, time.process_time() - cpu
            if verify:  # a cancelled transaction (a duplicate): moto_at_scale puts it back
                first = store.list_trials(scan_id)[0]
                assert not service.add_trial(scan_id, first.params, owner=OWNER)[1]
            # a new API process: a store and a service of its own
            fresh_store = DynamoDBTrialStore(TABLE, client=client, page_size=page)
            fresh = ScanService(fresh_store, now=time.time)
            started = time.perf_counter()
            row, claimed = measure(fresh, scan_id, finished, steps, lanes)
            row.fill_s, row.fill_cpu_s = fill_s, fill_cpu_s
            row.measure_s = time.perf_counter() - started
            finished += claimed
            yield row


def fill_trial(service: Any, store: Any, scan_id: str, steps: int) -> None:
    trial = service.claim_next_trial(scan_id, "filler", owner=OWNER, lease_seconds=LEASE)
    for step in range(steps - 1):
        store.record_intermediate(trial.trial_id, METRIC, step, value(trial.number, step, steps))
    last = value(trial.number, steps - 1, steps)
    decision = service.report(trial.trial_id, METRIC, steps - 1, last, owner=OWNER)
    assert not decision.prune, decision
    service.complete(trial.trial_id, last, owner=OWNER)


def measure(service: Any, scan_id: str, trials: int, steps: int, lanes: int) -> tuple[Row, int]:
    """``lanes`` workers, staggered: lane i starts at round i × steps / lanes and claims
    its next trial as soon as one ends, for 2 × steps rounds; each round every lane
    reports one step (``ScanService.report``), a last step is followed by
    ``ScanService.complete``. So between two reports other trials end and begin, as in a
    running scan. The trials still running at the end are finished outside the count
    (every finished trial has all its steps). Returns the row and the trials claimed."""
    units, monkeypatch = Units(), pytest.MonkeyPatch()
    row = Row(trials, steps, Reads(), Reads(), Reads(), Reads(), 0.0, 0.0, 0.0, 0.0)
    running: dict[int, tuple[Any, int]] = {}  # lane: (trial, the step it reported last)
    claimed = 0
    with count_units(monkeypatch, units):
        for round_ in range(2 * steps):
            for lane in range(lanes):
                step = round_ - lane * steps // lanes
                if step < 0:
                    continue
                if step % steps == 0:
                    worker = f"lane-{lane}"
                    claim = service.claim_next_trial(scan_id, worker, owner=OWNER,
                                                     lease_seconds=LEASE)  # fmt: skip
                    running[lane] = (claim, -1)
                    claimed += 1
                trial, step = running[lane][0], step % steps
                into = row.reports if row.first.units else row.first
                _count(units, into, lambda t=trial, s=step: _report(service, t, s, steps))
                running[lane] = (trial, step)
                if step == steps - 1:
                    _count(units, row.completes, lambda t=trial: _complete(service, t, steps))
                    del running[lane]
        _count(units, row.full, lambda: _full_read(service.store, scan_id))
    for trial, reached in running.values():
        for step in range(reached + 1, steps - 1):
            service.store.record_intermediate(
                trial.trial_id, METRIC, step, value(trial.number, step, steps)
            )
        _report(service, trial, steps - 1, steps)
        _complete(service, trial, steps)
    row.rss_mb = peak_rss_mb()
    return row, claimed


def peak_rss_mb() -> float:
    """This process's peak resident memory: VmHWM (ru_maxrss would count, on Linux, the
    parent's memory before the exec of a child process such as this one)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return next(int(line.split()[1]) / 1024 for line in status.splitlines()
                if line.startswith("VmHWM:"))  # fmt: skip


def _report(service: Any, trial: Any, step: int, steps: int) -> None:
    at = value(trial.number, step, steps)
    assert not service.report(trial.trial_id, METRIC, step, at, owner=OWNER).prune


def _complete(service: Any, trial: Any, steps: int) -> None:
    service.complete(trial.trial_id, value(trial.number, steps - 1, steps), owner=OWNER)


def _count(units: Units, into: Reads, call: Callable[[], Any]) -> None:
    requests, read = units.read_request_total(), units.read_total()
    call()
    into.requests.append(units.read_request_total() - requests)
    into.units.append(units.read_total() - read)


def _full_read(store: Any, scan_id: str) -> None:
    """What a report read before: every trial and every curve of the scan."""
    store.list_trials(scan_id)
    store.intermediate_values(scan_id, METRIC)


HEADER = (
    f"{'finished':>9} | {'a report: requests':>18} {'units':>6} {'max':>5} | "
    f"{'a complete: requests':>20} {'units':>6} | {'1st report':>10} | {'full read':>9} | "
    f"{'fill s':>6} {'CPU s':>6} {'RSS MB':>6}"
)


def print_row(row: Row) -> None:
    r, c = row.reports, row.completes
    print(f"{row.trials:>9,} | {r.mean('requests'):>18.2f} {r.mean('units'):>6.2f} "
          f"{max(r.units):>5.1f} | {c.mean('requests'):>20.2f} {c.mean('units'):>6.2f} | "
          f"{row.first.mean('units'):>10,.1f} | {row.full.mean('units'):>9,.1f} | "
          f"{row.fill_s:>6.0f} {row.fill_cpu_s:>6.0f} {row.rss_mb:>6.0f}", flush=True)  # fmt: skip


def print_ratio(last: Row, first: Row) -> None:
    def ratio(which: Callable[[Row], float]) -> float:
        return which(last) / which(first) if which(first) else float("nan")

    print(f"{f'{last.trials:,}/{first.trials:,}':>9} | "
          f"{ratio(lambda r: r.reports.mean('requests')):>18.2f} "
          f"{ratio(lambda r: r.reports.mean('units')):>6.2f} "
          f"{ratio(lambda r: max(r.reports.units)):>5.2f} | "
          f"{ratio(lambda r: r.completes.mean('requests')):>20.2f} "
          f"{ratio(lambda r: r.completes.mean('units')):>6.2f} | "
          f"{ratio(lambda r: r.first.mean('units')):>10.2f} | "
          f"{ratio(lambda r: r.full.mean('units')):>9.2f} |")  # fmt: skip


def print_reads_per_report(
    trials: tuple[int, ...] = (100, 500, 2_000), steps: int = 100, lanes: int = 8,
    *, verify: bool = False,
) -> list[Row]:  # fmt: skip
    sizes = sorted(trials)
    reports = sum(2 * steps - lane * steps // lanes for lane in range(lanes))
    print(f"\nDynamoDB reads in moto, median pruner: one scan grown to N finished trials × "
          f"{steps} steps; then a new API process runs {lanes} lanes, staggered, each "
          f"claiming a trial, reporting its {steps} steps (ScanService.report) and "
          f"completing it (ScanService.complete), then the next, for {2 * steps} rounds. "
          f"A report: the mean over the {reports - 1} reports after the process's first "
          f"(max: the largest); a complete: the mean over {lanes + 1}; 1st report: the "
          f"process's first (it reads every finished curve once); full read: every trial "
          f"and curve, what a report read before. Units: read capacity units (4 KB, half "
          f"when eventually consistent)."
          + (" Checking moto_at_scale against moto's own code on every request." if verify
             else ""))  # fmt: skip
    print(HEADER)
    print("-" * len(HEADER))
    started = time.perf_counter()
    rows = []
    for row in grow(sizes, steps, lanes, verify=verify):
        print_row(row)
        rows.append(row)
    if len(rows) > 1:
        print_ratio(rows[-1], rows[0])
    command = (f".venv/bin/python bench/report_reads.py --trials {' '.join(map(str, sizes))} "
               f"--steps {steps} --lanes {lanes}" + (" --check" if verify else ""))  # fmt: skip
    print(
        f"({time.perf_counter() - started:.0f} s in all; fill s, CPU s: wall-clock and CPU "
        f"seconds to grow the scan to N from the size before; RSS MB: this process's peak "
        f"so far)\ncommand: {command}"
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[100, 500, 2_000])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--lanes", type=int, default=8)
    parser.add_argument("--check", action="store_true", help="small sizes, moto's own code "
                        "compared on every request (default sizes 10 30, 10 steps)")  # fmt: skip
    args = parser.parse_args()
    if args.check:
        trials = args.trials if args.trials != [100, 500, 2_000] else [10, 30]
        steps = args.steps if args.steps != 100 else 10
        print_reads_per_report(tuple(trials), steps, args.lanes, verify=True)
        return
    print_reads_per_report(tuple(args.trials), args.steps, args.lanes)


if __name__ == "__main__":
    main()
