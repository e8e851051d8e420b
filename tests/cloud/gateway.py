"""API Gateway as the stack deploys it, on loopback, for the cloud tier: each request's
``requestContext`` built the way API Gateway builds it, then the API Lambda invoked with it.

- SigV4 (the IAM endpoint): the caller is whoever the request's access key belongs to in
  moto's IAM/STS: an IAM user (``arn:aws:iam::<acct>:user/<name>``, id ``AIDA...``), or an
  assumed role with its session name (``arn:aws:sts::<acct>:assumed-role/<Role>/<session>``,
  id ``AROA...:<session>``: the stack's job role in a Batch job, an agent's instance
  profile). API Gateway puts ``accountId``, ``caller``, ``user``, ``userArn`` and
  ``accessKey`` in ``requestContext.identity``. (The signature itself is not verified
  here: moto's STS says whose key it is, which is what the API sees.)
- Bearer tokens (the token endpoint): the REAL authorizer function (``lambdas/authorizer.py``,
  through moto's Lambda) decides; its ``principalId`` and ``context`` become
  ``requestContext.authorizer``; a refusal is API Gateway's 401 ``{"message":
  "Unauthorized"}``.

Nothing here names an owner: who owns what is the API's business.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3

from tests.cloud.deploy import ACCOUNT, IAM_API_ID, REGION
from tests.cloud.iam_enforcement import Credentials, mint_role_session, permitted

EVENTS = Path(__file__).resolve().parents[1] / "events"
STAGE = "v1"  # the stage the stack deploys (infra/api.py)
API_ID = IAM_API_ID
_CREDENTIAL = re.compile(r"Credential=([A-Z0-9]+)/")
_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["ecs-tasks.amazonaws.com", "ec2.amazonaws.com"]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


@dataclass(frozen=True)
class Caller:
    """An AWS identity with its credentials, as STS names it."""

    arn: str
    account: str
    user_id: str  # AIDA... for a user, AROA...:<session> for a role session
    access_key: str
    secret_key: str
    session_token: str | None = None

    @property
    def credentials(self) -> Credentials:
        return Credentials(self.access_key, self.secret_key, self.session_token)

    def env(self) -> dict[str, str]:
        """The credentials in the environment of a process that signs as this caller."""
        return self.credentials.env()

    def identity(self) -> dict[str, Any]:
        """``requestContext.identity`` of a SigV4 request API Gateway let in."""
        return {
            "cognitoIdentityPoolId": None,
            "accountId": self.account,
            "cognitoIdentityId": None,
            "caller": self.user_id,
            "sourceIp": "127.0.0.1",
            "principalOrgId": None,
            "accessKey": self.access_key,
            "cognitoAuthenticationType": None,
            "cognitoAuthenticationProvider": None,
            "userArn": self.arn,
            "userAgent": "scanfleet",
            "user": self.user_id,
        }


class Identities:
    """IAM users and role sessions made in moto (call inside ``mock_aws``), found again by
    their access key id."""

    def __init__(self) -> None:
        self.iam = boto3.client("iam", region_name=REGION)
        self.sts = boto3.client("sts", region_name=REGION)
        self.by_key: dict[str, Caller] = {}

    def user(self, name: str, statements: list[dict[str, Any]] | None = None) -> Caller:
        """A person: an IAM user with an access key and, if given, an inline policy."""
        self.iam.create_user(UserName=name)
        if statements:
            document = json.dumps({"Version": "2012-10-17", "Statement": statements})
            self.iam.put_user_policy(UserName=name, PolicyName="scanfleet", PolicyDocument=document)
        key = self.iam.create_access_key(UserName=name)["AccessKey"]
        return self._named(key["AccessKeyId"], key["SecretAccessKey"], None)

    def role_session(self, role_name: str, session: str, account: str = ACCOUNT) -> Caller:
        """A session of a role (a Batch job's job role, an instance profile's role), as STS
        issues it to the service the role trusts. A role of this account that does not
        exist yet is made without any policy."""
        if account == ACCOUNT:
            with contextlib.suppress(self.iam.exceptions.EntityAlreadyExistsException):
                self.iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=_TRUST)
        minted = mint_role_session(f"arn:aws:iam::{account}:role/{role_name}", session, REGION)
        return self._named(minted.access_key, minted.secret_key, minted.session_token)

    def _named(self, key: str, secret: str, token: str | None) -> Caller:
        who = boto3.client(
            "sts",
            region_name=REGION,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            aws_session_token=token,
        ).get_caller_identity()
        caller = Caller(who["Arn"], who["Account"], who["UserId"], key, secret, token)
        self.by_key[key] = caller
        return caller

    def of_request(self, authorization: str) -> Caller | None:
        found = _CREDENTIAL.search(authorization)
        return self.by_key.get(found.group(1)) if found else None


def invoke(handler: str, event: dict[str, Any], functions: dict[str, str]) -> tuple[Any, bool]:
    """Invoke a function of the stack by its handler, through the Lambda API: its answer,
    and whether it was a function error."""
    answer = boto3.client("lambda", region_name=REGION).invoke(
        FunctionName=functions[handler], Payload=json.dumps(event).encode()
    )
    return json.loads(answer["Payload"].read()), "FunctionError" in answer


Invoke = Callable[[str, dict[str, Any]], tuple[dict[str, Any], bool]]
"""Invoke a function of the stack by its handler: (answer, whether it was a function error)."""


class Gateway:
    """The REST API's two endpoints in one: a SigV4 request is an IAM call, a Bearer one
    goes through the token authorizer. ``count``: called with (method, path) of each HTTP
    request the API Lambda serves (what the jobs ask)."""

    def __init__(
        self, invoke: Invoke, identities: Identities, count: Callable[[str, str], None]
    ) -> None:
        self.invoke = invoke
        self.identities = identities
        self.count = count
        self._lambda = threading.Lock()  # one request at a time per container, as in Lambda
        self.callers: list[str] = []  # who each HTTP request came from (ARN or principal)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @contextlib.contextmanager
    def serving(self) -> Iterator[str]:
        thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield self.url
        finally:
            self.httpd.shutdown()
            self.httpd.server_close()
            thread.join(timeout=5)

    def event(
        self,
        method: str,
        target: str,
        body: str | None,
        headers: dict[str, str],
        *,
        caller: Caller | None = None,
        authorizer: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The REST proxy event of one request with the identity API Gateway found."""
        event = copy.deepcopy(_TEMPLATE)
        parts = urlsplit(target)
        query = parse_qs(parts.query, keep_blank_values=True)
        event.update(
            {
                "path": parts.path,
                "httpMethod": method,
                "headers": headers,
                "multiValueHeaders": {k: [v] for k, v in headers.items()},
                "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
                "multiValueQueryStringParameters": query or None,
                "pathParameters": {"proxy": parts.path.lstrip("/")},
                "body": body,
            }
        )
        ctx = event["requestContext"]
        ctx.update(
            {
                "httpMethod": method,
                "path": f"/{STAGE}{parts.path}",
                "stage": STAGE,
                "requestId": str(uuid.uuid4()),
                "accountId": ACCOUNT,
                "identity": caller.identity() if caller else _anonymous_identity(),
                "authorizer": authorizer,
            }
        )
        return event

    def refusal(self, caller: Caller, method: str, path: str) -> str | None:
        """Why API Gateway refuses a SigV4 request of ``caller`` (None: it may invoke): IAM
        authorization asks for ``execute-api:Invoke`` on the method's ARN in the caller's
        policies; the API has no resource policy, so no other account may call it."""
        resource = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/{STAGE}/{method}{path}"
        if caller.account == ACCOUNT and permitted(
            caller.credentials, caller.account, "execute-api:Invoke", resource
        ):
            return None
        action = "execute-api:Invoke"
        return f"User: {caller.arn} is not authorized to perform: {action} on resource: {resource}"

    def authorize(self, authorization: str, method: str, path: str) -> dict[str, Any] | None:
        """The token authorizer's answer as ``requestContext.authorizer`` (None: 401)."""
        method_arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/{STAGE}/{method}{path}"
        event = {"type": "TOKEN", "authorizationToken": authorization, "methodArn": method_arn}
        answer, failed = self.invoke("lambdas.authorizer.handler", event)
        if failed:
            return None
        return {"principalId": answer["principalId"], **(answer.get("context") or {})}

    def api(self, event: dict[str, Any]) -> dict[str, Any]:
        with self._lambda:
            answer, failed = self.invoke("lambdas.api.handler", event)
        assert not failed, answer
        return answer

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """One HTTP request as API Gateway serves it."""
        authorization = headers.get("Authorization") or headers.get("authorization") or ""
        path = urlsplit(target).path
        text = body.decode() if body else None
        if authorization.startswith("AWS4-HMAC-SHA256"):
            caller = self.identities.of_request(authorization)
            if caller is None:  # API Gateway: the key is not known to IAM
                return _gateway_error(403, "The security token included in the request is invalid")
            refused = self.refusal(caller, method, path)
            if refused is not None:
                return _gateway_error(403, refused)
            event = self.event(method, target, text, headers, caller=caller)
            self.callers.append(caller.arn)
        elif authorization.lower().startswith("bearer "):
            authorizer = self.authorize(authorization, method, path)
            if authorizer is None:
                return _gateway_error(401, "Unauthorized")
            event = self.event(method, target, text, headers, authorizer=authorizer)
            self.callers.append(str(authorizer["principalId"]))
        else:
            return _gateway_error(403, "Missing Authentication Token")
        answer = self.api(event)
        self.count(method, path)
        out = dict(answer.get("headers") or {})
        return int(answer["statusCode"]), out, (answer.get("body") or "").encode()


_TEMPLATE = json.loads((EVENTS / "api_gateway_create_scan.json").read_text())


def _anonymous_identity() -> dict[str, Any]:
    return {**_TEMPLATE["requestContext"]["identity"], "sourceIp": "127.0.0.1"}


def _gateway_error(status: int, message: str) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": "AccessDeniedException"}
    return status, headers, json.dumps({"message": message}).encode()


def _handler(gateway: Gateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k: v for k, v in self.headers.items()}
            status, out, data = gateway.handle(self.command, self.path, headers, body)
            self.send_response(status)
            for key, value in out.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
