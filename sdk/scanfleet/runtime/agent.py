"""The agent loop: claim → restore the checkpoint → ``with Heartbeat(...)``: supervise the
command → settle (complete, prune, fail or re-queue) → again, until the scan is finished.
The same loop serves ``scanfleet worker``, the local run's workers, EC2 user-data and
(one trial at a time, ``scanfleet.runtime.batch``) the AWS Batch entrypoint.

Its parts: ``scanfleet.client.heartbeat`` keeps the lease, ``supervisor`` runs the
script, ``outcome`` says what follows from how it ended, ``spot`` watches for notices.

Stopping: SIGTERM or a Spot notice asks the running script for a checkpoint, waits for
it up to a deadline, stops the script and re-queues the trial as a preemption (not an
error); the worker then exits with ``ExitCode.INTERRUPTED``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator, Mapping
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
    LeaseLostError,
    Scan,
    Trial,
)
from scanfleet.client.heartbeat import Heartbeat, heartbeat_interval
from scanfleet.config import ScanConfig
from scanfleet.records import TrialState
from scanfleet.runtime import inputs, scratch
from scanfleet.runtime.checkpoints import CheckpointError, checkpoint_store, checkpoint_url_from
from scanfleet.runtime.early_claim import EarlyClaim, claim_may_overlap
from scanfleet.runtime.outcome import Action, FlapGuard, Outcome, Transition, transition_for
from scanfleet.runtime.spot import SpotNotice, SpotWatcher, notice_deadline, watcher_from
from scanfleet.runtime.supervisor import (
    RunFiles,
    Supervisor,
    build_command,
    metric_pattern,
    on_stop_signals,
    script_token,
)

log = logging.getLogger("scanfleet.agent")

FAILURES_SHOWN = 3  # failure reasons the worker repeats when it stops for failing trials


class Agent:
    """One worker. Intervals are attributes so tests can shrink them."""

    poll_interval = 1.0
    heartbeat_interval: float | None = None  # default: heartbeat_interval(lease)
    grace_period = 10.0  # SIGTERM → SIGKILL for the child
    sigterm_deadline = 20.0  # ECS waits 30 s after SIGTERM before SIGKILL
    notice_deadline = 90.0  # a Spot notice comes 2 minutes ahead
    echo_output = False  # also copy the script's output to our stdout (Batch → CloudWatch)
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
        # absolute now: the script runs in ``workdir`` and finds its files under logs_dir
        self.logs_dir = Path(logs_dir).absolute()
        self.workdir = Path(workdir).absolute() if workdir else Path.cwd()
        self.max_trials = max_trials
        self.extra_env = extra_env or {}
        self.checkpoint_url = checkpoint_url
        self.scratch_dir = Path(scratch_dir or Path(tempfile.gettempdir()) / "scanfleet")
        self.watcher: SpotWatcher | None = None
        self._stop = threading.Event()
        self._stop_reason = "worker stopped"
        self._lock = threading.Lock()  # between starting a script and being told to stop
        self._stop_lock = threading.RLock()  # re-entered when a second signal comes
        self._running: Supervisor | None = None
        self._flaps = FlapGuard(self.flap_window, self.flap_seconds)
        self._failures: deque[str] = deque(maxlen=FAILURES_SHOWN)  # the last reasons
        self._metric_warned = False  # a run reported metrics but not the scan's (once)
        self.trials_run = 0

    # ---- the loop ----------------------------------------------------------------------

    def run(self) -> int:
        """Work until the scan is finished or we are told to stop. Returns an exit code."""
        with self.working() as going:
            return self._run() if going else names.ExitCode.INTERRUPTED

    @contextlib.contextmanager
    def working(self) -> Iterator[bool]:
        """The worker at work: its scratch folder (the folders of workers killed outright
        are removed first, docs/worker.md), its signal handlers and its Spot watcher.
        Yields whether to go on (False: a stop or a Spot notice came first)."""
        with scratch.worker_folder(self.scratch_dir, self.worker_id):
            on_stop_signals(self._on_signal)
            if self.watcher is not None:  # a notice already pending stops us before a claim
                self.watcher.check()
                self.watcher.start()
            yield not self._stop.is_set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def pause(self, seconds: float) -> bool:
        """Wait ``seconds``, or less when told to stop meanwhile; whether told to stop."""
        return self._stop.wait(seconds)

    def _run(self) -> int:
        scan = self.client.get_scan(self.scan_id)
        config = self.prepare_inputs(scan.config)
        pattern = metric_pattern(config)
        overlap = claim_may_overlap(config)  # runtime/early_claim.py: when it is safe
        early: EarlyClaim | None = None
        try:
            while not self._stop.is_set():
                if self.max_trials is not None and self.trials_run >= self.max_trials:
                    return names.ExitCode.OK
                try:
                    trial = early.result() if early is not None else self._claim(scan)
                except GoneError:
                    return names.ExitCode.OK
                early = None
                if trial is None:
                    self._stop.wait(self.poll_interval)
                    continue
                outcome = self.run_trial(trial, config, pattern)
                self.trials_run += 1
                if overlap and self._settles_then_goes_on(outcome):
                    early = EarlyClaim(lambda: self._claim(scan))
                self.settle(trial, config, outcome)
                if self._flaps.flapping(outcome):
                    log.error("worker %s: %d trials in a row failed fast; stopping. The last "
                              "reasons:\n%s", self.worker_id, self.flap_window,
                              "\n".join(self._failures))  # fmt: skip
                    return names.ExitCode.SCRIPT_FAILED
            return names.ExitCode.INTERRUPTED
        finally:
            self._give_back(early)

    def _settles_then_goes_on(self, outcome: Outcome) -> bool:
        """Whether settling ``outcome`` is a call of the worker's (the script did not
        complete its trial) after which it claims again."""
        more = self.max_trials is None or self.trials_run < self.max_trials
        by_script = bool(outcome.reported.get("completed"))
        return more and not by_script and not outcome.lease_lost and not self._stop.is_set()

    def _give_back(self, early: EarlyClaim | None) -> None:
        """A trial claimed early that will not run goes back to the queue at once."""
        if early is None:
            return
        with contextlib.suppress(APIError):
            trial = early.result()
            if trial is not None:
                trial.fail(f"worker {self.worker_id} stopped before running it", preempted=True)

    def prepare_inputs(self, config: ScanConfig) -> ScanConfig:
        """The scan's run inputs made ready on this worker, once (docs/inputs.md): its
        stored script, requirements, base_model and dataset. Returns the config to run."""
        cache = os.environ.get(names.ENV_INPUTS_CACHE) or self.logs_dir.parent / ".inputs-cache"
        staged = inputs.prepare(config, cache, base_dir=self.workdir)
        self.extra_env.update(staged.env)
        return staged.config

    def _claim(self, scan: Scan) -> Trial | None:
        try:
            return scan.next_trial(self.worker_id)
        except (APIConnectionError, InternalServerError) as exc:
            log.warning("claim failed (%s); retrying", exc)
            return None

    # ---- interruptions -------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()
        self._terminate_running()

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
        threading.Thread(target=self._stop_running, args=(wait,), daemon=True).start()

    def on_spot_notice(self, notice: SpotNotice) -> None:
        deadline = notice_deadline(notice, time.time(), self.notice_deadline)
        self.interrupt(f"spot interruption notice ({notice.action})", deadline)

    def _on_signal(self, reason: str) -> None:
        log.info("worker %s: %s", self.worker_id, reason)
        self.interrupt(reason, self.sigterm_deadline)

    def _stop_running(self, deadline_s: float) -> None:
        with self._lock:
            running = self._running
        if running is not None:
            running.stop(deadline_s, self._stop_reason)

    def _terminate_running(self) -> None:
        running = self._running
        if running is not None:
            running.terminate()

    # ---- one trial ---------------------------------------------------------------------

    def run_trial(
        self, trial: Trial, config: ScanConfig, pattern: re.Pattern[str] | None
    ) -> Outcome:
        """Under a heartbeat (from the claim on: a large checkpoint may take longer than a
        lease to download), restore the trial's checkpoint, then run its script."""
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        files = RunFiles(self.logs_dir, self.scratch_dir / self.worker_id, trial.id, trial.attempt)
        interval = self.heartbeat_interval or heartbeat_interval(config.execution.lease_seconds)
        start = time.monotonic()
        try:
            with Heartbeat(
                trial, interval, on_conflict=lambda exc: self._lease_refused(trial, files, exc)
            ) as beat:
                resume_step = self._restore(trial, files.checkpoint_dir)
                run = Supervisor(
                    build_command(config, trial.params),
                    cwd=self.workdir,
                    env=self._child_env(trial, files, resume_step),
                    files=files,
                    log_path=self.logs_dir / f"{trial.id}.log",
                    pattern=pattern,
                    echo=self.echo_output,
                    grace_period=self.grace_period,
                )
                header = f"=== attempt {trial.attempt} on {self.worker_id} from step {resume_step}"
                outcome = self._supervise(run, header, beat)
                outcome.lease_lost = beat.lease_lost  # as the script ended
            outcome.seconds = time.monotonic() - start
            outcome.reported = files.results()
            return outcome
        finally:
            files.clean()

    def _supervise(self, run: Supervisor, header: str, beat: Heartbeat) -> Outcome:
        """Start the script (unless told to stop, or the lease was refused, by now) and
        copy its output until it ends."""
        with self._lock:
            if self._stop.is_set():  # told to stop between the claim and now
                return Outcome(exit_code=None, stopped=True)
            if beat.conflict is not None:  # refused while the checkpoint was restored
                return Outcome(exit_code=None)
            run.start(header)
            self._running = run
        finished = run.copy_output()
        with self._lock:
            self._running = None
            stopped = self._stop.is_set()
        return Outcome(
            exit_code=finished.exit_code,
            regex_value=finished.regex_value,
            stopped=stopped,
            log_tail=finished.log_tail,
        )

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

    def _lease_refused(self, trial: Trial, files: RunFiles, exc: ConflictError) -> None:
        """The heartbeat was refused: stop the run, unless the script finished its trial
        itself and is on its way out."""
        if not isinstance(exc, LeaseLostError) and self._finished_by_script(trial, files):
            return
        log.warning("trial %s: %s; stopping its run", trial.id, exc)
        with self._lock:  # a script being started now is then stopped once it runs
            running = self._running
        if running is not None:
            running.terminate()

    def _finished_by_script(self, trial: Trial, files: RunFiles) -> bool:
        if files.results().get("completed"):
            return True
        with contextlib.suppress(APIError):
            record = trial.refresh().record
            ours = record.attempt == trial.attempt
            return ours and record.state in (TrialState.COMPLETED, TrialState.PRUNED)
        return False

    def settle(self, trial: Trial, config: ScanConfig, outcome: Outcome) -> TrialState | None:
        """Complete, prune, re-queue or fail the trial from how its run ended.

        Returns:
            The trial's state afterwards; None when it is unknown (lease lost, API gone).
        """
        change = transition_for(outcome, config.metric.name, self._stop_reason)
        if change.warning and not self._metric_warned:  # the first run that reported others
            self._metric_warned = True
            log.warning("trial %s %s", trial.id, change.warning)
        if change.action is Action.FAIL:
            self._failures.append(f"  trial {trial.id}: " + change.reason.replace("\n", "\n    "))
        if change.action is Action.NOTHING:
            log.warning("trial %s: lease lost; another worker has it", trial.id)
            return None
        try:
            return apply_transition(trial, change)
        except ConflictError as exc:  # finished or taken meanwhile (e.g. scan cancelled)
            log.warning("trial %s: %s", trial.id, exc)
            with contextlib.suppress(APIError):
                return trial.refresh().state
        except APIError as exc:  # the API is gone: the lease runs out and the trial requeues
            log.error("trial %s: could not record its outcome: %s", trial.id, exc)
        return None

    def _child_env(self, trial: Trial, files: RunFiles, resume_step: int) -> dict[str, str]:
        env = {**os.environ, **self.extra_env, **files.env(), "PYTHONUNBUFFERED": "1"}
        env.update(
            {
                names.ENV_API_URL: self.client.url,
                names.ENV_TOKEN: script_token(
                    self.client.http, trial.id, trial.attempt, self.worker_id
                ),
                names.ENV_SCAN_ID: self.scan_id,
                names.ENV_TRIAL_ID: trial.id,
                names.ENV_PARAMS: json.dumps(trial.params),
                names.ENV_ATTEMPT: str(trial.attempt),
                names.ENV_WORKER_ID: self.worker_id,
                names.ENV_RESUME_STEP: str(resume_step),
            }
        )
        if self.checkpoint_url:
            env[names.ENV_CHECKPOINT_URL] = self.checkpoint_url
        env.pop(names.ENV_STOP_STEP, None)
        if trial.record.lineage is not None:
            env[names.ENV_STOP_STEP] = str(trial.record.lineage.stop_step)
        return env


def apply_transition(trial: Trial, change: Transition) -> TrialState:
    """Record ``change`` on the trial through the API; its state afterwards.

    Raises:
        ConflictError: the trial was finished or taken meanwhile.
        APIError: the API did not take it.
    """
    if change.action is Action.DONE_BY_SCRIPT:
        return TrialState.COMPLETED
    if change.action is Action.REQUEUE:
        return trial.fail(change.reason, preempted=True).state
    if change.action is Action.PRUNE:
        return trial.prune().state
    if change.action is Action.COMPLETE:
        return trial.complete(dict(change.values)).state
    return trial.fail(change.reason, retry=change.retry).state


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
