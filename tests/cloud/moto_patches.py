"""What moto 5.2.5 needs to run the scan state machine for real (pinned in pyproject).

Each patch is a context manager over ``pytest.MonkeyPatch`` and has its own test in
``test_moto_patches.py``:

- :func:`lambda_dispatch` — a Lambda task calls our handler in-process (moto's
  no-Docker Lambda only echoes its input).
- :func:`batch_sync_casing` — Step Functions writes Batch parameters in PascalCase and
  answers in PascalCase; moto passes the ASL names to boto3 (``'JobDefinition'`` fails)
  and reads ``JobId`` from a camelCase answer. It also enters
  :func:`sync_job_ends_with_its_execution`: an execution stopped (or timed out) while its
  ``.sync`` Batch task waits terminates the job through Batch's TerminateJob, signed as
  the state machine, as AWS does with the role's ``batch:TerminateJob``; moto's loop just
  stops polling and leaves the job running.
- :func:`batch_jobs` (in ``moto_batch_jobs.py``, re-exported here) — ``submit_job``
  runs each attempt through a runner the test gives (a real process), and settles the job
  from the job definition's retry strategy, as Batch does: the first ``evaluateOnExit``
  rule whose conditions all match decides, and when none matches, Batch retries. A runner
  may answer that the job never ran (a job queue's state-time limit cancelled it in
  RUNNABLE): FAILED, no attempts, its reason.
- :func:`fast_polls` — the ``.sync`` poll interval (0.5 s) and Wait states are shortened.

Not patched: a retried ``.sync`` task reuses its cancelled task token in moto (fails with
``States.Timeout``); the Batch tasks retry only a throttled SubmitJob, which no test
provokes, so the tests never hit it.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.cloud.moto_batch_jobs import (
    AttemptEnd,
    BatchLedger,
    JobAttemptRun,
    Runner,
    batch_jobs,
    retry_decision,
)

__all__ = [
    "ABORTED_TASK_REASON",
    "AttemptEnd",
    "BatchLedger",
    "FakeLambdaContext",
    "JobAttemptRun",
    "LambdaCalls",
    "Runner",
    "batch_jobs",
    "batch_sync_casing",
    "fast_polls",
    "lambda_dispatch",
    "retry_decision",
    "sync_job_ends_with_its_execution",
]

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
def batch_sync_casing(
    monkeypatch: pytest.MonkeyPatch, *, terminate_on_stop: bool = True
) -> Iterator[None]:
    """ASL ``JobName``/``ContainerOverrides.Environment[].Name`` → boto3 ``jobName`` …;
    Batch answers → PascalCase (``JobId``, ``Status``, ``Attempts``), as Step Functions
    hands them to the state machine. With ``terminate_on_stop`` (the default) a stopped
    execution terminates its job (:func:`sync_job_ends_with_its_execution`)."""
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
    if terminate_on_stop:
        with sync_job_ends_with_its_execution(monkeypatch):
            yield
    else:
        yield


# What AWS writes on the job (seen on AWS, quoted in the answers to "What happens when I stop
# an execution in AWS Step Functions?" on Stack Overflow); Step Functions' documentation
# gives no text, only the role's batch:TerminateJob ("IAM policies for AWS Batch").
ABORTED_TASK_REASON = (
    "The Task state in AWS Step Functions execution [{execution}] which was managing this "
    "resource was aborted"
)


@contextlib.contextmanager
def sync_job_ends_with_its_execution(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An execution stopped or timed out while a ``batch:submitJob.sync`` task of it waits
    terminates that job: Batch's TerminateJob with :data:`ABORTED_TASK_REASON`, through a
    client of moto's ``boto_client_for`` (looked up when called, so a patch that signs it
    as the state machine's role applies). moto's own loop only stops polling."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_batch as module,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
        ResourceCondition,
    )
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped, ProgramTimedOut
    from moto.stepfunctions.parser.asl.utils import boto_client

    cls = module.StateTaskServiceBatch
    wait_for_job = cls._eval_integration_pattern

    def eval_integration_pattern(self: Any, env: Any, **parts: Any) -> None:
        submitted = env.stack[-1]  # SubmitJob's answer, which moto's wait pops
        try:
            wait_for_job(self, env, **parts)
        finally:
            aborted = isinstance(env.program_state(), (ProgramStopped, ProgramTimedOut))
            if aborted and self.resource.condition == ResourceCondition.Sync:
                execution = env.states.context_object.context_object_data["Execution"]["Id"]
                batch = boto_client.boto_client_for(
                    region=parts["resource_runtime_part"].region,
                    service="batch",
                    state_credentials=parts["state_credentials"],
                )
                _terminate(batch, submitted["JobId"], execution)

    monkeypatch.setattr(cls, "_eval_integration_pattern", eval_integration_pattern)
    yield


def _terminate(batch: Any, job_id: str, execution: str) -> None:
    """The execution has already ended: a refused TerminateJob can only be logged."""
    from botocore.exceptions import ClientError

    try:
        batch.terminate_job(jobId=job_id, reason=ABORTED_TASK_REASON.format(execution=execution))
    except ClientError as exc:
        logging.getLogger(__name__).warning("TerminateJob %s after %s: %s", job_id, execution, exc)


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
