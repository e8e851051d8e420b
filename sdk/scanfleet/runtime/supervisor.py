"""One run of a trial's script as a child process: its command line, its start (in a
session of its own, dying with the worker), its output copied to the trial's log (and
scraped for the metric regex), and its stop — ask for a checkpoint and wait for it, then
SIGTERM, then SIGKILL.

The worker and the script talk through files (``RunFiles``): the script writes its
results (and whether it listens for checkpoint requests) to a result file; the worker
asks for a checkpoint by writing a request file, which the script answers in its
result file (``scanfleet.runtime.current``).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from scanfleet import names
from scanfleet.config import ScanConfig

if TYPE_CHECKING:
    from scanfleet.transport import Transport

log = logging.getLogger("scanfleet.agent")

LOG_TAIL_LINES = 20  # lines of output kept for a failure's reason


def script_token(http: Transport, trial_id: str, attempt: int, worker_id: str) -> str:
    """The token the script of this attempt calls the API with (``SCANFLEET_TOKEN``): a
    worker token of this attempt only (``POST /trials/{id}/worker-token``: its own trial's
    reads and reports, ended with the attempt), never the worker's own token; "" under IAM
    (the script signs with the host's role)."""
    if not http.token:
        return ""
    body = {"worker_id": worker_id, "attempt": attempt}
    return str(http.request("POST", f"/trials/{trial_id}/worker-token", body).body["token"])


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


def missing_script(argv: list[str], cwd: Path) -> str | None:
    """What to tell the user when the script a ``python <script>`` command line runs is no
    file as seen from ``cwd`` (None: it is there, or the command runs no script file)."""
    if len(argv) < 2 or argv[0] != sys.executable or argv[1].startswith("-"):
        return None
    path = cwd / argv[1]
    if path.is_file():
        return None
    return (
        f"script not found: {argv[1]} (looked for {path}, from the worker's folder {cwd}; "
        "start the worker in the script's folder or give it --workdir)"
    )


def metric_pattern(config: ScanConfig) -> re.Pattern[str] | None:
    """The scan's metric regex, compiled (None: the script reports its metric itself)."""
    return re.compile(config.metric.regex) if config.metric.regex else None


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


def die_with_parent() -> None:
    """Children die when the worker dies, even by SIGKILL (Linux; a ``preexec_fn``)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def on_stop_signals(stop: Callable[[str], None]) -> None:
    """Call ``stop(reason)`` on SIGINT and SIGTERM (only the main thread can listen)."""
    if threading.current_thread() is not threading.main_thread():
        return

    def on_signal(signum: int, frame: Any) -> None:
        stop(f"worker stopped by {signal.Signals(signum).name}")

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)


class RunFiles:
    """The files between the worker and one run of the script: the checkpoint folder,
    the "checkpoint now" request and the script's result file."""

    def __init__(self, logs_dir: Path, scratch: Path, trial_id: str, attempt: int) -> None:
        stem = f".{trial_id}.{attempt}"
        self.result_file = logs_dir / f"{stem}.result.json"
        self.request_file = logs_dir / f"{stem}.checkpoint-now"
        self.checkpoint_dir = scratch / trial_id
        self._requests = 0

    def env(self) -> dict[str, str]:
        """Where the script finds these files (``scanfleet.runtime.current`` reads it)."""
        return {
            names.ENV_CHECKPOINT_DIR: str(self.checkpoint_dir),
            names.ENV_CHECKPOINT_NOW_FILE: str(self.request_file),
            names.ENV_RESULT_FILE: str(self.result_file),
        }

    def results(self) -> dict[str, Any]:
        try:
            data = json.loads(self.result_file.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def script_listens(self) -> bool:
        """Whether the script ever looked for checkpoint requests (else none is sent)."""
        return bool(self.results().get("listening"))

    def request_checkpoint(self, reason: str) -> int:
        self._requests += 1
        staging = self.request_file.with_suffix(".tmp")
        staging.write_text(json.dumps({"id": self._requests, "reason": reason}))
        os.replace(staging, self.request_file)
        return self._requests

    def answered(self, request: int) -> bool:
        return self.results().get("answered_request") == request

    def clean(self) -> None:
        for path in (self.result_file, self.request_file):
            path.unlink(missing_ok=True)
        shutil.rmtree(self.checkpoint_dir, ignore_errors=True)


@dataclass
class Finished:
    """How the script ended: its exit code, its last lines, the last metric value the
    regex found in its output."""

    exit_code: int
    log_tail: list[str] = field(default_factory=list)
    regex_value: float | None = None


class Supervisor:
    """One run of the script: ``start``, then ``copy_output`` until it ends; ``stop``
    (from another thread) asks it for a checkpoint and ends it.

    Args:
        argv: the command line (``build_command``).
        files: the run's files (the checkpoint requests go through them).
        log_path: the trial's log; output is appended after ``header``.
        pattern: the metric regex, scraped from each line of output.
        echo: also copy the output to our stdout (AWS Batch sends it to CloudWatch).
        grace_period: seconds between SIGTERM and SIGKILL.
    """

    answer_poll_s = 0.05  # how often a checkpoint answer is looked for

    def __init__(
        self,
        argv: list[str],
        *,
        cwd: Path,
        env: dict[str, str],
        files: RunFiles,
        log_path: Path,
        pattern: re.Pattern[str] | None = None,
        echo: bool = False,
        grace_period: float = 10.0,
    ) -> None:
        self.argv = argv
        self.cwd = cwd
        self.env = env
        self.files = files
        self.log_path = log_path
        self.pattern = pattern
        self.echo = echo
        self.grace_period = grace_period
        self.child: subprocess.Popen[bytes] | None = None
        self._log: IO[str] | None = None
        self._notes: list[str] = []  # our own lines before the script's output

    def start(self, header: str) -> None:
        """Write ``header`` to the log and start the script."""
        self._log = self.log_path.open("a")
        try:
            self._log.write(f"{header}: {' '.join(self.argv)}\n")
            missing = missing_script(self.argv, self.cwd)
            if missing:  # python's own error names no folder
                self._notes.append(missing)
                self._log.write(missing + "\n")
            self._log.flush()
            self.child = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        except BaseException:
            self._log.close()
            raise

    def copy_output(self) -> Finished:
        """Copy the script's output to its log until it ends; how it ended."""
        assert self.child is not None and self.child.stdout is not None and self._log
        tail: deque[str] = deque(self._notes, maxlen=LOG_TAIL_LINES)
        regex_value = None
        with self._log as log_file:
            for raw in self.child.stdout:
                line = raw.decode(errors="replace")
                log_file.write(line)
                if self.echo:
                    sys.stdout.write(line)
                    sys.stdout.flush()
                tail.append(line.rstrip("\n"))
                value = metric_from_line(self.pattern, line) if self.pattern else None
                if value is not None:
                    regex_value = value
            code = self.child.wait()
        return Finished(exit_code=code, log_tail=list(tail), regex_value=regex_value)

    def stop(self, deadline_s: float, reason: str) -> None:
        """Ask the script for a checkpoint (when it listens), wait up to ``deadline_s``
        for its answer, then end it (``terminate``)."""
        child = self.child
        if child is not None and deadline_s > 0 and self.files.script_listens():
            request = self.files.request_checkpoint(reason)
            end = time.monotonic() + deadline_s
            while time.monotonic() < end and child.poll() is None:
                if self.files.answered(request):
                    step = self.files.results().get("checkpoint_step")
                    log.info("checkpoint saved at step %s", step)
                    break
                time.sleep(self.answer_poll_s)
            else:
                log.warning("no checkpoint within %.0f s; stopping the script", deadline_s)
        self.terminate()

    def terminate(self) -> None:
        """SIGTERM to the script's process group, SIGKILL after ``grace_period``."""
        child = self.child
        if child is None or child.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout=self.grace_period)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
