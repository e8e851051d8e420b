"""The agent loop: claim → run the command under a heartbeat → complete, prune or fail →
again, until the scan is finished. The same loop serves ``scanfleet worker``, the local
run's workers and EC2 user-data."""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanfleet import names
from scanfleet.client import (
    APIConnectionError,
    APIError,
    Client,
    ConflictError,
    GoneError,
    InternalServerError,
    Scan,
    Trial,
)
from scanfleet.config import ScanConfig

log = logging.getLogger("scanfleet.agent")

_LOG_TAIL_LINES = 20


@dataclass
class Outcome:
    """How one run of the command ended."""

    exit_code: int | None
    regex_value: float | None = None
    reported: dict[str, Any] = field(default_factory=dict)
    lease_lost: bool = False
    stopped: bool = False
    log_tail: list[str] = field(default_factory=list)
    seconds: float = 0.0


def build_command(config: ScanConfig, params: dict[str, Any]) -> list[str]:
    """The scan's command (or ``python <script>``) with params as ``--name=value`` flags.
    A leading ``python``/``python3`` is this interpreter, so the worker's environment runs
    the script."""
    if config.command:
        argv = list(config.command)
    elif config.script:
        argv = ["python", config.script]
    else:
        raise ValueError("the scan has neither 'command' nor 'script' to run")
    if argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    return argv + [f"--{name}={_flag_value(value)}" for name, value in params.items()]


def _flag_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


def metric_from_line(pattern: re.Pattern[str], line: str) -> float | None:
    """The metric in one line of output: the regex's first group, or its whole match."""
    found = None
    for match in pattern.finditer(line):
        found = match.group(1) if pattern.groups else match.group(0)
    if found is None:
        return None
    try:
        return float(found)
    except ValueError:
        number = re.search(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", found)
        return float(number.group(0)) if number else None


def _die_with_parent() -> None:
    """Children die when the worker dies, even by SIGKILL (Linux)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Agent:
    """One worker. Intervals are attributes so tests can shrink them."""

    poll_interval = 1.0
    heartbeat_interval: float | None = None  # default: a third of the lease
    grace_period = 10.0  # SIGTERM → SIGKILL for the child
    flap_window = 5  # this many trials in a row ...
    flap_seconds = 10.0  # ... each failing faster than this stop the worker

    def __init__(
        self,
        client: Client,
        scan_id: str,
        *,
        worker_id: str | None = None,
        logs_dir: Path | str = "scanfleet-logs",
        workdir: Path | str | None = None,
        max_trials: int | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.client = client
        self.scan_id = scan_id
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:4]}"
        self.logs_dir = Path(logs_dir)
        self.workdir = Path(workdir) if workdir else Path.cwd()
        self.max_trials = max_trials
        self.extra_env = extra_env or {}
        self._stop = threading.Event()
        self._child: subprocess.Popen[bytes] | None = None
        self._recent_failures: deque[float] = deque(maxlen=self.flap_window)
        self.trials_run = 0

    # ---- the loop ----------------------------------------------------------------------

    def run(self) -> int:
        """Work until the scan is finished or we are told to stop. Returns an exit code."""
        self._install_signal_handlers()
        scan = self.client.get_scan(self.scan_id)
        config = scan.config
        pattern = re.compile(config.metric.regex) if config.metric.regex else None
        while not self._stop.is_set():
            if self.max_trials is not None and self.trials_run >= self.max_trials:
                return names.ExitCode.OK
            try:
                trial = self._claim(scan)
            except GoneError:
                return names.ExitCode.OK
            if trial is None:
                self._stop.wait(self.poll_interval)
                continue
            outcome = self.run_trial(trial, config, pattern)
            self.trials_run += 1
            self.settle(trial, config, outcome)
            if self._flapping(outcome):
                log.error(
                    "worker %s: %d trials in a row failed fast; stopping",
                    self.worker_id,
                    self.flap_window,
                )
                return names.ExitCode.SCRIPT_FAILED
        return names.ExitCode.INTERRUPTED

    def stop(self) -> None:
        self._stop.set()
        self._terminate_child()

    def _claim(self, scan: Scan) -> Trial | None:
        try:
            return scan.next_trial(self.worker_id)
        except (APIConnectionError, InternalServerError) as exc:
            log.warning("claim failed (%s); retrying", exc)
            return None

    # ---- one trial ---------------------------------------------------------------------

    def run_trial(
        self, trial: Trial, config: ScanConfig, pattern: re.Pattern[str] | None
    ) -> Outcome:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.logs_dir / f"{trial.id}.log"
        result_file = self.logs_dir / f".{trial.id}.{trial.attempt}.result.json"
        env = self._child_env(trial, result_file)
        argv = build_command(config, trial.params)
        start = time.monotonic()
        outcome = Outcome(exit_code=None)
        tail: deque[str] = deque(maxlen=_LOG_TAIL_LINES)
        lost = threading.Event()
        with log_path.open("a") as log_file:
            log_file.write(f"=== attempt {trial.attempt} on {self.worker_id}: {' '.join(argv)}\n")
            log_file.flush()
            self._child = subprocess.Popen(
                argv,
                cwd=self.workdir,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
            beat = threading.Thread(target=self._heartbeat, args=(trial, config, lost), daemon=True)
            beat.start()
            assert self._child.stdout is not None
            for raw in self._child.stdout:
                line = raw.decode(errors="replace")
                log_file.write(line)
                tail.append(line.rstrip("\n"))
                if pattern is not None:
                    value = metric_from_line(pattern, line)
                    if value is not None:
                        outcome.regex_value = value
            outcome.exit_code = self._child.wait()
            self._child = None
        lost_flag = lost.is_set()
        lost.set()  # stops the heartbeat thread
        beat.join(timeout=5)
        outcome.lease_lost = lost_flag
        outcome.stopped = self._stop.is_set()
        outcome.log_tail = list(tail)
        outcome.seconds = time.monotonic() - start
        if result_file.exists():
            with contextlib.suppress(ValueError):
                outcome.reported = json.loads(result_file.read_text())
            result_file.unlink()
        return outcome

    def settle(self, trial: Trial, config: ScanConfig, outcome: Outcome) -> None:
        """Complete, prune or fail the trial from how its run ended."""
        if outcome.lease_lost:
            log.warning("trial %s: lease lost; another worker has it", trial.id)
            return
        metric = config.metric.name
        try:
            if outcome.stopped:
                trial.fail("worker stopped", preempted=True)
            elif outcome.reported.get("completed"):
                return  # the script completed the trial itself
            elif outcome.exit_code == 0 and outcome.reported.get("prune"):
                trial.prune()
            elif outcome.exit_code == 0 and outcome.regex_value is not None:
                trial.complete({metric: outcome.regex_value})
            elif outcome.exit_code == 0 and metric in outcome.reported.get("last", {}):
                trial.complete({metric: outcome.reported["last"][metric][1]})
            elif outcome.exit_code == 0:
                trial.fail(f"exited 0 but reported no {metric!r}", retry=False)
            else:
                tail = "\n".join(outcome.log_tail[-5:])
                trial.fail(f"exit code {outcome.exit_code}; last output:\n{tail}")
        except ConflictError as exc:  # finished or taken meanwhile (e.g. scan cancelled)
            log.warning("trial %s: %s", trial.id, exc)
        except APIError as exc:  # the API is gone: the lease runs out and the trial requeues
            log.error("trial %s: could not record its outcome: %s", trial.id, exc)

    def _child_env(self, trial: Trial, result_file: Path) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.extra_env)
        checkpoint = trial.record.checkpoint
        env.update(
            {
                names.ENV_API_URL: self.client.url,
                names.ENV_TOKEN: self.client.http.token or "",
                names.ENV_SCAN_ID: self.scan_id,
                names.ENV_TRIAL_ID: trial.id,
                names.ENV_PARAMS: json.dumps(trial.params),
                names.ENV_ATTEMPT: str(trial.attempt),
                names.ENV_WORKER_ID: self.worker_id,
                names.ENV_RESUME_STEP: str(checkpoint.step if checkpoint else 0),
                names.ENV_RESULT_FILE: str(result_file),
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def _heartbeat(self, trial: Trial, config: ScanConfig, lost: threading.Event) -> None:
        interval = self.heartbeat_interval or max(0.05, config.execution.lease_seconds / 3)
        while not lost.wait(interval):
            try:
                trial.heartbeat()
            except ConflictError as exc:  # lease lost, or the trial was finished (cancelled)
                log.warning("trial %s: %s; stopping its run", trial.id, exc)
                lost.set()
                self._terminate_child()
                return
            except Exception as exc:  # the API is unreachable for now: keep the child going
                log.warning("heartbeat of %s failed: %s", trial.id, exc)

    # ---- stopping ------------------------------------------------------------------------

    def _terminate_child(self) -> None:
        child = self._child
        if child is None or child.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout=self.grace_period)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def on_signal(signum: int, frame: Any) -> None:
            log.info("worker %s: signal %d, stopping", self.worker_id, signum)
            self._stop.set()
            threading.Thread(target=self._terminate_child, daemon=True).start()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)

    def _flapping(self, outcome: Outcome) -> bool:
        if outcome.exit_code in (0, None) or outcome.stopped or outcome.lease_lost:
            self._recent_failures.clear()
            return False
        self._recent_failures.append(outcome.seconds)
        return len(self._recent_failures) == self.flap_window and all(
            s < self.flap_seconds for s in self._recent_failures
        )
