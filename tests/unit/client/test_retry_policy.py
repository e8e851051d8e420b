"""When the SDK retries, and how long it waits."""

from __future__ import annotations

import email.utils
import time

import pytest
from scanfleet.client import APIConnectionError, APIResponseError, APITimeoutError
from scanfleet.client._errors import _make_status_error
from scanfleet.client._http import (
    MAX_RETRY_DELAY_S,
    _parse_retry_after,
    _retry_delay,
    _should_retry,
)

from tests.unit.client.conftest import error_body


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_timeouts_rate_limits_and_server_errors_are_retried(status: int) -> None:
    assert _should_retry(_make_status_error(status, error_body("x")))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
def test_client_mistakes_are_not_retried(status: int) -> None:
    assert not _should_retry(_make_status_error(status, error_body("x")))


@pytest.mark.parametrize(
    "code", ["lease_lost", "trial_finished", "already_claimed", "conflict", "conflict_retry"]
)
def test_a_conflict_is_an_answer_and_not_retried(code: str) -> None:
    """No 409 is retried: no server sends a retryable one (a race the store lost is 503)."""
    assert not _should_retry(_make_status_error(409, error_body(code)))


def test_a_store_that_lost_its_races_is_retried() -> None:
    assert _should_retry(_make_status_error(503, error_body("store_busy")))


def test_a_run_aws_refused_to_start_is_not_retried() -> None:
    """The scan is FAILED with AWS's answer: a retry would only find it FAILED."""
    assert not _should_retry(_make_status_error(502, error_body("run_not_started")))


def test_no_answer_is_retried_but_a_garbled_answer_is_not() -> None:
    assert _should_retry(APIConnectionError("refused"))
    assert _should_retry(APITimeoutError("slow"))
    assert not _should_retry(APIResponseError("not json"))


def test_retry_after_is_used_as_given() -> None:
    assert _retry_delay(0, 3.0, rand=0.9) == 3.0
    assert _retry_delay(5, 0.0, rand=0.9) == 0.0


def test_an_unreasonable_retry_after_falls_back_to_backoff() -> None:
    assert _retry_delay(0, 3600.0, rand=0.0) == 0.5


def test_backoff_doubles_and_is_capped() -> None:
    delays = [_retry_delay(n, None, rand=0.0) for n in range(7)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert max(delays) == MAX_RETRY_DELAY_S


def test_backoff_jitter_takes_off_at_most_a_quarter() -> None:
    assert _retry_delay(2, None, rand=1.0) == pytest.approx(1.5)
    assert _retry_delay(10, None, rand=1.0) == pytest.approx(6.0)


def test_retry_after_is_read_as_seconds_as_a_date_or_in_milliseconds() -> None:
    assert _parse_retry_after({"Retry-After": "3"}) == 3.0
    assert _parse_retry_after({"retry-after-ms": "1500"}) == 1.5
    soon = email.utils.formatdate(time.time() + 20, usegmt=True)
    assert 15 <= (_parse_retry_after({"Retry-After": soon}) or 0) <= 20
    assert _parse_retry_after({"Retry-After": "soon-ish"}) is None
    assert _parse_retry_after({}) is None
