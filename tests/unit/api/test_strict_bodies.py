"""A number in a body is a JSON number and a flag a JSON boolean, as the OpenAPI document
says: ``true`` is no step, ``"0.5"`` no value. Found by schemathesis
(tests/functional/test_schemathesis.py): ``{"step": false}`` recorded a checkpoint at step
0 and ``{"value": false}`` completed a trial with 0.0 (pydantic's lax mode converted them)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.api.conftest import Api
from tests.unit.api.routes import ROUTES, Route

_NUMBERS = ("step", "value", "attempt", "max_run", "n", "lease_seconds")
_FLAGS = ("preempted", "retry")


def _cases() -> list[tuple[Route, str, Any]]:
    cases = []
    for route in ROUTES:
        for name, valid in (route.body or {}).items():
            if name in _NUMBERS:
                cases += [(route, name, True), (route, name, False), (route, name, str(valid))]
            elif name in _FLAGS:
                cases += [(route, name, "true"), (route, name, 1), (route, name, None)]
    complete = next(r for r in ROUTES if r.template.endswith("/complete"))
    return [*cases, (complete, "values", {"loss": True}), (complete, "values", {"loss": "0.5"})]


@pytest.fixture
def ids(api: Api) -> dict[str, str]:
    """A scan of the caller with one running trial."""
    scan_id = api.create_scan()
    trial = api("POST", f"/scans/{scan_id}/trials/claim", {"worker_id": "w"}).body
    return {"scan": scan_id, "trial": trial["trial_id"]}


@pytest.mark.parametrize(
    "route, name, value", _cases(), ids=lambda c: c.name if isinstance(c, Route) else repr(c)
)
def test_a_boolean_or_a_string_for_a_number_or_a_flag_gets_400_naming_the_field(
    api: Api, ids: dict[str, str], route: Route, name: str, value: Any
) -> None:
    body = {**(route.body or {}), name: value}
    if name == "values":
        body.pop("value", None)
    answer = api(route.method, route.path(**ids), body)
    assert answer.status == 400, answer.body
    assert answer.body["error"]["code"] == "invalid_request"
    paths = [problem["path"] for problem in answer.body["error"]["details"]]
    assert any(path.startswith(f"body.{name}") for path in paths), paths


def test_an_integer_is_a_valid_number_where_a_float_is_expected(
    api: Api, ids: dict[str, str]
) -> None:
    trial = ids["trial"]
    answer = api("POST", f"/trials/{trial}/reports", {"metric": "loss", "step": 1, "value": 2})
    assert answer.status == 200, answer.body
    answer = api("POST", f"/trials/{trial}/complete", {"values": {"loss": 1}, "attempt": 1})
    assert answer.status == 200, answer.body
    assert answer.body["values"] == {"loss": 1.0}


def test_a_whole_number_written_with_a_point_is_an_integer(api: Api, ids: dict[str, str]) -> None:
    """JSON has one kind of number and JSON Schema calls 3.0 an integer (schemathesis sends
    such values as valid data); 3.5 is no integer."""
    trial = ids["trial"]
    answer = api("POST", f"/trials/{trial}/reports", {"metric": "loss", "step": 3.0, "value": 1})
    assert answer.status == 200, answer.body
    answer = api("POST", f"/trials/{trial}/reports", {"metric": "loss", "step": 3.5, "value": 1})
    assert answer.status == 400
    assert answer.body["error"]["details"][0]["path"] == "body.step"
    answer = api("POST", f"/scans/{ids['scan']}/extend", {"max_run": 7.0})
    assert answer.status == 200 and answer.body["scan"]["max_run"] == 7
