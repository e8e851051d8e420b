"""The cloud harness: the stack's template deployed into moto, the REAL state machine
running our handlers in-process, Batch jobs running the worker's entrypoint as child
processes. Used by ``tests/cloud`` (through its fixtures) and by ``bench/cloud_cost.py``."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws
from moto.core import enable_iam_authentication
from moto.server import ThreadedMotoServer
from scanfleet import names
from scanfleet.service import ScanService
from scanfleet.store import DynamoDBTrialStore

from tests.cloud import iam_enforcement, moto_patches
from tests.cloud.deploy import ACCOUNT, IAM_API_ID, REGION, Deployment, deploy, role_name
from tests.cloud.gateway import STAGE, Caller, Gateway, Identities, invoke
from tests.cloud.iam_enforcement import ADMIN_POLICY, Credentials, mint_role_session
from tests.fault.conftest import STEPS_SCRIPT, Ledger
from tests.fault.imds import FakeMetadata

ROOT = Path(__file__).resolve().parents[2]
STACK_NAME = "scanfleet"  # infra.app.DEFAULT_STACK_NAME
MOTO_CONFIG = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
    "batch": {"use_docker": False},
}


def synth_template() -> dict[str, Any]:
    """The stack's template as ``cdk synth`` makes it (the app with its feature flags and
    cdk-nag), from the one synth this process shares with ``tests/infra``."""
    from tests.infra.synth import synthesise_once

    return synthesise_once().template  # type: ignore[no-any-return]


def child_environment(endpoint: str) -> dict[str, str]:
    """What every child process gets: fake credentials and moto's server as AWS."""
    keep = ("PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ENDPOINT_URL": endpoint,
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """moto's server on loopback (it shares the in-process backends), for children."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@dataclass
class Requests:
    """Requests by kind: DynamoDB actions (``TransactWriteItems`` counted per item) and
    the HTTP API's routes."""

    dynamodb: dict[str, int] = field(default_factory=dict)
    api: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, table: dict[str, int], key: str, n: int = 1) -> None:
        with self.lock:
            table[key] = table.get(key, 0) + n


@contextlib.contextmanager
def serialized_dynamodb(monkeypatch: pytest.MonkeyPatch, requests: Requests) -> Iterator[None]:
    """moto is not thread-safe: one DynamoDB request at a time (lanes, API and workers
    all write at once). Counts the requests by action on the way."""
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.RLock()
    original = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        action = str(self.headers.get("X-Amz-Target", ".")).rsplit(".", 1)[-1]
        items = 1
        if action.startswith("Transact"):
            with contextlib.suppress(ValueError, TypeError):
                items = len(json.loads(self.body).get("TransactItems", [])) or 1
        requests.add(requests.dynamodb, action, items)
        with lock:
            return original(self)

    monkeypatch.setattr(DynamoHandler, "call_action", call_action)
    yield


def job_role_name(template: dict[str, Any]) -> str:
    """The name of the role the template gives the Batch job (``JobRoleArn``)."""
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Batch::JobDefinition":
            logical = resource["Properties"]["ContainerProperties"]["JobRoleArn"]["Fn::GetAtt"][0]
            return role_name(STACK_NAME, logical)
    raise AssertionError("the template has no job definition")


def agent_role_name(template: dict[str, Any]) -> str:
    """The name of the role of the instance profile the template makes for agents."""
    for logical, resource in template["Resources"].items():
        if resource["Type"] == "AWS::IAM::InstanceProfile" and logical.startswith("Agents"):
            return role_name(STACK_NAME, resource["Properties"]["Roles"][0]["Ref"])
    raise AssertionError("the template has no agents' instance profile")


def state_machine_role_arn(template: dict[str, Any]) -> str:
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::StepFunctions::StateMachine":
            logical = resource["Properties"]["RoleArn"]["Fn::GetAtt"][0]
            return f"arn:aws:iam::{ACCOUNT}:role/{role_name(STACK_NAME, logical)}"
    raise AssertionError("the template has no state machine")


# what a person who calls the IAM endpoint needs (docs/deploy.md, Who may call the API)
API_ARN = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{IAM_API_ID}"
INVOKE_API = [
    {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": f"{API_ARN}/{STAGE}/*"}
]


def _administrator(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test's own identity from here on (it deploys and looks at moto's state): an IAM
    user allowed everything, in this process's environment."""
    iam = boto3.client("iam", region_name=REGION)
    iam.create_user(UserName="scanfleet-test-admin")
    iam.put_user_policy(UserName="scanfleet-test-admin", PolicyName="all",
                        PolicyDocument=json.dumps(ADMIN_POLICY))  # fmt: skip
    key = iam.create_access_key(UserName="scanfleet-test-admin")["AccessKey"]
    for name, value in Credentials(key["AccessKeyId"], key["SecretAccessKey"]).env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # it keeps the keys it first read


class RoleSessions:
    """One session per role and holder (a function's container, the state machine),
    minted when first asked for."""

    def __init__(self) -> None:
        self._made: dict[tuple[str, str], Credentials] = {}
        self._lock = threading.Lock()

    def of(self, role_arn: str, holder: str) -> Credentials:
        with self._lock:
            if (role_arn, holder) not in self._made:
                self._made[role_arn, holder] = mint_role_session(role_arn, holder, REGION)
            return self._made[role_arn, holder]


def function_containers(deployment: Deployment) -> iam_enforcement.FunctionContainers:
    """A container per function, each signing as a session of its function's role."""
    sessions = RoleSessions()
    return iam_enforcement.FunctionContainers(
        lambda function: sessions.of(deployment.function_roles[function], function)
    )


@contextlib.contextmanager
def enforced_iam(
    monkeypatch: pytest.MonkeyPatch,
    template: dict[str, Any],
    containers: iam_enforcement.FunctionContainers,
    authorized: iam_enforcement.Authorized,
) -> Iterator[None]:
    """IAM enforcement on (tests/cloud/iam_enforcement.py): each function signs as its role,
    the state machine as its role, every request authorized on its resources."""
    machine_role, sessions = state_machine_role_arn(template), RoleSessions()
    with contextlib.ExitStack() as stack:
        stack.enter_context(iam_enforcement.function_credentials(monkeypatch))
        stack.enter_context(iam_enforcement.functions_sign_as_their_roles(monkeypatch, containers))
        stack.enter_context(iam_enforcement.state_machine_signs_as(
            monkeypatch, lambda: sessions.of(machine_role, "StepFunctions")))  # fmt: skip
        stack.enter_context(iam_enforcement.resource_level_authorization(monkeypatch, authorized))
        stack.enter_context(enable_iam_authentication())
        yield


_ID = re.compile(r"^sc[0-9a-z]{10}(-[0-9a-f]{16})?$")


def _route(method: str, path: str) -> str:
    shape = ["{id}" if _ID.match(part) else part for part in path.strip("/").split("/")]
    return f"{method} /{'/'.join(shape)}"


def run_process(
    argv: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    log: Path,
    stop: threading.Event,
    vanish: threading.Event | None = None,
) -> int:
    """Run a child to its end; terminate it when ``stop`` is set (TerminateJob), kill its
    whole process group at once when ``vanish`` is set (the host is gone)."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        while proc.poll() is None:
            if vanish is not None and vanish.is_set():
                os.killpg(proc.pid, signal.SIGKILL)
                break
            if stop.wait(0.05):
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        return proc.wait()


@dataclass
class SpotPlan:
    """Which job attempt Spot takes away: the ``job_number``-th job submitted (1-based),
    its ``attempt``, once the script has run ``after_steps`` steps. With ``notice`` the
    worker sees the two-minute notice; without, the host just vanishes."""

    job_number: int = 1
    attempt: int = 1
    after_steps: int = 4
    notice: bool = True


class JobRunner:
    """Runs each Batch job attempt as the container does: ``python -m
    scanfleet.runtime.batch`` with the job's environment, talking to the API on loopback
    and to S3 in moto's server. One planned attempt gets a Spot notice from a fake
    instance metadata service and ends as a reclaimed host does."""

    def __init__(
        self, root: Path, api_url: str, endpoint: str, sign_as: Callable[[str], dict[str, str]]
    ) -> None:
        self.root = root
        self.sign_as = sign_as  # job id → the credentials of its job role's session
        self.ledger = Ledger(root / "ledger.txt")
        self.spot: SpotPlan | None = None
        # job number (1-based, in submission order) → the reason Batch cancels it with
        # while it waits RUNNABLE (the job queue's state-time limit): it never runs
        self.runnable_cancels: dict[int, str] = {}
        self.spot_notices = 0
        self.steps_before_loss = 0  # ledger lines of the reclaimed trial when its host went
        self._jobs: list[str] = []
        self._env = child_environment(endpoint) | {
            names.ENV_API_URL: api_url,
            names.ENV_AUTH: "iam",  # the job signs as its job role, as in the stack
            names.ENV_METADATA_URL: names.METADATA_OFF,
            names.ENV_METADATA_INTERVAL: "0.1",
            names.ENV_POLL_INTERVAL: "0.1",
            names.ENV_LOGS_DIR: str(root / "logs"),
            "STEP_LEDGER": str(self.ledger.path),
            "STEP_DELAY": "0.02",
        }

    def __call__(self, run: moto_patches.JobAttemptRun) -> moto_patches.AttemptEnd:
        if run.job_id not in self._jobs:
            self._jobs.append(run.job_id)
        cancel = self.runnable_cancels.get(self._jobs.index(run.job_id) + 1)
        if cancel is not None:
            return moto_patches.AttemptEnd(None, status_reason=cancel, never_ran=True)
        env = {**run.environment, **self._env, **self.sign_as(run.job_id)}
        env.pop("AWS_ENDPOINT_URL_S3", None)
        env.pop(names.ENV_TOKEN, None)
        spot = self.spot
        reclaimed = (
            spot is not None
            and self._jobs.index(run.job_id) + 1 == spot.job_number
            and run.attempt == spot.attempt
        )
        metadata, vanish = None, threading.Event()
        if reclaimed:
            assert spot is not None
            if spot.notice:
                metadata = FakeMetadata()
                env[names.ENV_METADATA_URL] = metadata.url
            announce = metadata.announce if metadata else vanish.set
            self._after_steps(env[names.ENV_TRIAL_ID], spot.after_steps, run, announce)
        log = self.root / f"job-{run.job_name}-{run.attempt}.log"
        argv = [sys.executable, "-m", "scanfleet.runtime.batch"]
        code = run_process(argv, env=env, cwd=self.root, log=log, stop=run.stopped, vanish=vanish)
        if metadata is not None:
            metadata.close()
        if reclaimed:
            self.spot_notices += 1
            self.steps_before_loss = len(self.steps_of(env[names.ENV_TRIAL_ID]))
            return moto_patches.AttemptEnd(
                None if vanish.is_set() else code,
                status_reason="Host EC2 (instance i-0123456789abcdef0) terminated.",
            )
        return moto_patches.AttemptEnd(code)

    def _after_steps(
        self,
        trial_id: str,
        steps: int,
        run: moto_patches.JobAttemptRun,
        then: Callable[[], object],
    ) -> None:
        def watch() -> None:
            while not run.stopped.is_set():
                if len([s for t, _, s in self.ledger.lines() if t == trial_id]) >= steps:
                    then()
                    return
                time.sleep(0.02)

        threading.Thread(target=watch, daemon=True).start()

    def steps_of(self, trial_id: str) -> list[int]:
        """The steps the trial's runs wrote, in order."""
        return [step for trial, _, step in self.ledger.lines() if trial == trial_id]

    def logs(self) -> str:
        return "\n".join(
            f"== {p.name}\n{p.read_text()}" for p in sorted(self.root.glob("job-*.log"))
        )


@dataclass
class Cloud:
    """The deployment in moto, and what the test needs to drive and observe it."""

    deployment: Deployment
    lambdas: moto_patches.LambdaCalls
    batch: moto_patches.BatchLedger
    jobs: JobRunner
    service: ScanService  # over the same table, for checks
    requests: Requests
    identities: Identities  # IAM users and role sessions in moto
    person: Caller  # the IAM user who creates scans
    gateway: Gateway
    token: str  # the stack's default token (its token secret)
    api_url: str  # where the jobs reach the API (SigV4 as the job role)
    authorized: iam_enforcement.Authorized  # what IAM let through, by whom
    containers: iam_enforcement.FunctionContainers  # each function's own modules

    def function_module(self, handler: str) -> ModuleType:
        """The module of ``handler`` (``lambdas.orchestration.claim``) as its function's
        container has it (imported now if the function has not run yet; set the
        function's environment first)."""
        module_name = handler.rpartition(".")[0]
        return self.containers.module(self.deployment.functions[handler], module_name)

    def invoke(self, handler: str, event: dict[str, Any]) -> Any:
        """Invoke a function of the stack by its handler, through the Lambda API."""
        body, failed = invoke(handler, event, self.deployment.functions)
        assert not failed, body
        return body

    def api(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        caller: Caller | None = None,
        token: str | None = None,
    ) -> tuple[int, Any]:
        """A request to the API Lambda as API Gateway sends it: signed by ``caller`` (default:
        the person), or with ``token`` through the real token authorizer."""
        headers = {"Content-Type": "application/json",
                   names.HEADER_IDEMPOTENCY_KEY: uuid.uuid4().hex}  # fmt: skip
        text = None if body is None else json.dumps(body)
        if token is not None:
            authorizer = self.gateway.authorize(f"Bearer {token}", method, path)
            if authorizer is None:
                return 401, {"message": "Unauthorized"}
            event = self.gateway.event(method, path, text, headers, authorizer=authorizer)
        else:
            caller = caller or self.person
            refused = self.gateway.refusal(caller, method, urlsplit(path).path)
            if refused is not None:
                return 403, {"message": refused}
            event = self.gateway.event(method, path, text, headers, caller=caller)
        answer = self.gateway.api(event)
        return answer["statusCode"], json.loads(answer["body"]) if answer.get("body") else None

    def wait_for_executions_started(self, timeout: float = 10) -> list[str]:
        """ARNs of the RUNNING executions, once there is one."""
        sfn = boto3.client("stepfunctions", region_name=REGION)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            listed = sfn.list_executions(
                stateMachineArn=self.deployment.state_machine_arn, statusFilter="RUNNING"
            )["executions"]
            if listed:
                return [e["executionArn"] for e in listed]
            time.sleep(0.05)
        raise AssertionError("no execution started")

    def wait_for_executions(self, timeout: float = 60) -> list[dict[str, Any]]:
        """Wait until no execution runs; returns every execution."""
        sfn = boto3.client("stepfunctions", region_name=REGION)
        deadline = time.monotonic() + timeout
        while True:
            executions = sfn.list_executions(stateMachineArn=self.deployment.state_machine_arn)[
                "executions"
            ]
            if executions and all(e["status"] != "RUNNING" for e in executions):
                return executions  # type: ignore[no-any-return]
            if time.monotonic() > deadline:
                raise AssertionError(f"executions still running: {executions}\n{self.jobs.logs()}")
            time.sleep(0.1)


@contextlib.contextmanager
def running_cloud(
    template: dict[str, Any], root: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Cloud]:
    """The deployment in moto with every patch on, an API on loopback for the jobs."""
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    fake = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": names.METRICS_NAMESPACE}  # fmt: skip
    for key, value in fake.items():
        monkeypatch.setenv(key, value)
    (root / "steps.py").write_text(STEPS_SCRIPT)
    parameters.clear_caches()  # the functions' secret cache outlives one test's moto
    with contextlib.ExitStack() as stack:
        requests = Requests()
        stack.enter_context(serialized_dynamodb(monkeypatch, requests))
        stack.enter_context(mock_aws(config=MOTO_CONFIG))  # type: ignore[arg-type]
        endpoint = stack.enter_context(moto_server())
        _administrator(monkeypatch)
        deployment = deploy(template, stack_name=STACK_NAME)
        store = DynamoDBTrialStore(
            deployment.table_name, client=boto3.client("dynamodb", region_name=REGION)
        )
        service = ScanService(store)
        identities = Identities()
        role = job_role_name(template)
        lambdas = stack.enter_context(moto_patches.lambda_dispatch(monkeypatch))
        gateway = Gateway(
            lambda handler, event: invoke(handler, event, deployment.functions),
            identities,
            lambda method, path: requests.add(requests.api, _route(method, path)),
        )
        api_url = stack.enter_context(gateway.serving())
        jobs = JobRunner(
            root, api_url, endpoint, lambda job_id: identities.role_session(role, job_id).env()
        )
        [secret] = deployment.secrets.values()
        stack.enter_context(moto_patches.batch_sync_casing(monkeypatch))
        ledger = stack.enter_context(moto_patches.batch_jobs(monkeypatch, jobs))
        stack.enter_context(moto_patches.fast_polls(monkeypatch))
        token = json.loads(secret)["default"]
        person = identities.user("alice", INVOKE_API)
        authorized = iam_enforcement.Authorized()
        containers = function_containers(deployment)
        stack.enter_context(enforced_iam(monkeypatch, template, containers, authorized))
        yield Cloud(deployment, lambdas, ledger, jobs, service, requests, identities, person,
                    gateway, token, api_url, authorized, containers)  # fmt: skip


@dataclass(frozen=True)
class HistoryCount:
    """Events of one execution's history, per kind of step, as the budget counts them."""

    total: int
    visits: dict[str, int]  # state name → times entered
    per_lambda_task: float
    per_batch_task: float
    per_choice: float
    per_wait: float

    @property
    def per_trial(self) -> float:
        """claim → choice → run → finish."""
        return 2 * self.per_lambda_task + self.per_choice + self.per_batch_task


_LAMBDA_EVENTS = ("LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded",
                  "LambdaFunctionFailed", "LambdaFunctionTimedOut")  # fmt: skip
_TASK_EVENTS = ("TaskScheduled", "TaskStarted", "TaskSubmitted", "TaskSucceeded", "TaskFailed")


def count_history(events: list[dict[str, Any]]) -> HistoryCount:
    kinds: dict[str, int] = {}
    visits: dict[str, int] = {}
    for event in events:
        kinds[event["type"]] = kinds.get(event["type"], 0) + 1
        details = event.get("stateEnteredEventDetails")
        if details:
            visits[details["name"]] = visits.get(details["name"], 0) + 1
    lambda_visits = sum(visits.get(s, 0) for s in ("PlanLanes", "ClaimTrial", "FinishTrial",
                                                    "FinaliseScan"))  # fmt: skip
    batch_visits = visits.get("RunTrial", 0)

    def per(visits_n: int, inner: int) -> float:
        return 2 + inner / visits_n if visits_n else 0.0

    return HistoryCount(
        total=len(events),
        visits=visits,
        per_lambda_task=per(lambda_visits, sum(kinds.get(k, 0) for k in _LAMBDA_EVENTS)),
        per_batch_task=per(batch_visits, sum(kinds.get(k, 0) for k in _TASK_EVENTS)),
        per_choice=(kinds.get("ChoiceStateEntered", 0) + kinds.get("ChoiceStateExited", 0))
        / max(1, visits.get("NextStep", 0)),
        per_wait=2.0 if visits.get("Idle") else 0.0,
    )


def execution_history(execution_arn: str) -> list[dict[str, Any]]:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events += page["events"]
    return events
