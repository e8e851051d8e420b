"""The status-to-class map and what an error carries."""

from __future__ import annotations

import pickle

import pytest
from scanfleet.client import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    GoneError,
    InternalServerError,
    LeaseLostError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ScanFinishedError,
    UnprocessableEntityError,
)
from scanfleet.client._errors import _make_status_error
from scanfleet.errors import ScanfleetError

from tests.unit.client.conftest import error_body


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (410, GoneError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, InternalServerError),
        (502, InternalServerError),
        (503, InternalServerError),
        (504, InternalServerError),
    ],
)
def test_each_status_maps_to_its_class(status: int, cls: type[APIStatusError]) -> None:
    error = _make_status_error(status, error_body("some_code", "what happened"))
    assert type(error) is cls
    assert error.status_code == error.status == status
    assert error.error_code == error.code == "some_code"


def test_an_unmapped_status_is_a_plain_api_status_error() -> None:
    error = _make_status_error(418, error_body("teapot"))
    assert type(error) is APIStatusError and error.status_code == 418


def test_the_error_carries_code_message_details_and_body() -> None:
    body = error_body("invalid_config", "bad", [{"path": "metric.goal", "message": "no"}])
    error = _make_status_error(400, body, {"X-Request-Id": "r1"})
    assert error.api_message == "bad"
    assert error.message == str(error) == "400 invalid_config: bad"
    assert error.details == [{"path": "metric.goal", "message": "no"}]
    assert error.body == body
    assert error.headers == {"X-Request-Id": "r1"}


def test_a_body_that_is_not_our_json_still_gives_a_typed_error() -> None:
    error = _make_status_error(502, "<html>Bad Gateway</html>")
    assert isinstance(error, InternalServerError)
    assert error.error_code == "http_502" and "Bad Gateway" in error.api_message
    assert _make_status_error(404, None).error_code == "http_404"


def test_scan_finished_is_the_410_error() -> None:
    assert ScanFinishedError is GoneError
    assert isinstance(_make_status_error(410, error_body("scan_finished")), ScanFinishedError)


def test_every_sdk_error_is_an_api_error_and_a_scanfleet_error() -> None:
    for cls in (APIConnectionError, APITimeoutError, APIStatusError, ConflictError):
        assert issubclass(cls, APIError) and issubclass(cls, ScanfleetError)
    assert issubclass(APITimeoutError, APIConnectionError)


def test_status_errors_survive_pickling_with_their_class_and_code() -> None:
    error = _make_status_error(409, error_body("lease_lost", "gone", {"trial": "t"}))
    error.attempts = 3
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is LeaseLostError and isinstance(copy, ConflictError)
    assert (copy.status_code, copy.error_code, copy.api_message) == (409, "lease_lost", "gone")
    assert copy.details == {"trial": "t"} and copy.attempts == 3 and str(copy) == str(error)
