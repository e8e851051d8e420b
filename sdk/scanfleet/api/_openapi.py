"""The API's OpenAPI document (``GET /openapi.json``): Powertools' document of the routes,
plus what Powertools cannot derive from them.

- **security**: every route but ``/health`` takes a scanfleet bearer token (the local
  server, API Gateway's token authorizer) or an IAM SigV4 signature (API Gateway's IAM
  auth); both are declared as schemes, and ``/health`` as open;
- **links**: how the answer of one operation feeds the next (create a scan → claim a trial
  → report → complete; tags, checkpoints, extend, cancel), so a client generator or a
  stateful fuzzer (schemathesis) can follow a scan's life;
- **no 422**: validation errors are 400 here (``ErrorBody``), and Powertools' validation
  models are dropped with them; **204 has no body** (Powertools would describe one).

Request schemas come from the bodies' models (``scanfleet.api._models``); rules across
fields (``oneOf``) are stated on the model itself.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.models import APIKey, HTTPBearer, SecurityScheme

import scanfleet

BEARER = "bearerAuth"
IAM = "iam"

SECURITY_SCHEMES: dict[str, SecurityScheme] = {
    BEARER: HTTPBearer(
        description=(
            "A scanfleet token: `Authorization: Bearer <token>`. Locally the tokens of"
            " `<state>/tokens.json`; in AWS the keys of the token secret, checked by the"
            " API's Lambda authorizer. Each token is its own owner."
        ),
    ),
    IAM: APIKey.model_validate(
        {
            "type": "apiKey",
            "name": "Authorization",
            "in": "header",
            "description": (
                "AWS Signature Version 4 (API Gateway's IAM auth, the stack's `ApiUrl`): the"
                " caller's IAM user or role is the owner. Not served by `scanfleet local`."
            ),
            "x-amazon-apigateway-authtype": "awsSigv4",
        }
    ),
}
SECURITY: list[dict[str, list[str]]] = [{BEARER: []}, {IAM: []}]  # either one
OPEN_OPERATIONS = frozenset({"health"})  # served without an identity

# ---- links: (source operation, its answers) → [(name, target operation, parameters, body)] --

_SCAN_OF_SUMMARY = "$response.body#/scan/scan_id"
_SCAN_OF_TRIAL = "$response.body#/scan_id"
_TRIAL = "$response.body#/trial_id"
_TRIAL_OF_PATH = "$request.path.trial_id"
_ATTEMPT = {"attempt": "$response.body#/attempt"}
_HOLDER = {"worker_id": "$response.body#/worker_id", "attempt": "$response.body#/attempt"}

Link = tuple[str, str, dict[str, str], dict[str, str] | None]


def _scan_links(scan_id: str, *targets: str) -> list[Link]:
    return [(target, target, {"scan_id": scan_id}, None) for target in targets]


def _trial_links(trial_id: str, *targets: str, held: bool = True) -> list[Link]:
    """Links to the operations of one trial; ``held``: the source answered the trial as
    its worker holds it, so its attempt (and worker) go into the body."""
    bodies = {"heartbeatTrial": _HOLDER, "completeTrial": _ATTEMPT}
    bodies |= {"pruneTrial": _ATTEMPT, "failTrial": _ATTEMPT}
    return [
        (target, target, {"trial_id": trial_id}, bodies.get(target) if held else None)
        for target in targets
    ]


_SCAN_OPERATIONS = (
    "getScan",
    "listTrials",
    "getIntermediateValues",
    "getBestTrials",
    "addTrial",
    "claimNextTrial",
    "setScanStatus",
    "extendScan",
    "gatherSeeds",
    "cancelScan",
    "deleteScan",
)
_HELD_TRIAL_OPERATIONS = (
    "getTrial",
    "heartbeatTrial",
    "reportValue",
    "recordCheckpoint",
    "completeTrial",
    "pruneTrial",
    "failTrial",
    "tagTrial",
)
_FINISHED_TRIAL_SCAN_OPERATIONS = (
    "getBestTrials",
    "gatherSeeds",
    "extendScan",
    "claimNextTrial",
    "listTrials",
    "getIntermediateValues",
)

# Only operations that hand out something new link onward: a stateful fuzzer also calls
# every linking operation with made-up ids, so a link from each operation would spend its
# steps on 404s.
LINKS: dict[str, list[Link]] = {
    "createScan": _scan_links(_SCAN_OF_SUMMARY, *_SCAN_OPERATIONS),
    "extendScan": _scan_links(_SCAN_OF_SUMMARY, "claimNextTrial", "getScan"),
    "claimNextTrial": _trial_links(_TRIAL, *_HELD_TRIAL_OPERATIONS),
    "claimTrial": _trial_links(_TRIAL, *_HELD_TRIAL_OPERATIONS),
    "addTrial": _trial_links(_TRIAL, "claimTrial", "getTrial", "tagTrial", held=False),
    "reportValue": _trial_links(
        _TRIAL_OF_PATH, "reportValue", "recordCheckpoint", "completeTrial", "pruneTrial", held=False
    ),
    "completeTrial": [
        *_trial_links(_TRIAL, "getTrial", "tagTrial", held=False),
        *_scan_links(_SCAN_OF_TRIAL, *_FINISHED_TRIAL_SCAN_OPERATIONS),
    ],
}


def openapi_document(app: APIGatewayRestResolver) -> str:
    """The OpenAPI 3.1 document of ``app``'s routes, as JSON text."""
    text = app.get_openapi_json_schema(
        title="scanfleet",
        version=scanfleet.__version__,
        security_schemes=SECURITY_SCHEMES,
        security=SECURITY,
    )
    doc = json.loads(text)
    operations = {
        op["operationId"]: op for ops in doc.get("paths", {}).values() for op in ops.values()
    }
    for operation_id, operation in operations.items():
        responses = operation.get("responses", {})
        responses.pop("422", None)
        if "204" in responses:  # Powertools gives it the handler's return type
            responses["204"].pop("content", None)
        if operation_id in OPEN_OPERATIONS:
            operation["security"] = []
    schemas = doc.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(unused, None)
    _add_links(operations)
    return json.dumps(doc, indent=2)


def _add_links(operations: dict[str, dict[str, Any]]) -> None:
    """The links of ``LINKS`` on every success answer (200, 201) of their source."""
    for source, links in LINKS.items():
        for status, response in operations[source]["responses"].items():
            if status not in ("200", "201"):
                continue
            out = response.setdefault("links", {})
            for name, target, parameters, body in links:
                if target not in operations:
                    raise KeyError(f"link {source} → {target}: no operation {target!r}")
                link: dict[str, Any] = {"operationId": target, "parameters": dict(parameters)}
                if body:
                    link["requestBody"] = dict(body)
                out[name] = link
