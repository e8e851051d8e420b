"""A DynamoDB transaction cancelled for throttling is StoreBusyError (the caller and the
state machine retry that), not the raw TransactionCanceledException. The throttling is
DynamoDB's answer, short-circuited on the real client (botocore's before-call event)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from scanfleet.errors import StoreBusyError
from scanfleet.store import DynamoDBTrialStore

from tests.unit.store.conftest import TABLE
from tests.unit.store.contract import a_scan


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
