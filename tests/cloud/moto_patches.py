"""What moto 5.2.5 needs to run the scan state machine for real (pinned in pyproject).

Each patch is a context manager over ``pytest.MonkeyPatch`` and has its own test in
``test_moto_patches.py``:

- :func:`lambda_dispatch` — a Lambda task calls our handler in-process (moto's
  no-Docker Lambda only echoes its input).
- :func:`batch_sync_casing` — Step Functions writes Batch parameters in PascalCase and
  answers in PascalCase; moto passes the ASL names to boto3 (``'JobDefinition'`` fails)
  and reads ``JobId`` from a camelCase answer.
- :func:`batch_jobs` — ``submit_job`` runs each attempt through a runner the test gives
  (a real process), and settles the job from the job definition's retry strategy, as
  Batch does: the first ``evaluateOnExit`` rule whose conditions all match decides, and
  when none matches, Batch retries. A runner may answer that the job never ran (a job
  queue's state-time limit cancelled it in RUNNABLE): FAILED, no attempts, its reason.
- :func:`fast_polls` — the ``.sync`` poll interval (0.5 s) and Wait states are shortened.

Not patched: a retried ``.sync`` task reuses its cancelled task token in moto (fails with
``States.Timeout``); the Batch tasks retry only a throttled SubmitJob, which no test
provokes, so the tests never hit it. Nor does moto's Step Functions terminate the job of
a stopped execution (AWS does, with the role's batch:TerminateJob); the tests cancel
through the API, which terminates the scan's jobs itself.
"""

from __future__ import annotations

import contextlib
import datetime
import fnmatch
import importlib
import json
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

# ---- Lambda ------------------------------------------------------------------------------


class FakeLambdaContext:
    """What Powertools reads from a Lambda context."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        )
        self.memory_limit_in_mb = 1024
        self.aws_request_id = "00000000-0000-0000-0000-000000000000"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@dataclass
class LambdaCalls:
    """Every dispatched invocation: ``(handler, event)`` in order, and its seconds."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    seconds: list[tuple[str, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, handler: str | None = None) -> int:
        return sum(1 for h, _ in self.calls if handler is None or h == handler)


def _handler_function(spec: str) -> Callable[[dict[str, Any], Any], Any]:
    module_name, _, function_name = spec.rpartition(".")
    return getattr(importlib.import_module(module_name), function_name)  # type: ignore[no-any-return]


@contextlib.contextmanager
def lambda_dispatch(monkeypatch: pytest.MonkeyPatch) -> Iterator[LambdaCalls]:
    """Invoke → the function's ``Handler`` (``lambdas.orchestration.claim``) called in this
    process with the JSON event; an exception becomes an ``Unhandled`` function error,
    as Lambda reports it. The function's environment is set before its module is
    imported (handlers read it at import, like a cold start)."""
    from moto.awslambda_simple.models import LambdaSimpleBackend

    calls = LambdaCalls()

    def invoke(
        self: Any,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: dict[str, str],
    ) -> bytes:
        fn = self.get_function(function_name, qualifier)
        for key, value in (fn.environment_vars or {}).items():
            if key not in os.environ:
                monkeypatch.setenv(key, value)
        event = json.loads(body) if body else {}
        with calls.lock:
            calls.calls.append((fn.handler, event))
        started = time.perf_counter()
        try:
            result = _handler_function(fn.handler)(event, FakeLambdaContext(fn.function_name))
        except Exception as exc:  # Lambda reports it; the state machine decides
            response_headers["x-amz-function-error"] = "Unhandled"
            error = {
                "errorType": type(exc).__name__,
                "errorMessage": str(exc),
                "stackTrace": traceback.format_exception(exc)[-5:],
            }
            return json.dumps(error).encode()
        finally:
            with calls.lock:
                calls.seconds.append((fn.handler, time.perf_counter() - started))
        return json.dumps(result).encode()

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)
    yield calls


# ---- Batch: parameter and answer casing --------------------------------------------------


def _recase_in_place(data: Any, first: Callable[[str], str]) -> None:
    """Rename every key of a JSON tree in place (callers hold references into it)."""
    if isinstance(data, list):
        for item in data:
            _recase_in_place(item, first)
    elif isinstance(data, dict):
        for key in list(data):
            value = data.pop(key)
            _recase_in_place(value, first)
            data[first(key[:1]) + key[1:]] = value


@contextlib.contextmanager
def batch_sync_casing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """ASL ``JobName``/``ContainerOverrides.Environment[].Name`` → boto3 ``jobName`` …;
    Batch answers → PascalCase (``JobId``, ``Status``, ``Attempts``), as Step Functions
    hands them to the state machine."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_batch as module,
    )

    def normalise_parameters(self: Any, parameters: dict[str, Any], *args: Any, **kw: Any) -> None:
        _recase_in_place(parameters, str.lower)

    def normalise_response(self: Any, response: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(response, dict):
            _recase_in_place(response, str.upper)

    cls = module.StateTaskServiceBatch
    monkeypatch.setattr(cls, "_normalise_parameters", normalise_parameters, raising=False)
    monkeypatch.setattr(cls, "_normalise_response", normalise_response, raising=False)
    yield


# ---- Batch: jobs that really run ---------------------------------------------------------


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


# ---- time --------------------------------------------------------------------------------


@contextlib.contextmanager
def fast_polls(
    monkeypatch: pytest.MonkeyPatch, *, sync_poll: float = 0.05, wait_scale: float = 0.01
) -> Iterator[None]:
    """``.sync`` tasks poll every ``sync_poll`` s; a Wait of N s lasts N × ``wait_scale`` s."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_callback as callback,
    )
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function import (
        wait_function,
    )

    monkeypatch.setattr(callback, "_DELAY_SECONDS_SYNC_CONDITION_CHECK", sync_poll)

    def wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
        if wait_seconds > 0:
            env.program_state_event.wait(wait_seconds * wait_scale)

    monkeypatch.setattr(wait_function.WaitFunction, "_wait_interval", wait_interval)
    yield
