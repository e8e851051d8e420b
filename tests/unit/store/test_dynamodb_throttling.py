"""A DynamoDB transaction cancelled for throttling is StoreBusyError (the caller and the
state machine retry that), not the raw TransactionCanceledException; keys a BatchGetItem
leaves unprocessed are asked again, and StoreBusyError only when round after round reads
nothing. The throttling is DynamoDB's answer, short-circuited on the real client
(botocore's before-call event)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from scanfleet.errors import StoreBusyError
from scanfleet.store import DynamoDBTrialStore, _dynamodb_changes

from tests.unit.store.conftest import TABLE
from tests.unit.store.contract import a_scan, a_trial


def cancelled(*codes: str) -> tuple[AWSResponse, dict[str, Any]]:
    """What DynamoDB answers when it cancels a transaction, one reason per item."""
    http = AWSResponse("https://dynamodb.us-east-1.amazonaws.com", 400, {}, None)
    return http, {
        "Error": {
            "Code": "TransactionCanceledException",
            "Message": f"Transaction cancelled, please refer cancellation reasons [{codes}]",
        },
        "CancellationReasons": [{"Code": code} for code in codes],
        "ResponseMetadata": {"HTTPStatusCode": 400},
    }


@pytest.fixture
def throttled(dynamodb_client: Any) -> Any:
    """The next ``times`` transactions are throttled (``throttle(times, *codes)``)."""
    left: list[tuple[str, ...]] = []

    def before_call(**_: Any) -> Any:
        return cancelled(*left.pop(0)) if left else None

    def throttle(times: int, *codes: str) -> None:
        left.extend([codes] * times)

    dynamodb_client.meta.events.register(
        "before-call.dynamodb.TransactWriteItems", before_call, unique_id="throttle"
    )
    yield throttle
    dynamodb_client.meta.events.unregister(
        "before-call.dynamodb.TransactWriteItems", unique_id="throttle"
    )


@pytest.mark.parametrize(
    "codes",
    [
        ("None", "ThrottlingError"),
        ("ThrottlingError", "ThrottlingError"),
        ("None", "ProvisionedThroughputExceeded"),
    ],
)
def test_a_throttled_transaction_is_store_busy_and_a_retry_goes_through(
    dynamodb_client: Any, throttled: Any, codes: tuple[str, ...]
) -> None:
    store = DynamoDBTrialStore(TABLE, client=dynamodb_client)
    scan = a_scan(client_token="t-1")  # the token and the scan: one transaction
    throttled(1, *codes)
    with pytest.raises(StoreBusyError, match="throttled") as raised:
        store.create_scan(scan)
    assert raised.value.code == "store_busy" and raised.value.status == 503
    created, new = store.create_scan(scan)  # the retry
    assert new and created.scan_id == scan.scan_id


def test_a_conflict_is_still_retried_inside_the_store(dynamodb_client: Any, throttled: Any) -> None:
    store = DynamoDBTrialStore(TABLE, client=dynamodb_client)
    throttled(2, "None", "TransactionConflict")
    created, new = store.create_scan(a_scan(client_token="t-2"))
    assert new


@pytest.fixture
def unprocessed(dynamodb_client: Any) -> Any:
    """The next ``times`` BatchGetItem calls read nothing: DynamoDB answers every key as
    unprocessed (as it does when it throttles them). ``unprocessed(times)``; the calls
    made are counted in ``unprocessed.calls``."""
    left = [0]

    def before_call(params: dict[str, Any], **_: Any) -> Any:
        unprocessed.calls += 1
        if not left[0]:
            return None
        left[0] -= 1
        request = json.loads(params["body"])["RequestItems"]
        http = AWSResponse("https://dynamodb.us-east-1.amazonaws.com", 200, {}, None)
        return http, {"Responses": {TABLE: []}, "UnprocessedKeys": request}

    def unprocessed(times: int) -> None:
        left[0] = times

    unprocessed.calls = 0  # type: ignore[attr-defined]
    event = "before-call.dynamodb.BatchGetItem"
    dynamodb_client.meta.events.register(event, before_call, unique_id="unprocessed")
    yield unprocessed
    dynamodb_client.meta.events.unregister(event, unique_id="unprocessed")


def test_unprocessed_keys_are_asked_again_until_read(
    dynamodb_client: Any, unprocessed: Any
) -> None:
    store = DynamoDBTrialStore(TABLE, client=dynamodb_client)
    scan, _ = store.create_scan(a_scan())
    for number in range(3):
        store.insert_trial(a_trial(scan, number))
    unprocessed(3)
    assert [t.number for t in store.iter_trials(scan.scan_id)] == [0, 1, 2]
    assert unprocessed.calls == 4  # three rounds left unprocessed, then read


def test_keys_left_unprocessed_round_after_round_are_store_busy(
    dynamodb_client: Any, unprocessed: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_dynamodb_changes, "_IDLE_ROUNDS", 3)
    store = DynamoDBTrialStore(TABLE, client=dynamodb_client)
    scan, _ = store.create_scan(a_scan())
    store.insert_trial(a_trial(scan, 0))
    unprocessed(100)
    with pytest.raises(StoreBusyError, match="unprocessed") as raised:
        store.list_trials(scan.scan_id)
    assert raised.value.status == 503 and raised.value.details == {"unprocessed_keys": 1}
    assert unprocessed.calls == 3
