"""Every route of the HTTP API with a valid body, and the bad input each must refuse.

One table for both tiers: tests/unit/api drives the resolver with API Gateway events,
tests/functional drives the local server over HTTP with the same cases.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

GRID = {
    "strategy": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"a": {"values": [1, 2]}, "b": {"value": "x"}},
}


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # with {scan} and {trial} for the ids
    body: dict[str, Any] | None = None  # a valid body; None: the route takes none
    required: tuple[str, ...] = ()
    out_of_range: dict[str, Any] = field(default_factory=dict)

    def path(self, scan: str = "", trial: str = "") -> str:
        return self.template.replace("{scan}", scan).replace("{trial}", trial)

    @property
    def name(self) -> str:
        return f"{self.method} {self.template}"

    @property
    def takes_scan_id(self) -> bool:
        return "{scan}" in self.template

    @property
    def takes_trial_id(self) -> bool:
        return "{trial}" in self.template


CREATE = Route(
    "POST",
    "/scans",
    {"name": "g", "config": GRID},
    required=("name", "config"),
    out_of_range={"name": ""},
)
ROUTES = [
    CREATE,
    Route("GET", "/scans"),
    Route("GET", "/scans/{scan}"),
    Route("DELETE", "/scans/{scan}"),
    Route("POST", "/scans/{scan}/cancel"),
    Route("POST", "/scans/{scan}/status", {"status": "COMPLETED"}, ("status",), {"status": "X"}),
    Route("POST", "/scans/{scan}/extend", {"max_run": 50}, ("max_run",), {"max_run": 0}),
    Route("GET", "/scans/{scan}/trials"),
    Route("GET", "/scans/{scan}/intermediate-values"),
    Route("POST", "/scans/{scan}/trials", {"params": {"a": 1}}, ("params",)),
    Route(
        "POST",
        "/scans/{scan}/trials/claim",
        {"worker_id": "w", "lease_seconds": 30},
        ("worker_id",),
        {"worker_id": "", "lease_seconds": 0},
    ),
    Route("GET", "/scans/{scan}/best-trials"),
    Route("POST", "/scans/{scan}/seeds", {"n": 3}, ("n",), {"n": 0}),
    Route("POST", "/trials/{trial}/tags", {"tags": {"k": "v"}}, ("tags",), {"tags": {}}),
    Route("GET", "/trials/{trial}"),
    Route(
        "POST",
        "/trials/{trial}/claim",
        {"worker_id": "w", "lease_seconds": 30},
        ("worker_id",),
        {"worker_id": "", "lease_seconds": -1},
    ),
    Route(
        "POST",
        "/trials/{trial}/heartbeat",
        {"worker_id": "w", "attempt": 1},
        ("worker_id", "attempt"),
        {"attempt": 0},
    ),
    Route(
        "POST",
        "/trials/{trial}/reports",
        {"metric": "loss", "step": 1, "value": 0.5},
        ("metric", "step", "value"),
        {"step": -1, "metric": ""},
    ),
    Route(
        "POST",
        "/trials/{trial}/checkpoints",
        {"step": 1, "uri": "file:///tmp/c"},
        ("step", "uri"),
        {"step": -1, "uri": ""},
    ),
    Route("POST", "/trials/{trial}/complete", {"value": 0.5, "attempt": 1}, (), {"attempt": 0}),
    Route("POST", "/trials/{trial}/prune", {"attempt": 1}, (), {"attempt": 0}),
    Route(
        "POST",
        "/trials/{trial}/fail",
        {"reason": "boom", "attempt": 1, "preempted": False, "retry": True},
        ("reason",),
        {"reason": ""},
    ),
]
WITH_BODY = [r for r in ROUTES if r.body is not None]
WITH_IDS = [r for r in ROUTES if r.takes_scan_id or r.takes_trial_id]
OPEN = [Route("GET", "/health"), Route("GET", "/openapi.json")]


@dataclass(frozen=True)
class BadBody:
    route: Route
    label: str
    raw: bytes
    path: str  # the field path the answer must name

    @property
    def id(self) -> str:
        return f"{self.route.name}: {self.label}"


def _json(body: Any) -> bytes:
    return json.dumps(body).encode()


def bad_bodies() -> list[BadBody]:
    """Malformed JSON, JSON that is not an object, unknown fields, a missing required
    field, a wrong type and an out-of-range value for every field of every body."""
    cases = []
    for route in WITH_BODY:
        valid = route.body or {}

        def case(label: str, body: Any, path: str, route: Route = route) -> BadBody:
            raw = body if isinstance(body, bytes) else _json(body)
            return BadBody(route, label, raw, path)

        cases += [
            case("malformed JSON", b'{"worker_id": ', "body"),
            case("a JSON array", [1, 2], "body"),
            case("a JSON string", "text", "body"),
            case("an unknown field", {**valid, "surprise": 1}, "body.surprise"),
        ]
        for name in valid:
            cases.append(case(f"{name} of a wrong type", {**valid, name: [["no"]]}, f"body.{name}"))
        for name in route.required:
            missing = {k: v for k, v in valid.items() if k != name}
            cases.append(case(f"{name} missing", missing, f"body.{name}"))
        for name, value in route.out_of_range.items():
            cases.append(case(f"{name} out of range", {**valid, name: value}, f"body.{name}"))
    complete = next(r for r in ROUTES if r.template.endswith("/complete"))
    cases += [
        BadBody(complete, "neither values nor value", _json({"attempt": 1}), "body"),
        BadBody(complete, "both values and value", _json({"value": 1, "values": {}}), "body"),
        BadBody(
            complete, "a metric not a number", _json({"values": {"loss": "low"}}), "body.values"
        ),
    ]
    return cases


BAD_QUERIES = [
    ("/scans?status=SLEEPING", "query.status"),
    ("/scans?tag=no-colon", "query.tag"),
    ("/scans/{scan}/trials?state=SLEEPING", "query.state"),
    ("/scans/{scan}/trials?limit=0", "query.limit"),
    ("/scans/{scan}/trials?after=first", "query.after"),
    ("/scans/{scan}/intermediate-values?state=SLEEPING", "query.state"),
    ("/scans/{scan}/intermediate-values?limit=0", "query.limit"),
    ("/scans/{scan}/intermediate-values?limit=1001", "query.limit"),
    ("/scans/{scan}/intermediate-values?after=first", "query.after"),
]

UNKNOWN_SCAN_IDS = ["nope", "sc0000000000", "sc0000000000-ffffffffffffffff", "x" * 300]
UNKNOWN_TRIAL_IDS = ["nope", "sc0000000000-ffffffffffffffff", "{scan}-ffffffffffffffff"]
