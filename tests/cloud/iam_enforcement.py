"""IAM as AWS enforces it, for the cloud tier: every request to moto is authenticated and
authorized against the policies of the identity that signed it.

moto 5.2.5 checks a request's signature and its action against the caller's policies
(``enable_iam_authentication``), but it authorizes every action except S3's on the
resource ``*``, so a policy scoped to an ARN (what the synthesised template grants) allows
nothing. Here each action the stack uses is authorized on the resource(s) AWS authorizes it
on (the service authorization reference: a DynamoDB request on its table or index, a
transaction item by its own action; Lambda ``Invoke`` as ``lambda:InvokeFunction`` on the
function; ``states:StartExecution`` on the state machine; ``batch:SubmitJob`` on the job
queue AND the job definition; ``batch:TerminateJob`` on the job; a secret by its ARN). An
action the table does not know falls back to moto's ``*``, which a scoped policy refuses:
a gap here fails loudly, never silently allows.

Who signs what, as on AWS:
- each Lambda function signs with a session of its own execution role: the function runs
  in this process (``moto_patches.lambda_dispatch``), in its own copy of its handler module
  (a container of its own, so one function's clients never carry another's credentials),
  and every boto3 client it makes gets its role's session credentials
  (:func:`function_credentials`);
- Step Functions calls Lambda and Batch with a session of the state machine's role
  (moto's ``boto_client_for`` signs with fixed keys; it is pointed at that session);
- a Batch job signs with its job role and an agent with its instance profile's role (the
  child processes get those sessions' credentials in their environment);
- the test itself (deploying, looking at moto's state) signs as an administrator.

A role session is minted by STS for the AWS service the role trusts (Lambda, Batch, EC2),
so it is taken from moto's STS backend directly rather than asked for by the
administrator, whom no trust policy names.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib.util
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

ADMIN_POLICY = {"Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}  # fmt: skip


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    session_token: str | None = None

    def env(self) -> dict[str, str]:
        env = {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}
        if self.session_token:
            env["AWS_SESSION_TOKEN"] = self.session_token
        return env

    def client_arguments(self) -> dict[str, Any]:
        return {
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key,
            "aws_session_token": self.session_token,
        }


def mint_role_session(role_arn: str, session: str, region: str) -> Credentials:
    """A session of ``role_arn`` as STS issues it to the service the role trusts."""
    from moto.sts.models import sts_backends

    account = role_arn.split(":")[4]
    role = sts_backends[account]["aws"].assume_role(
        region_name=region,
        role_session_name=session,
        role_arn=role_arn,
        policy="",
        duration=3600,
        external_id="",
    )
    return Credentials(role.access_key_id, role.secret_access_key, role.session_token)


# ---- resources AWS authorizes each action on ---------------------------------------------

_TRANSACT_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                     "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}  # fmt: skip
_IAM_ACTION = {"lambda:Invoke": "lambda:InvokeFunction"}  # API operation → IAM action


@dataclass(frozen=True)
class Request:
    """What a resource lookup needs of one request."""

    service: str
    action: str  # the API operation, e.g. "SubmitJob"
    region: str
    account: str
    path: str
    body: dict[str, Any]


Check = tuple[str, str]  # (IAM action, resource ARN)


def _arn(request: Request, service: str, rest: str) -> str:
    return f"arn:aws:{service}:{request.region}:{request.account}:{rest}"


def _table(request: Request, name: str) -> str:
    return _arn(request, "dynamodb", f"table/{name}")


def _dynamodb(request: Request) -> list[Check]:
    body = request.body
    if request.action in ("TransactWriteItems", "TransactGetItems"):
        items = [next(iter(item.items())) for item in body.get("TransactItems", [])]
        return [
            (f"dynamodb:{_TRANSACT_ACTIONS[kind]}", _table(request, spec["TableName"]))
            for kind, spec in items
        ]
    if request.action in ("BatchWriteItem", "BatchGetItem"):
        tables = body.get("RequestItems", {})
        return [
            (f"dynamodb:{request.action}", _arn(request, "dynamodb", f"table/{t}")) for t in tables
        ]
    table = _arn(request, "dynamodb", f"table/{body.get('TableName', '*')}")
    index = body.get("IndexName")
    return [(f"dynamodb:{request.action}", f"{table}/index/{index}" if index else table)]


def _lambda(request: Request) -> list[Check]:
    parts = [unquote(p) for p in request.path.split("/") if p]
    if "functions" not in parts or parts.index("functions") + 1 >= len(parts):
        return [(f"lambda:{request.action}", "*")]
    name = parts[parts.index("functions") + 1]
    arn = name if name.startswith("arn:") else _arn(request, "lambda", f"function:{name}")
    action = _IAM_ACTION.get(f"lambda:{request.action}", f"lambda:{request.action}")
    return [(action, arn)]


def _states(request: Request) -> list[Check]:
    body = request.body
    arn = body.get("stateMachineArn") or body.get("executionArn") or "*"
    return [(f"states:{request.action}", arn)]


def _batch(request: Request) -> list[Check]:
    body, action = request.body, f"batch:{request.action}"
    if request.action == "SubmitJob":
        queue, definition = body.get("jobQueue", ""), body.get("jobDefinition", "")
        if not queue.startswith("arn:"):
            queue = _arn(request, "batch", f"job-queue/{queue}")
        if not definition.startswith("arn:"):
            definition = _arn(request, "batch", f"job-definition/{definition}")
        return [(action, queue), (action, definition)]
    if request.action in ("TerminateJob", "CancelJob"):
        return [(action, _arn(request, "batch", f"job/{body.get('jobId', '')}"))]
    if request.action == "RegisterJobDefinition":
        return [(action, _arn(request, "batch", f"job-definition/{body.get('jobDefinitionName')}"))]
    if request.action in ("TagResource", "UntagResource"):
        return [(action, unquote(request.path.split("/v1/tags/", 1)[-1]))]
    return [(action, "*")]  # Describe*, List*: no resource-level permissions


def _secretsmanager(request: Request) -> list[Check]:
    from moto.secretsmanager.models import secretsmanager_backends

    secret_id = str(request.body.get("SecretId", "*"))
    backend = secretsmanager_backends[request.account][request.region]
    with contextlib.suppress(Exception):  # unknown: AWS answers ResourceNotFound after auth
        secret_id = backend.describe_secret(secret_id).arn
    return [(f"secretsmanager:{request.action}", secret_id)]


RESOURCES: dict[str, Callable[[Request], list[Check]]] = {
    "dynamodb": _dynamodb,
    "lambda": _lambda,
    "states": _states,
    "batch": _batch,
    "secretsmanager": _secretsmanager,
}


_BOTOCORE_NAME = {"states": "stepfunctions"}  # signing name → botocore's service name


@functools.cache
def _operations(service: str) -> dict[str, str]:
    """The service's operation names by their lower case (moto names a REST operation by
    its URL: ``describejobdefinitions``; IAM by the operation: ``DescribeJobDefinitions``)."""
    import botocore.session

    try:
        model = botocore.session.get_session().get_service_model(
            _BOTOCORE_NAME.get(service, service)
        )
    except Exception:  # not a service botocore knows: keep moto's name
        return {}
    return {name.lower(): name for name in model.operation_names}


def checks_of(request: Request) -> list[Check]:
    """The (action, resource) pairs AWS authorizes for one request."""
    action = _operations(request.service).get(request.action.lower(), request.action)
    request = dataclasses.replace(request, action=action)
    lookup = RESOURCES.get(request.service)
    if lookup is None:
        return [(f"{request.service}:{request.action}", "*")]
    return lookup(request)


# ---- the patches -------------------------------------------------------------------------


@dataclass
class Authorized:
    """Every (principal ARN, IAM action, resource) moto let through, in order."""

    checks: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def add(self, principal: str, action: str, resource: str) -> None:
        with self.lock:
            self.checks.append((principal, action, resource))

    def by(self, role_name: str) -> set[str]:
        """The actions sessions of ``role_name`` were allowed."""
        marker = f":assumed-role/{role_name}/"
        return {action for who, action, _ in self.checks if marker in who}


@contextlib.contextmanager
def resource_level_authorization(
    monkeypatch: pytest.MonkeyPatch, authorized: Authorized
) -> Iterator[None]:
    """Every request moto authorizes the normal way is authorized per :func:`checks_of`;
    what passes is recorded in ``authorized``."""
    from moto.core.responses import BaseResponse
    from moto.iam.access_control import IAMRequest, S3IAMRequest

    class ResourceRequest(IAMRequest):
        def check_action_permitted(self, resource: str) -> None:
            if resource != "*":  # the response named it (STS AssumeRole, SQS): moto's way
                super().check_action_permitted(resource)
                authorized.add(self._access_key.arn, self._action, resource)
                return
            service, _, action = self._action.partition(":")
            try:
                body = json.loads(self._body or b"{}")
            except (ValueError, TypeError):
                body = {}
            path = urlsplit(self._path).path
            body = body if isinstance(body, dict) else {}
            request = Request(service, action, self._region, self.account_id, path, body)
            for iam_action, arn in checks_of(request):
                self._action = iam_action
                super().check_action_permitted(arn)
                authorized.add(self._access_key.arn, iam_action, arn)

    class RecordedS3Request(S3IAMRequest):  # moto names S3's resources itself
        def check_action_permitted(self, resource: str) -> None:
            super().check_action_permitted(resource)
            authorized.add(self._access_key.arn, self._action, resource)

    def authorize(self: Any, resource: str = "*") -> None:
        self._authenticate_and_authorize_action(ResourceRequest, resource)

    def authorize_s3(
        self: Any, bucket_name: str | None = None, key_name: str | None = None
    ) -> None:
        where = f"{bucket_name or '*'}/{key_name}" if key_name else (bucket_name or "*")
        self._authenticate_and_authorize_action(RecordedS3Request, f"arn:aws:s3:::{where}")

    monkeypatch.setattr(BaseResponse, "_authenticate_and_authorize_normal_action", authorize)
    monkeypatch.setattr(BaseResponse, "_authenticate_and_authorize_s3_action", authorize_s3)
    yield


def permitted(caller: Credentials, account: str, action: str, resource: str) -> bool:
    """Whether the identity of ``caller`` may ``action`` on ``resource`` (API Gateway's
    check of ``execute-api:Invoke`` for a SigV4 request)."""
    from moto.iam.access_control import IAMPolicy, PermissionResult, create_access_key

    headers = {"X-Amz-Security-Token": caller.session_token} if caller.session_token else {}
    key = create_access_key(account, "aws", caller.access_key, headers)
    results = [IAMPolicy(p).is_action_permitted(action, resource) for p in key.collect_policies()]
    return PermissionResult.DENIED not in results and PermissionResult.PERMITTED in results


# ---- who signs: a function, the state machine --------------------------------------------

_signing = threading.local()


@contextlib.contextmanager
def signing_as(credentials: Credentials) -> Iterator[None]:
    """boto3 clients made in this thread meanwhile carry ``credentials`` (as the Lambda
    runtime puts its role's in a function's environment)."""
    before = getattr(_signing, "credentials", None)
    _signing.credentials = credentials
    try:
        yield
    finally:
        _signing.credentials = before


@contextlib.contextmanager
def function_credentials(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """boto3 ``Session.client`` without explicit keys, in a thread that is
    :func:`signing_as` someone, gets that someone's credentials."""
    import boto3.session

    original = boto3.session.Session.client

    def client(self: Any, *args: Any, **kwargs: Any) -> Any:
        credentials = getattr(_signing, "credentials", None)
        if credentials is not None and not kwargs.get("aws_access_key_id"):
            kwargs.update(credentials.client_arguments())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(boto3.session.Session, "client", client)
    yield


class FunctionContainers:
    """Each function's own copies of the modules it runs, imported while signing as the
    function's role (a Lambda container: its import-time clients are its own, and nothing
    of it outlives the test's moto)."""

    def __init__(self, role_session: Callable[[str], Credentials]) -> None:
        self.role_session = role_session  # function name → its role's session
        self._modules: dict[tuple[str, str], ModuleType] = {}
        self._lock = threading.RLock()

    def module(self, function_name: str, module_name: str) -> ModuleType:
        """``module_name`` as the container of ``function_name`` has it."""
        with self._lock:
            key = (function_name, module_name)
            if key not in self._modules:
                found = importlib.util.find_spec(module_name)
                assert found is not None and found.loader is not None, module_name
                module = importlib.util.module_from_spec(found)
                with signing_as(self.role_session(function_name)):
                    found.loader.exec_module(module)
                self._modules[key] = module
            return self._modules[key]

    def handler(self, function_name: str, spec: str) -> Callable[[dict[str, Any], Any], Any]:
        module_name, _, attribute = spec.rpartition(".")
        return getattr(self.module(function_name, module_name), attribute)  # type: ignore[no-any-return]


_running = threading.local()  # the function this thread runs now, and its containers


def container_module(module_name: str) -> ModuleType:
    """``module_name`` as the container of the function running in this thread has it (for
    a test's handler that wraps one of the stack's)."""
    return _running.containers.module(_running.function, module_name)  # type: ignore[no-any-return]


@contextlib.contextmanager
def functions_sign_as_their_roles(
    monkeypatch: pytest.MonkeyPatch, containers: FunctionContainers
) -> Iterator[None]:
    """Each invocation runs in its function's container, signing as its role. Wraps the
    dispatch ``moto_patches.lambda_dispatch`` installed (enter that first)."""
    from moto.awslambda_simple.models import LambdaSimpleBackend

    from tests.cloud import moto_patches

    dispatch = LambdaSimpleBackend.invoke

    def invoke(self: Any, function_name: str, qualifier: str | None, *args: Any) -> Any:
        fn = self.get_function(function_name, qualifier)
        before = getattr(_running, "function", None), getattr(_running, "containers", None)
        _running.function, _running.containers = fn.function_name, containers
        try:
            with signing_as(containers.role_session(fn.function_name)):
                return dispatch(self, function_name, qualifier, *args)
        finally:
            _running.function, _running.containers = before

    def handler_function(spec: str) -> Callable[[dict[str, Any], Any], Any]:
        return containers.handler(_running.function, spec)

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)
    monkeypatch.setattr(moto_patches, "_handler_function", handler_function)
    yield


@contextlib.contextmanager
def state_machine_signs_as(
    monkeypatch: pytest.MonkeyPatch, credentials: Callable[[], Credentials]
) -> Iterator[None]:
    """moto's Step Functions calls Lambda and Batch as the state machine's role: its
    ``boto_client_for`` (imported by name across the parser) signs with the fixed keys
    ``ak``/``sk`` through the ``boto3`` its module holds; that ``boto3`` is given the
    role's session instead."""
    import boto3
    from moto.stepfunctions.parser.asl.utils import boto_client

    def client(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("aws_access_key_id") == "ak":
            kwargs.update(credentials().client_arguments())
        return boto3.client(*args, **kwargs)

    monkeypatch.setattr(boto_client, "boto3", _Boto3(client))
    yield


class _Boto3:
    """``boto3`` as moto's ``boto_client`` module uses it (``boto3.client`` only)."""

    def __init__(self, client: Callable[..., Any]) -> None:
        self.client = client
