"""Batch jobs that really run, for moto 5.2.5 (a patch of :mod:`tests.cloud.moto_patches`,
which re-exports it): ``SubmitJob`` runs each attempt through a runner the test gives (a real
process), and settles the job from the job definition's retry strategy, as Batch does."""

from __future__ import annotations

import contextlib
import datetime
import fnmatch
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest


@dataclass(frozen=True)
class AttemptEnd:
    """How one attempt of a job ended."""

    exit_code: int | None
    status_reason: str = "Essential container in task exited"
    reason: str | None = None  # the container's own reason (e.g. OutOfMemoryError)
    # Batch cancelled the job before it ran (RUNNABLE past the queue's state-time limit):
    # status_reason is the limit's reason, the job has no attempt
    never_ran: bool = False


@dataclass
class JobAttemptRun:
    """One attempt to run: what the runner gets."""

    job_id: str
    job_name: str
    attempt: int  # 1-based
    command: list[str]
    environment: dict[str, str]
    stopped: threading.Event  # set by TerminateJob


Runner = Callable[[JobAttemptRun], AttemptEnd]


def _matches(pattern: str | None, value: str | None) -> bool:
    """Batch's patterns: exact, or a prefix ending with ``*``; an absent value is empty
    (so ``onReason: "*"`` is the catch-all of AWS's own example)."""
    if pattern is None:
        return True
    return fnmatch.fnmatchcase(value or "", pattern)


def retry_decision(strategy: dict[str, Any] | None, end: AttemptEnd, attempt: int) -> bool:
    """Whether Batch runs another attempt after this one (which did not exit 0)."""
    strategy = strategy or {}
    if attempt >= int(strategy.get("attempts", 1)):
        return False
    for rule in strategy.get("evaluateOnExit", []):
        exit_code = None if end.exit_code is None else str(end.exit_code)
        if (
            _matches(rule.get("onExitCode"), exit_code)
            and _matches(rule.get("onStatusReason"), end.status_reason)
            and _matches(rule.get("onReason"), end.reason)
        ):
            return str(rule["action"]).upper() == "RETRY"
    return True  # no rule matched: Batch retries


@dataclass
class BatchLedger:
    """What ran: every attempt, and the most jobs running at once."""

    attempts: list[tuple[str, int, AttemptEnd]] = field(default_factory=list)
    images: set[str] = field(default_factory=set)  # of the jobs' definitions
    queues: list[tuple[str, str]] = field(default_factory=list)  # (job name, queue name)
    running: int = 0
    max_running: int = 0
    submitted: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _enter(self) -> None:
        with self.lock:
            self.running += 1
            self.max_running = max(self.max_running, self.running)

    def _leave(self, job_name: str, attempt: int, end: AttemptEnd) -> None:
        with self.lock:
            self.running -= 1
            self.attempts.append((job_name, attempt, end))


def _millis(moment: datetime.datetime) -> int:
    return int(moment.timestamp() * 1000)


def _environment(job: Any) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in (job.job_definition.container_properties or {}, job.container_overrides or {}):
        for pair in source.get("environment") or []:
            env[pair["name"]] = pair["value"]
    env["AWS_BATCH_JOB_ID"] = job.job_id
    return env


def _run_attempts(job: Any, runner: Runner, ledger: BatchLedger) -> None:
    strategy = job.job_definition.retry_strategy
    command = list((job.container_overrides or {}).get("command") or [])
    command = command or list((job.job_definition.container_properties or {}).get("command") or [])
    stopped = threading.Event()
    attempt, succeeded, end = 0, False, AttemptEnd(exit_code=None)
    while True:
        attempt += 1
        job.job_started_at = datetime.datetime.now()
        job._start_attempt()
        env = {**_environment(job), "AWS_BATCH_JOB_ATTEMPT": str(attempt)}
        run = JobAttemptRun(job.job_id, job.job_name, attempt, command, env, stopped)
        ledger._enter()
        watcher = threading.Thread(target=_watch_terminate, args=(job, stopped), daemon=True)
        watcher.start()
        try:
            end = runner(run)
        except Exception as exc:  # the runner broke: the attempt fails, the test sees it
            end = AttemptEnd(exit_code=None, status_reason=f"runner error: {exc!r}")
        ledger._leave(job.job_name, attempt, end)
        if end.never_ran:
            job.attempts.clear()
            job.latest_attempt = None
            job.job_stopped_reason = end.status_reason
            stopped.set()
            job._mark_stopped(success=False)
            return
        latest = job.latest_attempt
        latest["container"]["exitCode"] = end.exit_code
        if end.reason:
            latest["container"]["reason"] = end.reason
        latest["statusReason"] = end.status_reason
        latest["stoppedAt"] = _millis(datetime.datetime.now())
        if job.stop:
            break
        if end.exit_code == 0:
            succeeded = True
            break
        if not retry_decision(strategy, end, attempt):
            break
    stopped.set()
    if not job.stop:
        job.job_stopped_reason = end.status_reason
    job.exit_code = end.exit_code
    job.latest_attempt = None  # its stop time is already written
    job._mark_stopped(success=succeeded)


def _watch_terminate(job: Any, stopped: threading.Event) -> None:
    while not stopped.wait(0.05):
        if job.stop:
            stopped.set()
            return


@contextlib.contextmanager
def batch_jobs(monkeypatch: pytest.MonkeyPatch, runner: Runner) -> Iterator[BatchLedger]:
    """``SubmitJob`` queues the job and runs its attempts on a thread through ``runner``;
    ``DescribeJobs`` shows RUNNING, then SUCCEEDED or FAILED with every attempt;
    ``TerminateJob`` sets the attempt's ``stopped`` event."""
    from moto.batch.exceptions import ClientException
    from moto.batch.models import Job
    from moto.batch_simple.models import BatchSimpleBackend

    ledger = BatchLedger()
    threads: list[threading.Thread] = []

    def submit_job(
        self: Any,
        job_name: str,
        job_def_id: str,
        job_queue: str,
        array_properties: dict[str, Any],
        depends_on: Any = None,
        container_overrides: dict[str, Any] | None = None,
        eks_properties_override: Any = None,
        timeout: Any = None,
        parameters: Any = None,
        tags: Any = None,
    ) -> tuple[str, str, str]:
        job_def = self.get_job_definition(job_def_id)
        if job_def is None:
            raise ClientException(f"Job definition {job_def_id} does not exist")
        queue = self.get_job_queue(job_queue)
        if queue is None:
            raise ClientException(f"Job queue {job_queue} does not exist")
        job = Job(
            job_name,
            job_def,
            queue,
            self.backend,
            log_backend=self.logs_backend,
            container_overrides=container_overrides,
            eks_properties_override=eks_properties_override,
            depends_on=depends_on,
            all_jobs=self.backend._jobs,
            timeout=timeout,
            array_properties=array_properties or {},
            parameters=parameters,
            tags=tags,
        )
        self.backend._jobs[job.job_id] = job
        with ledger.lock:
            ledger.submitted += 1
            ledger.images.add(str((job_def.container_properties or {}).get("image")))
            ledger.queues.append((job_name, queue.name))
        thread = threading.Thread(
            target=_run_attempts, args=(job, runner, ledger), name=f"batch-{job_name}", daemon=True
        )
        threads.append(thread)
        thread.start()
        return job_name, job.job_id, job.arn

    monkeypatch.setattr(BatchSimpleBackend, "submit_job", submit_job)
    try:
        yield ledger
    finally:
        for thread in threads:
            thread.join(timeout=30)
