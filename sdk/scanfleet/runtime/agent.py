"""The agent loop: claim → restore the checkpoint → run the command under a heartbeat →
complete, prune or fail → again, until the scan is finished. The same loop serves
``scanfleet worker``, the local run's workers, EC2 user-data and (one trial at a time)
the AWS Batch entrypoint.

Stopping: SIGTERM or a Spot notice asks the running script for a checkpoint, waits for
it up to a deadline, stops the script and re-queues the trial as a preemption (not an
error); the worker then exits with ``ExitCode.INTERRUPTED``.
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
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator, Mapping
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
from scanfleet.records import TrialState
from scanfleet.runtime import inputs, scratch
from scanfleet.runtime.checkpoints import CheckpointError, checkpoint_store, checkpoint_url_from
from scanfleet.runtime.spot import SpotNotice, SpotWatcher, watcher_from

log = logging.getLogger("scanfleet.agent")

_LOG_TAIL_LINES = 20
NOTICE_MARGIN_S = 20.0  # a Spot notice's 2 minutes, less this, go to the checkpoint


@dataclass
class Outcome:
    """How one run of the command ended."""

    exit_code: int | None
    regex_value: float | None = None
    reported: dict[str, Any] = field(default_factory=dict)
    lease_lost: bool = False
    stopped: bool = False  # interrupted (SIGTERM, Spot notice) before it ended by itself
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
    sigterm_deadline = 20.0  # ECS waits 30 s after SIGTERM before SIGKILL
    notice_deadline = 90.0  # a Spot notice comes 2 minutes ahead
    echo_output = False  # also copy the script's output to our stdout (Batch → CloudWatch)
    adopt_claim = False  # run_one: a trial RUNNING under our worker id is ours to run
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
        checkpoint_url: str | None = None,
        scratch_dir: Path | str | None = None,
    ) -> None:
        self.client = client
        self.scan_id = scan_id
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:4]}"
        self.logs_dir = Path(logs_dir)
        self.workdir = Path(workdir) if workdir else Path.cwd()
        self.max_trials = max_trials
        self.extra_env = extra_env or {}
        self.checkpoint_url = checkpoint_url
        self.scratch_dir = Path(scratch_dir or Path(tempfile.gettempdir()) / "scanfleet")
        self.watcher: SpotWatcher | None = None
        self._stop = threading.Event()
        self._stop_reason = "worker stopped"
        self._lock = threading.Lock()  # between starting a child and being told to stop
        self._stop_lock = threading.RLock()  # re-entered when a second signal comes
        self._child: subprocess.Popen[bytes] | None = None
        self._run_files: _RunFiles | None = None
        self._recent_failures: deque[float] = deque(maxlen=self.flap_window)
        self.trials_run = 0

    # ---- the loop ----------------------------------------------------------------------

    def run(self) -> int:
        """Work until the scan is finished or we are told to stop. Returns an exit code."""
        with self._scratch_folder():
            return self._run()

    def run_one(self, trial_id: str | None = None) -> names.ExitCode:
        """Run one trial, the named one or the next, and say how it went as an exit code
        (the AWS Batch entrypoint: the job's retry strategy matches on it)."""
        with self._scratch_folder():
            return self._run_one(trial_id)

    @contextlib.contextmanager
    def _scratch_folder(self) -> Iterator[None]:
        """This worker's scratch folder, from start to end; the folders of workers that
        were killed outright are removed first (docs/worker.md)."""
        scratch.sweep(self.scratch_dir)
        folder = self.scratch_dir / self.worker_id
        scratch.claim(folder)
        try:
            yield
        finally:
            scratch.release(folder)

    def _run(self) -> int:
        self._install_signal_handlers()
        self._check_notice_first()
        if self._stop.is_set():
            return names.ExitCode.INTERRUPTED
        scan = self.client.get_scan(self.scan_id)
        config = self.prepare_inputs(scan.config)
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

    def prepare_inputs(self, config: ScanConfig) -> ScanConfig:
        """The scan's run inputs made ready on this worker, once (docs/inputs.md): its
        stored script, requirements, base_model and dataset. Returns the config to run."""
        cache = os.environ.get(names.ENV_INPUTS_CACHE) or self.logs_dir.parent / ".inputs-cache"
        staged = inputs.prepare(config, cache, base_dir=self.workdir)
        self.extra_env.update(staged.env)
        return staged.config

    def stop(self) -> None:
        self._stop.set()
        self._terminate_child()

    def _run_one(self, trial_id: str | None) -> names.ExitCode:
        self._install_signal_handlers()
        self._check_notice_first()
        if self._stop.is_set():
            return names.ExitCode.INTERRUPTED
        try:
            scan = self.client.get_scan(self.scan_id)
            try:
                config = self.prepare_inputs(scan.config)
            except inputs.InputError as exc:
                return self._inputs_failed(exc, scan.config, trial_id)
            trial = (
                self._claim_named(trial_id, config) if trial_id else scan.next_trial(self.worker_id)
            )
        except GoneError:
            return names.ExitCode.NOTHING_TO_DO
        except (APIConnectionError, InternalServerError) as exc:
            log.error("the API did not answer: %s", exc)
            return names.ExitCode.API_UNAVAILABLE
        if trial is None:  # stopped while waiting for the trial: let Batch try again
            return (
                names.ExitCode.INTERRUPTED if self._stop.is_set() else names.ExitCode.NOTHING_TO_DO
            )
        pattern = re.compile(config.metric.regex) if config.metric.regex else None
        outcome = self.run_trial(trial, config, pattern)
        return exit_code_for(outcome, self.settle(trial, config, outcome))

    def _inputs_failed(
        self, error: inputs.InputError, config: ScanConfig, trial_id: str | None
    ) -> names.ExitCode:
        """The run inputs could not be made ready, so the trial cannot start here. A missing
        or invalid input fails the named trial for good (every attempt would meet it; the
        reason is on the trial). One that could not be fetched right now gives back a claim
        the state machine made for us, as an interruption (not the script's fault), and the
        job asks to be retried."""
        log.error("trial %s: %s", trial_id or "(next)", error)
        if isinstance(error, inputs.InputUnavailableError):
            held = self._adopt(trial_id) if trial_id else None
            if held is not None:
                with contextlib.suppress(ConflictError):
                    held.fail(f"inputs unavailable: {error}", preempted=True)
            return names.ExitCode.INPUTS_UNAVAILABLE
        trial = self._claim_named(trial_id, config) if trial_id else None
        if trial is not None:
            with contextlib.suppress(ConflictError):
                trial.fail(f"inputs: {error}", retry=False)
        return names.ExitCode.INPUT_INVALID

    def _adopt(self, trial_id: str) -> Trial | None:
        """With ``adopt_claim``, the trial when the state machine claimed it in our name."""
        if not self.adopt_claim:
            return None
        held = self.client.get_trial(trial_id)
        if held.state is TrialState.RUNNING and held.record.worker_id == self.worker_id:
            mine = Trial(self.client, held.record, worker_id=self.worker_id)
            with contextlib.suppress(ConflictError):
                return mine.heartbeat()
        return None

    def _claim_named(self, trial_id: str, config: ScanConfig) -> Trial | None:
        """Claim the trial the state machine chose. A retried job may find it still held
        by its previous attempt (the machine vanished): wait for that lease to run out.
        With ``adopt_claim``, a claim the state machine made in our name is taken over."""
        adopted = self._adopt(trial_id)
        if adopted is not None:
            return adopted
        give_up = time.monotonic() + config.execution.lease_seconds * 2 + 5
        while True:
            try:
                return self.client.claim_trial(trial_id, self.worker_id)
            except ConflictError as exc:
                if exc.error_code != "already_claimed" or time.monotonic() > give_up:
                    log.warning("trial %s: %s", trial_id, exc)
                    return None
                if self._stop.wait(self.poll_interval):
                    return None

    # ---- interruptions -------------------------------------------------------------------

    def interrupt(self, reason: str, deadline_s: float) -> None:
        """Stop working: ask the running script for a checkpoint, give it ``deadline_s``,
        then stop it; its trial goes back to the queue as a preemption. A second call
        stops the script at once.

        Safe in a signal handler: the stop flag is set under a lock never held while a
        script starts; the script itself is dealt with on a thread of its own, which waits
        for ``_lock`` (held by the interrupted thread while it starts the script)."""
        with self._stop_lock:
            again = self._stop.is_set()
            if not again:
                self._stop_reason = reason
            self._stop.set()
        wait = 0.0 if again else deadline_s
        threading.Thread(target=self._stop_child, args=(wait,), daemon=True).start()

    def _stop_child(self, deadline_s: float) -> None:
        with self._lock:
            child, files = self._child, self._run_files
        if child is not None and files is not None:
            self._checkpoint_then_stop(child, files, deadline_s)

    def on_spot_notice(self, notice: SpotNotice) -> None:
        deadline = notice_deadline(notice, time.time(), self.notice_deadline)
        self.interrupt(f"spot interruption notice ({notice.action})", deadline)

    def _checkpoint_then_stop(
        self, child: subprocess.Popen[bytes], files: _RunFiles, deadline_s: float
    ) -> None:
        if deadline_s > 0 and files.script_listens():
            request = files.request_checkpoint(self._stop_reason)
            end = time.monotonic() + deadline_s
            while time.monotonic() < end and child.poll() is None:
                if files.answered(request):
                    log.info("checkpoint saved at step %s", files.results().get("checkpoint_step"))
                    break
                time.sleep(0.05)
            else:
                log.warning("no checkpoint within %.0f s; stopping the script", deadline_s)
        self._terminate_child()

    def _check_notice_first(self) -> None:
        """Start the Spot watcher; a notice already pending stops us before any claim."""
        if self.watcher is not None:
            self.watcher.check()
            self.watcher.start()

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
        files = _RunFiles(self.logs_dir, self.scratch_dir / self.worker_id, trial)
        resume_step = self._restore(trial, files.checkpoint_dir)
        env = self._child_env(trial, files, resume_step)
        argv = build_command(config, trial.params)
        start = time.monotonic()
        outcome = Outcome(exit_code=None)
        tail: deque[str] = deque(maxlen=_LOG_TAIL_LINES)
        lost = threading.Event()
        with log_path.open("a") as log_file:
            log_file.write(
                f"=== attempt {trial.attempt} on {self.worker_id} from step {resume_step}:"
                f" {' '.join(argv)}\n"
            )
            log_file.flush()
            with self._lock:
                if self._stop.is_set():  # told to stop between the claim and now
                    files.clean()
                    return Outcome(exit_code=None, stopped=True)
                self._run_files = files
                self._child = subprocess.Popen(
                    argv,
                    cwd=self.workdir,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
            beat = threading.Thread(
                target=self._heartbeat, args=(trial, config, lost, files), daemon=True
            )
            beat.start()
            assert self._child.stdout is not None
            for raw in self._child.stdout:
                line = raw.decode(errors="replace")
                log_file.write(line)
                if self.echo_output:
                    sys.stdout.write(line)
                    sys.stdout.flush()
                tail.append(line.rstrip("\n"))
                if pattern is not None:
                    value = metric_from_line(pattern, line)
                    if value is not None:
                        outcome.regex_value = value
            outcome.exit_code = self._child.wait()
            with self._lock:
                self._child = None
                self._run_files = None
                outcome.stopped = self._stop.is_set()
        lost_flag = lost.is_set() and files.lease_lost
        lost.set()  # stops the heartbeat thread
        beat.join(timeout=5)
        outcome.lease_lost = lost_flag
        outcome.log_tail = list(tail)
        outcome.seconds = time.monotonic() - start
        outcome.reported = files.results()
        files.clean()
        return outcome

    def _restore(self, trial: Trial, folder: Path) -> int:
        """Fill ``folder`` with the trial's last checkpoint; the step to resume from."""
        folder.mkdir(parents=True, exist_ok=True)
        checkpoint = trial.record.checkpoint
        if checkpoint is None:
            return 0
        try:
            checkpoint_store(checkpoint.uri).download(checkpoint.uri, folder)
        except (CheckpointError, OSError, ValueError) as exc:
            log.error("trial %s: checkpoint %s not restored (%s); from step 0",
                      trial.id, checkpoint.uri, exc)  # fmt: skip
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            return 0
        return checkpoint.step

    def settle(self, trial: Trial, config: ScanConfig, outcome: Outcome) -> TrialState | None:
        """Complete, prune, re-queue or fail the trial from how its run ended.

        Returns:
            The trial's state afterwards; None when it is unknown (lease lost, API gone).
        """
        if outcome.lease_lost:
            log.warning("trial %s: lease lost; another worker has it", trial.id)
            return None
        metric = config.metric.name
        try:
            if outcome.reported.get("completed"):
                return TrialState.COMPLETED  # the script completed the trial itself
            if outcome.stopped:
                return trial.fail(self._stop_reason, preempted=True).state
            if outcome.exit_code == 0 and outcome.reported.get("prune"):
                return trial.prune().state
            if outcome.exit_code == 0 and outcome.regex_value is not None:
                return trial.complete({metric: outcome.regex_value}).state
            if outcome.exit_code == 0 and metric in outcome.reported.get("last", {}):
                return trial.complete({metric: outcome.reported["last"][metric][1]}).state
            if outcome.exit_code == 0:
                return trial.fail(f"exited 0 but reported no {metric!r}", retry=False).state
            tail = "\n".join(outcome.log_tail[-5:])
            return trial.fail(f"exit code {outcome.exit_code}; last output:\n{tail}").state
        except ConflictError as exc:  # finished or taken meanwhile (e.g. scan cancelled)
            log.warning("trial %s: %s", trial.id, exc)
            with contextlib.suppress(APIError):
                return trial.refresh().state
        except APIError as exc:  # the API is gone: the lease runs out and the trial requeues
            log.error("trial %s: could not record its outcome: %s", trial.id, exc)
        return None

    def _child_env(self, trial: Trial, files: _RunFiles, resume_step: int) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.extra_env)
        env.update(
            {
                names.ENV_API_URL: self.client.url,
                names.ENV_TOKEN: self.client.http.token or "",
                names.ENV_SCAN_ID: self.scan_id,
                names.ENV_TRIAL_ID: trial.id,
                names.ENV_PARAMS: json.dumps(trial.params),
                names.ENV_ATTEMPT: str(trial.attempt),
                names.ENV_WORKER_ID: self.worker_id,
                names.ENV_RESUME_STEP: str(resume_step),
                names.ENV_CHECKPOINT_DIR: str(files.checkpoint_dir),
                names.ENV_CHECKPOINT_NOW_FILE: str(files.request_file),
                names.ENV_RESULT_FILE: str(files.result_file),
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.checkpoint_url:
            env[names.ENV_CHECKPOINT_URL] = self.checkpoint_url
        env.pop(names.ENV_STOP_STEP, None)
        if trial.record.lineage is not None:
            env[names.ENV_STOP_STEP] = str(trial.record.lineage.stop_step)
        return env

    def _heartbeat(
        self, trial: Trial, config: ScanConfig, lost: threading.Event, files: _RunFiles
    ) -> None:
        interval = self.heartbeat_interval or max(0.05, config.execution.lease_seconds / 3)
        while not lost.wait(interval):
            try:
                trial.heartbeat()
            except ConflictError as exc:  # lease lost, or the trial was finished
                if exc.error_code != "lease_lost" and self._finished_by_script(trial, files):
                    return  # the script completed its trial and is on its way out
                log.warning("trial %s: %s; stopping its run", trial.id, exc)
                files.lease_lost = exc.error_code == "lease_lost"
                lost.set()
                self._terminate_child()
                return
            except Exception as exc:  # the API is unreachable for now: keep the child going
                log.warning("heartbeat of %s failed: %s", trial.id, exc)

    def _finished_by_script(self, trial: Trial, files: _RunFiles) -> bool:
        if files.results().get("completed"):
            return True
        with contextlib.suppress(APIError):
            record = trial.refresh().record
            ours = record.attempt == trial.attempt
            return ours and record.state in (TrialState.COMPLETED, TrialState.PRUNED)
        return False

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
            reason = f"worker stopped by {signal.Signals(signum).name}"
            self.interrupt(reason, self.sigterm_deadline)

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


class _RunFiles:
    """The files between the worker and one run of the script: the checkpoint folder,
    the "checkpoint now" request and the script's result file."""

    def __init__(self, logs_dir: Path, scratch: Path, trial: Trial) -> None:
        stem = f".{trial.id}.{trial.attempt}"
        self.result_file = logs_dir / f"{stem}.result.json"
        self.request_file = logs_dir / f"{stem}.checkpoint-now"
        self.checkpoint_dir = scratch / trial.id
        self.lease_lost = False  # the heartbeat learnt that another attempt holds the trial
        self._requests = 0

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


def notice_deadline(notice: SpotNotice, now: float, longest: float) -> float:
    """Seconds the script gets to checkpoint after a notice: ``longest``, or less so that
    ``NOTICE_MARGIN_S`` remain before the instance goes (to record and stop)."""
    left = notice.seconds_left(now)
    if left is None:
        return longest
    return max(0.0, min(longest, left - NOTICE_MARGIN_S))


def exit_code_for(outcome: Outcome, state: TrialState | None) -> names.ExitCode:
    """How one run ended, as the exit code the Batch retry strategy matches on."""
    if outcome.lease_lost:
        return names.ExitCode.LEASE_LOST
    if state is None:
        return names.ExitCode.API_UNAVAILABLE
    if state in (TrialState.COMPLETED, TrialState.PRUNED):
        return names.ExitCode.OK
    if state is TrialState.FAILED:
        return names.ExitCode.SCRIPT_FAILED
    return names.ExitCode.INTERRUPTED if outcome.stopped else names.ExitCode.REQUEUED


def agent_from_env(client: Client, scan_id: str, env: Mapping[str, str], **options: Any) -> Agent:
    """An agent set up from the environment: where checkpoints go, the Spot watcher, the
    claim poll interval and the SIGTERM checkpoint deadline. ``options`` go to ``Agent``."""
    agent = Agent(client, scan_id, checkpoint_url=checkpoint_url_from(env), **options)
    agent.watcher = watcher_from(env, agent.on_spot_notice)
    if env.get(names.ENV_POLL_INTERVAL):
        agent.poll_interval = float(env[names.ENV_POLL_INTERVAL])
    if env.get(names.ENV_CHECKPOINT_DEADLINE):
        agent.sigterm_deadline = float(env[names.ENV_CHECKPOINT_DEADLINE])
    return agent
