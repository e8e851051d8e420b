"""DynamoDB under moto for the store tests: fake credentials, us-east-1, one mock and one
client per test module, and a fresh table made by ``create_table`` for every test.

moto is not thread-safe: its DynamoDB handler is serialised here with a lock, so the
racing tests check OUR conditional logic (reads and conditional writes of many threads
interleaving request by request), not moto's atomicity, which it does not have. The
SQLite store's races (threads and processes) are the proof against a real engine.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from scanfleet.store import create_table

TABLE = "scanfleet-test"


@pytest.fixture(scope="module")
def moto_dynamodb() -> Iterator[Any]:
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.RLock()
    call_action = DynamoHandler.call_action

    def one_at_a_time(handler: Any) -> Any:
        with lock:
            return call_action(handler)

    with pytest.MonkeyPatch.context() as patch:
        for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            patch.delenv(key, raising=False)
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        patch.setattr(DynamoHandler, "call_action", one_at_a_time)
        with mock_aws():
            yield boto3.client("dynamodb", region_name="us-east-1")


@pytest.fixture
def dynamodb_client(moto_dynamodb: Any) -> Iterator[Any]:
    create_table(moto_dynamodb, TABLE)
    try:
        yield moto_dynamodb
    finally:
        moto_dynamodb.delete_table(TableName=TABLE)
