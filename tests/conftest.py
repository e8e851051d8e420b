"""Fixtures shared by every tier."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from scanfleet.store import DynamoDBTrialStore, create_table


@pytest.fixture(autouse=True, scope="session")
def _no_real_aws() -> None:
    """Nothing in the tests may reach real AWS: fake credentials, a fixed region, and no
    profile or metadata lookups, for this process and every child it starts."""
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(key, None)
    os.environ["AWS_ACCESS_KEY_ID"] = "testing"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"


class FakeClock:
    """A clock the test moves by hand (leases, durations)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def serialized_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto is not thread-safe: run one DynamoDB request at a time, so racing tests check
    OUR conditional logic (moto would otherwise double-claim on its own)."""
    from moto.dynamodb.responses import DynamoHandler

    lock = threading.RLock()
    original = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        with lock:
            return original(self)

    monkeypatch.setattr(DynamoHandler, "call_action", call_action)


@contextlib.contextmanager
def moto_s3(*buckets: str) -> Iterator[Any]:
    """An S3 client of moto (in-process) that holds these buckets, empty."""
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        for bucket in buckets:
            client.create_bucket(Bucket=bucket)
        yield client


@pytest.fixture
def dynamodb_store(serialized_moto: None) -> Iterator[DynamoDBTrialStore]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, "scanfleet-test")
        yield DynamoDBTrialStore("scanfleet-test", client=client)


@pytest.fixture
def local_api(tmp_path: Any) -> Iterator[Any]:
    """A real local server over a real SQLite store, on loopback."""
    from scanfleet.local.auth import TokenStore
    from scanfleet.local.server import LocalServer, open_local_service

    tokens = TokenStore(tmp_path / "state")
    server = LocalServer(open_local_service(tmp_path / "state"), tokens)
    server.start()
    try:
        yield server
    finally:
        server.stop()
