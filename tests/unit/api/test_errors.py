"""Bad input on every route gets a 4xx with a code and a message, never a 500; errors are
mapped to HTTP in one place with one shape."""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from scanfleet.api import build_app
from scanfleet.records import TrialRecord
from scanfleet.service import ScanService

from tests.unit.api.conftest import Answer, Api, gateway_event
from tests.unit.api.routes import (
    BAD_QUERIES,
    OPEN,
    ROUTES,
    UNKNOWN_SCAN_IDS,
    UNKNOWN_TRIAL_IDS,
    WITH_BODY,
    WITH_IDS,
    BadBody,
    Route,
    bad_bodies,
)


def assert_error(answer: Answer, status: int, code: str) -> dict[str, Any]:
    assert answer.status == status, answer.body
    error = answer.body["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert answer.headers["Content-Type"] == "application/json"
    return dict(error)


@pytest.fixture
def ids(api: Api) -> dict[str, str]:
    """A scan of the caller with one running trial."""
    scan_id = api.create_scan()
    trial = api("POST", f"/scans/{scan_id}/trials/claim", {"worker_id": "w"}).body
    return {"scan": scan_id, "trial": trial["trial_id"]}


# ---- bodies and queries ------------------------------------------------------------------------


@pytest.mark.parametrize("case", bad_bodies(), ids=lambda c: c.id)
def test_a_bad_body_gets_400_invalid_request_naming_the_field(
    api: Api, ids: dict[str, str], case: BadBody
) -> None:
    answer = api(case.route.method, case.route.path(**ids), raw=case.raw)
    error = assert_error(answer, 400, "invalid_request")
    paths = [problem["path"] for problem in error["details"]]
    assert any(path.startswith(case.path) for path in paths), paths
    assert all(problem["message"] for problem in error["details"])
    assert case.path in error["message"]


@pytest.mark.parametrize("route", [r for r in WITH_BODY if r.required], ids=lambda r: r.name)
def test_a_missing_body_gets_400_invalid_request(
    api: Api, ids: dict[str, str], route: Route
) -> None:
    error = assert_error(api(route.method, route.path(**ids)), 400, "invalid_request")
    assert error["details"] == [{"path": "body", "message": "a JSON object is required"}]


@pytest.mark.parametrize("target, path", BAD_QUERIES)
def test_a_bad_query_parameter_gets_400_naming_it(
    api: Api, ids: dict[str, str], target: str, path: str
) -> None:
    answer = api("GET", target.replace("{scan}", ids["scan"]))
    error = assert_error(answer, 400, "invalid_request")
    assert [p["path"] for p in error["details"]] == [path]


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "application/xml"],
)
def test_a_body_that_is_not_json_gets_415(api: Api, ids: dict[str, str], content_type: str) -> None:
    answer = api(
        "POST",
        f"/scans/{ids['scan']}/trials/claim",
        raw="worker_id=w",
        headers={"Content-Type": content_type},
    )
    assert_error(answer, 415, "unsupported_media_type")


def test_a_base64_encoded_body_is_decoded_and_one_that_is_not_text_gets_400(
    api: Api, ids: dict[str, str]
) -> None:
    """API Gateway base64-encodes bodies of binary media types."""
    event = gateway_event("POST", f"/scans/{ids['scan']}/trials/claim", owner=api.owner)
    event.update(body=base64.b64encode(b'{"worker_id": "w2"}').decode(), isBase64Encoded=True)
    assert api.resolve(event).status == 200
    event.update(body=base64.b64encode(b'{"worker_id": "\xff"}').decode())
    error = assert_error(api.resolve(event), 400, "invalid_request")
    assert error["details"] == [{"path": "body", "message": "not UTF-8 text"}]


def test_an_invalid_config_gets_400_invalid_config_with_field_paths_and_stores_nothing(
    api: Api,
) -> None:
    config = {"strategy": "annealing", "parameters": {"lr": {"distribution": "uniform"}}}
    answer = api("POST", "/scans", {"name": "bad", "config": config})
    error = assert_error(answer, 400, "invalid_config")
    paths = {problem["path"] for problem in error["details"]}
    assert {"strategy", "metric"} <= paths
    assert any(path.startswith("parameters.lr") for path in paths)
    assert api("GET", "/scans").body["scans"] == []


# ---- ids ----------------------------------------------------------------------------------------


def _unknown_id_cases() -> list[tuple[Route, str]]:
    cases = []
    for route in WITH_IDS:
        bad_ids = UNKNOWN_TRIAL_IDS if route.takes_trial_id else UNKNOWN_SCAN_IDS
        cases += [(route, bad) for bad in bad_ids]
    return cases


@pytest.mark.parametrize(
    "route, bad_id", _unknown_id_cases(), ids=lambda v: v.name if isinstance(v, Route) else v[:40]
)
def test_an_unknown_id_gets_404_never_500(
    api: Api, ids: dict[str, str], route: Route, bad_id: str
) -> None:
    bad_id = bad_id.replace("{scan}", ids["scan"])
    answer = api(route.method, route.path(scan=bad_id, trial=bad_id), route.body)
    code = "trial_not_found" if route.takes_trial_id else "scan_not_found"
    error = assert_error(answer, 404, code)
    assert bad_id in error["message"]


@pytest.mark.parametrize("route", WITH_IDS, ids=lambda r: r.name)
def test_ids_of_another_owner_get_404_as_if_they_did_not_exist(
    api: Api, ids: dict[str, str], route: Route
) -> None:
    intruder = api.as_owner("tok-intruder")
    answer = intruder(route.method, route.path(**ids), route.body)
    assert_error(answer, 404, "trial_not_found" if route.takes_trial_id else "scan_not_found")
    # and nothing changed for the owner
    assert api("GET", f"/trials/{ids['trial']}").body["state"] == "RUNNING"
    assert api("GET", f"/scans/{ids['scan']}").body["scan"]["status"] == "RUNNING"


def test_another_owner_lists_none_of_my_scans(api: Api, ids: dict[str, str]) -> None:
    answer = api.as_owner("tok-intruder")("GET", "/scans")
    assert answer.status == 200 and answer.body["scans"] == []


# ---- identity -----------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_a_request_without_an_identity_gets_401(
    api: Api, ids: dict[str, str], route: Route
) -> None:
    answer = api.as_owner(None)(route.method, route.path(**ids), route.body)
    assert_error(answer, 401, "unauthorized")


@pytest.mark.parametrize("route", WITH_BODY, ids=lambda r: r.name)
def test_a_request_without_an_identity_gets_401_before_its_body_is_judged(
    api: Api, ids: dict[str, str], route: Route
) -> None:
    anonymous = api.as_owner(None)
    assert_error(anonymous(route.method, route.path(**ids), raw="{oops"), 401, "unauthorized")
    assert_error(
        anonymous(
            route.method, route.path(**ids), raw="a=1", headers={"Content-Type": "text/plain"}
        ),
        401,
        "unauthorized",
    )


@pytest.mark.parametrize("route", OPEN, ids=lambda r: r.name)
def test_health_and_the_openapi_document_need_no_identity(api: Api, route: Route) -> None:
    assert api.as_owner(None)(route.method, route.path()).status == 200


# ---- routes and methods -------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["/", "/nowhere", "/scans/x/y/z", "/trials"])
def test_an_unknown_route_gets_404_not_found_json(api: Api, target: str) -> None:
    error = assert_error(api("GET", target), 404, "not_found")
    assert target in error["message"]


@pytest.mark.parametrize(
    "method, target, allowed",
    [
        ("DELETE", "/scans", ["GET", "POST"]),
        ("GET", "/scans/sc0000000000/cancel", ["POST"]),
        ("PUT", "/trials/sc0000000000-ffffffffffffffff", ["GET"]),
        ("GET", "/trials/sc0000000000-ffffffffffffffff/complete", ["POST"]),
        ("POST", "/health", ["GET"]),
    ],
)
def test_a_wrong_method_gets_405_with_the_allowed_ones(
    api: Api, method: str, target: str, allowed: list[str]
) -> None:
    answer = api(method, target)
    error = assert_error(answer, 405, "method_not_allowed")
    assert error["details"] == {"allowed": allowed}
    assert answer.headers["Allow"] == ", ".join(allowed)


# ---- domain errors ------------------------------------------------------------------------------


def test_domain_errors_keep_their_status_and_code(api: Api, ids: dict[str, str]) -> None:
    scan, trial = ids["scan"], ids["trial"]
    lost = api("POST", f"/trials/{trial}/heartbeat", {"worker_id": "w", "attempt": 7})
    assert_error(lost, 409, "lease_lost")
    outside = api("POST", f"/scans/{scan}/trials", {"params": {"a": 3}})
    error = assert_error(outside, 400, "invalid_params")
    assert "a: must be one of" in error["message"]
    no_metric = api("POST", f"/trials/{trial}/complete", {"values": {}})
    assert_error(no_metric, 400, "invalid_values")
    shrink = api("POST", f"/scans/{scan}/extend", {"max_run": 1})
    assert_error(shrink, 400, "invalid_values")
    assert api("POST", f"/trials/{trial}/complete", {"value": 1.0}).status == 200
    again = api("POST", f"/trials/{trial}/complete", {"value": 2.0})
    assert_error(again, 409, "trial_finished")
    api("POST", f"/scans/{scan}/cancel")
    assert_error(api("POST", f"/scans/{scan}/extend", {"max_run": 9}), 409, "scan_not_extendable")
    gone = api("POST", f"/scans/{scan}/trials/claim", {"worker_id": "w"})
    assert_error(gone, 410, "scan_finished")
    assert_error(api("POST", f"/scans/{scan}/trials", {"params": {"a": 2}}), 410, "scan_finished")


class ExplodingService(ScanService):
    """A service whose store broke in a way nobody planned for."""

    def get_trial(self, trial_id: str, *, owner: str) -> TrialRecord:
        raise RuntimeError("connection to /var/secret/db.sqlite lost")


def test_an_unexpected_error_gets_500_internal_error_without_internals_and_is_logged(
    service: ScanService, caplog: pytest.LogCaptureFixture
) -> None:
    app: APIGatewayRestResolver = build_app(ExplodingService(service.store))
    api = Api(app, "tok-someone")
    with caplog.at_level(logging.ERROR, logger="scanfleet.api"):
        answer = api("GET", "/trials/sc0000000000-ffffffffffffffff")
    error = assert_error(answer, 500, "internal_error")
    assert "secret" not in str(answer.body) and "RuntimeError" not in str(answer.body)
    request_id = error["details"]["request_id"]
    assert request_id == "77375676-xmpl-4b79-853a-f982474efe18"  # from the event
    logged = [r for r in caplog.records if r.name == "scanfleet.api"]
    assert logged and logged[0].exc_info is not None
    assert request_id in logged[0].getMessage()


class StrictService(ScanService):
    """A service that validates a value of the request with pydantic itself."""

    def get_trial(self, trial_id: str, *, owner: str) -> TrialRecord:
        return TrialRecord.model_validate({"scan_id": trial_id, "number": -1})


def test_a_pydantic_error_raised_while_handling_gets_400_with_field_paths(
    service: ScanService,
) -> None:
    api = Api(build_app(StrictService(service.store)), "tok-someone")
    error = assert_error(
        api("GET", "/trials/sc0000000000-ffffffffffffffff"), 400, "invalid_request"
    )
    paths = {problem["path"] for problem in error["details"]}
    assert {"trial_id", "number", "params"} <= paths
