"""``scanfleet.optimize``: a scan of a Python function, run in this process.

For objectives that take milliseconds to seconds, where starting a Python process per
trial (``local run``) costs more than the work. The trials are the scan's as everywhere
(the same strategies, pruners, leases and error budgets, the same results folder and
report), run by ``n_jobs`` threads of this process against the embedded local service
(SQLite in ``state``, no server) or a remote API (``url``)::

    def objective(trial):
        for step in range(1, 10):
            loss = (trial.params["x"] - 2) ** 2 + 1 / step
            if trial.report("loss", loss, step):
                return None          # pruned: the trial ends PRUNED
        return loss                  # or {"loss": ..., "acc": ...}; raise to fail it

    scanfleet.optimize(objective, "scan.yaml", name="quadratic", n_jobs=4)

Running it again with the same name and config resumes the scan (Optuna's
``load_if_exists``): finished trials stay, the rest run. See docs/modes.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import socket
import threading
import traceback
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from scanfleet.client.heartbeat import heartbeat_interval
from scanfleet.config import ScanConfig, load_config
from scanfleet.errors import APIError, ConflictError, InvalidRequestError, ScanFinishedError
from scanfleet.local._optimize_backends import EmbeddedBackend, RemoteBackend, ScanBackend
from scanfleet.local.results import ResultsWriter, results_folder
from scanfleet.records import TrialRecord
from scanfleet.wire import ScanSummary

log = logging.getLogger("scanfleet.optimize")

EMPTY_CLAIM_WAIT_S = 0.05  # nothing free now (the last trials run on other threads)
FAILURE_TRACEBACK_LINES = 12  # lines of the objective's traceback kept in a failure reason

Objective = Callable[["OptimizeTrial"], "float | Mapping[str, float] | None"]


class OptimizeTrial:
    """What the objective gets: ``params``, ``report(name, value, step)`` (True when the
    pruner says to stop), ``checkpoint_dir`` (a folder kept per trial across attempts)."""

    def __init__(self, record: TrialRecord, backend: ScanBackend, checkpoints: Path) -> None:
        self.record = record
        self._backend = backend
        self._checkpoints = checkpoints
        self.pruned = False
        self.last_reported: dict[str, tuple[int, float]] = {}

    @property
    def id(self) -> str:
        return self.record.trial_id

    @property
    def number(self) -> int:
        return self.record.number

    @property
    def attempt(self) -> int:
        return self.record.attempt

    @property
    def params(self) -> dict[str, Any]:
        return self.record.params

    @property
    def checkpoint_dir(self) -> Path:
        folder = self._checkpoints / self.id
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def report(self, name: str, value: float, step: int) -> bool:
        """Store an intermediate value at ``step``; True when the trial should stop now
        (return from the objective then: the trial ends PRUNED)."""
        self.last_reported[name] = (int(step), float(value))
        if self._backend.report(self.record, name, int(step), float(value)):
            self.pruned = True
        return self.pruned

    def should_prune(self) -> bool:
        return self.pruned


def optimize(
    objective: Objective,
    config: ScanConfig | Mapping[str, Any] | str | Path,
    *,
    name: str | None = None,
    n_jobs: int = 1,
    state: str | Path | None = None,
    url: str | None = None,
    out_dir: str | Path | None = "scanfleet-results",
) -> ScanSummary:
    """Run the scan of ``config`` (a dict, a ScanConfig, or YAML/JSON path or text; its
    ``command``/``script`` are not used) with ``objective`` as each trial's work.

    Args:
        objective: called with an ``OptimizeTrial`` in a worker thread; returns the
            metric's value (a dict for several metrics), or returns after a ``report``
            that said to prune. Raising fails the trial with the error as its reason (it
            is retried within the scan's error budget, as a script's failure is).
        name: the scan's name (default: the objective's); the same name and config again
            resume the scan.
        n_jobs: trials run at once, one thread each.
        state: the local state folder (default ``.scanfleet``, as ``local run``'s).
        url: a scanfleet API to keep the scan in instead (token: ``SCANFLEET_TOKEN``).
        out_dir: where ``<name>/`` gets trials.csv, best.json and report.html (None: none).

    Returns:
        The scan's summary afterwards (``best_trial``, ``counts``, ``best_trials``).

    Raises:
        ConfigError: the config is invalid. ValueError: ``n_jobs`` < 1.
    """
    if n_jobs < 1:
        raise ValueError(f"n_jobs must be 1 or more, got {n_jobs}")
    scan_config = load_config(config)
    scan_name = name or getattr(objective, "__name__", None) or "optimize"
    state_dir = Path(state) if state is not None else Path(".scanfleet")
    backend: ScanBackend = RemoteBackend(url) if url else EmbeddedBackend(state_dir)
    try:
        scan_id, created = backend.open_scan(scan_name, scan_config, _token(scan_name, config))
        log.info("scan %s (%s): %s", scan_id, scan_name, "created" if created else "resumed")
        requeued = _requeue_orphans(backend)
        if requeued:
            log.info("scan %s: %d trials of a run that stopped went back to the queue",
                     scan_id, requeued)  # fmt: skip
        run = _Run(objective, backend, scan_config, state_dir / "checkpoints" / "optimize")
        run.run(n_jobs)
        summary = backend.summary()
        if out_dir is not None:
            _write_results(backend, scan_config, Path(out_dir), scan_name, summary)
        return summary
    finally:
        backend.close()


def _requeue_orphans(backend: ScanBackend) -> int:
    """Put back in the queue the trials RUNNING under an ``optimize`` of this machine whose
    process is gone (a crash, ``kill -9``); others wait for their lease to run out."""
    orphans = [t for t in backend.running() if _dead_worker(t.worker_id or "")]
    for trial in orphans:
        with contextlib.suppress(APIError):  # finished or taken meanwhile
            backend.fail(trial, "its optimize process is gone", retry=True, preempted=True)
    return len(orphans)


def worker_prefix(pid: int | None = None) -> str:
    """``optimize-<host>-<pid>``: the workers of an ``optimize`` process (its threads)."""
    return f"optimize-{socket.gethostname()}-{os.getpid() if pid is None else pid}"


def _dead_worker(worker_id: str) -> bool:
    host_prefix = f"optimize-{socket.gethostname()}-"
    if not worker_id.startswith(host_prefix):
        return False
    pid = worker_id[len(host_prefix) :].partition("-")[0]
    if not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _token(name: str, config: Any) -> str:
    """The same name and config resume the same scan (an edited config makes a new one)."""
    if isinstance(config, ScanConfig):
        text = config.model_dump_json(exclude_unset=True)
    elif isinstance(config, Mapping):
        text = json.dumps(config, sort_keys=True, default=str)
    elif isinstance(config, Path) or (isinstance(config, str) and Path(config).is_file()):
        text = Path(config).read_text()
    else:
        text = str(config)
    return "optimize-" + hashlib.sha256(f"{name}\n{text}".encode()).hexdigest()[:24]


def _write_results(
    backend: ScanBackend, config: ScanConfig, out_dir: Path, name: str, summary: ScanSummary
) -> Path:
    """trials.csv, best.json and report.html, as ``local run`` writes them."""
    folder, _ = results_folder(out_dir, name, summary.scan.scan_id)
    results = ResultsWriter(folder, config, summary.scan.scan_id)
    results.append(backend.trials())
    results.write_best(
        summary.scan.model_dump(mode="json"),
        summary.best_trial,
        best_trials=summary.best_trials,
        seeds=summary.seeds,
    )
    log.info(results.write_report(backend.report_data()))
    return folder


class _Run:
    """The threads of one ``optimize`` call and what they share."""

    def __init__(
        self, objective: Objective, backend: ScanBackend, config: ScanConfig, checkpoints: Path
    ) -> None:
        self.objective = objective
        self.backend = backend
        self.metric = config.metric.name
        self.checkpoints = checkpoints
        self.leases = _LeaseKeeper(backend, heartbeat_interval(config.execution.lease_seconds))
        self.stop = threading.Event()
        self.error: BaseException | None = None  # what stopped a thread (raised at the end)
        self.prefix = f"{worker_prefix()}-{uuid.uuid4().hex[:4]}"

    def run(self, n_jobs: int) -> None:
        if n_jobs == 1:
            self.work(f"{self.prefix}-0")  # no thread: a traceback stays where it was raised
        else:
            threads = [
                threading.Thread(target=self.work, args=(f"{self.prefix}-{i}",), daemon=True)
                for i in range(n_jobs)
            ]
            for thread in threads:
                thread.start()
            try:
                for thread in threads:
                    thread.join()
            except KeyboardInterrupt:
                self.stop.set()
                raise
        self.leases.close()
        if self.error is not None:
            raise self.error

    def work(self, worker_id: str) -> None:
        """Claim, run, settle, until the scan is finished (or another thread failed)."""
        try:
            while not self.stop.is_set():
                try:
                    record = self.backend.claim(worker_id)
                except ScanFinishedError:
                    return
                if record is None:
                    self.stop.wait(EMPTY_CLAIM_WAIT_S)
                    continue
                self.run_trial(record)
        except BaseException as exc:  # the backend failed, or Ctrl-C: every thread stops
            self.stop.set()
            if self.error is None:
                self.error = exc
            if threading.current_thread() is threading.main_thread():
                raise

    def run_trial(self, record: TrialRecord) -> None:
        trial = OptimizeTrial(record, self.backend, self.checkpoints)
        self.leases.hold(record)
        try:
            value = self.objective(trial)
        except Exception as exc:
            reason = _failure_reason(exc)
            self._end(record, lambda: self._fail(record, reason, retry=True))
            return
        except BaseException:  # KeyboardInterrupt, SystemExit: back to the queue
            self._end(record, lambda: self._fail(record, "interrupted", preempted=True))
            raise
        self._end(record, lambda: self._settle(trial, value))

    def _end(self, record: TrialRecord, settle: Callable[[], None]) -> None:
        lost = self.leases.release(record)
        if lost is not None:
            log.warning("trial %s: %s; its result is not recorded", record.trial_id, lost)
            return
        try:
            settle()
        except ConflictError as exc:  # finished or re-queued meanwhile (a cancelled scan)
            log.warning("trial %s: %s", record.trial_id, exc)

    def _settle(self, trial: OptimizeTrial, value: Any) -> None:
        record = trial.record
        if trial.pruned:
            self.backend.prune(record)
            return
        if value is None:
            if self.metric not in trial.last_reported:
                reason = f"the objective returned None and reported no {self.metric!r}"
                self._fail(record, reason, retry=False)
                return
            value = trial.last_reported[self.metric][1]
        values = _values(value, self.metric)
        if isinstance(values, str):
            self._fail(record, values, retry=False)
            return
        try:
            self.backend.complete(record, values)
        except InvalidRequestError as exc:  # the metric missing, or not a number
            self._fail(record, f"the objective's result was refused: {exc.api_message}",
                       retry=False)  # fmt: skip

    def _fail(
        self, record: TrialRecord, reason: str, *, retry: bool = True, preempted: bool = False
    ) -> None:
        self.backend.fail(record, reason, retry=retry, preempted=preempted)


def _values(value: Any, metric: str) -> dict[str, float] | str:
    """The metrics of a returned value; a text saying what is wrong with it otherwise."""
    try:
        if isinstance(value, Mapping):
            return {str(k): float(v) for k, v in value.items()}
        return {metric: float(value)}
    except (TypeError, ValueError):
        return f"the objective returned {value!r}: not a number nor a dict of numbers"


def _failure_reason(exc: BaseException) -> str:
    lines = "".join(traceback.format_exception(exc)).rstrip().splitlines()
    tail = "\n".join(lines[-FAILURE_TRACEBACK_LINES:])
    return f"the objective raised {type(exc).__name__}: {exc}\n{tail}"


class _LeaseKeeper:
    """Renews the leases of the trials running in this process, from one thread that
    starts with the first trial still running after ``interval`` seconds."""

    def __init__(self, backend: ScanBackend, interval: float) -> None:
        self.backend = backend
        self.interval = interval
        self._held: dict[str, TrialRecord] = {}
        self._lost: dict[str, str] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def hold(self, record: TrialRecord) -> None:
        with self._lock:
            self._held[record.trial_id] = record
            if self._thread is None:
                self._thread = threading.Thread(target=self._beat, daemon=True,
                                                name="scanfleet-optimize-leases")  # fmt: skip
                self._thread.start()

    def release(self, record: TrialRecord) -> str | None:
        """Stop renewing; why the lease was lost meanwhile (None: it was not)."""
        with self._lock:
            self._held.pop(record.trial_id, None)
            return self._lost.pop(record.trial_id, None)

    def close(self) -> None:
        self._closed.set()

    def _beat(self) -> None:
        while not self._closed.wait(self.interval):
            with self._lock:
                held = list(self._held.values())
            for record in held:
                try:
                    self.backend.heartbeat(record)
                except ConflictError as exc:  # lease lost, or the trial was finished
                    with self._lock:
                        if self._held.pop(record.trial_id, None) is not None:
                            self._lost[record.trial_id] = str(exc)
                except Exception as exc:  # the API is unreachable now: the next beat
                    log.warning("heartbeat of %s failed: %s", record.trial_id, exc)
