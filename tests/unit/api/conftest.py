"""The resolver over a real SQLite store, driven with API Gateway REST proxy events built
from the realistic event in tests/events/."""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from scanfleet.api import build_app
from scanfleet.artifacts import CheckpointCopier
from scanfleet.service import ScanService
from scanfleet.store import SQLiteTrialStore

from tests.unit.api.routes import GRID

if TYPE_CHECKING:
    from tests.conftest import FakeClock

EVENTS = Path(__file__).resolve().parents[2] / "events"
_TEMPLATE = json.loads((EVENTS / "api_gateway_create_scan.json").read_text())
_owners = itertools.count(1)


class FakeLambdaContext:
    function_name = "scanfleet-api"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:scanfleet-api"
    aws_request_id = "52fdfc07-2182-154f-163f-5f0f9a621d72"


def gateway_event(
    method: str,
    target: str,
    body: Any = None,
    *,
    owner: str | None,
    raw: bytes | str | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A REST proxy event as API Gateway sends it through a ``{proxy+}`` resource."""
    event = copy.deepcopy(_TEMPLATE)
    parts = urlsplit(target)
    query = parse_qs(parts.query, keep_blank_values=True)
    all_headers = {k: v for k, v in event["headers"].items() if k != "Idempotency-Key"}
    all_headers.update(headers or {})
    if isinstance(raw, bytes):
        raw = raw.decode()
    event.update(
        path=parts.path,
        httpMethod=method,
        headers=all_headers,
        multiValueHeaders={k: [v] for k, v in all_headers.items()},
        queryStringParameters={k: v[-1] for k, v in query.items()} or None,
        multiValueQueryStringParameters=query or None,
        pathParameters={"proxy": parts.path.lstrip("/")},
        body=raw if raw is not None else (json.dumps(body) if body is not None else None),
    )
    ctx = event["requestContext"]
    ctx.update(httpMethod=method, path=f"/prod{parts.path}")
    ctx["authorizer"] = {"principalId": owner, "integrationLatency": 3} if owner else None
    return event


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def code(self) -> str:
        return str(self.body["error"]["code"])


class Api:
    """Calls the resolver the way API Gateway does, as one owner."""

    def __init__(self, app: APIGatewayRestResolver, owner: str) -> None:
        self.app = app
        self.owner = owner

    def as_owner(self, owner: str | None) -> Api:
        return Api(self.app, owner)  # type: ignore[arg-type]

    def resolve(self, event: dict[str, Any]) -> Answer:
        result = self.app.resolve(event, FakeLambdaContext())  # type: ignore[arg-type]
        headers = dict(result.get("headers") or {})
        for key, values in (result.get("multiValueHeaders") or {}).items():
            headers[key] = ", ".join(values)
        text = result.get("body") or ""
        return Answer(result["statusCode"], json.loads(text) if text else None, headers)

    def __call__(
        self,
        method: str,
        target: str,
        body: Any = None,
        *,
        raw: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        event = gateway_event(method, target, body, owner=self.owner, raw=raw, headers=headers)
        return self.resolve(event)

    def create_scan(self, config: dict[str, Any] | None = None, name: str = "g") -> str:
        answer = self("POST", "/scans", {"name": name, "config": config or GRID})
        assert answer.status == 201, answer.body
        return str(answer.body["scan"]["scan_id"])


@pytest.fixture
def service(tmp_path: Path, clock: FakeClock) -> ScanService:
    copier = CheckpointCopier(root="s3://bucket/checkpoints")  # as the API Lambda's
    return ScanService(SQLiteTrialStore(tmp_path / "scanfleet.db"), now=clock, artifacts=copier)


@pytest.fixture
def app(service: ScanService) -> APIGatewayRestResolver:
    return build_app(service)


@pytest.fixture
def api(app: APIGatewayRestResolver) -> Api:
    return Api(app, f"tok-owner-{next(_owners)}")
