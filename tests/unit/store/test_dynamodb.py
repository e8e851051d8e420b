from __future__ import annotations

import subprocess
import sys
from collections import Counter
from typing import Any

import pytest
from scanfleet.records import Checkpoint, RequeueReason, TrialState
from scanfleet.store import (
    LAYOUT,
    DynamoDBTrialStore,
    InsertResult,
    TrialFinishedError,
    TrialStore,
)
from scanfleet.store.dynamodb_layout import Attr

from tests.unit.store.conftest import TABLE
from tests.unit.store.contract import NOW, TrialStoreContract, a_scan, a_trial, counts_of


class TestDynamoDBTrialStore(TrialStoreContract):
    # moto runs one request at a time and copies the table on every transaction
    race_trials = 32
    race_cells = 24

    @pytest.fixture
    def store(self, dynamodb_client: Any) -> TrialStore:
        return DynamoDBTrialStore(TABLE, client=dynamodb_client, page_size=3)


@pytest.fixture
def store(dynamodb_client: Any) -> DynamoDBTrialStore:
    return DynamoDBTrialStore(TABLE, client=dynamodb_client)


class Interleaving:
    """The real (moto) client, with a hook that runs once before the first call of one
    operation: another writer acting between our read and our conditional write."""

    def __init__(self, client: Any, operation: str, before: Any) -> None:
        self._client, self._operation, self._before = client, operation, before
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr) or name in ("exceptions", "get_paginator"):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            if name == self._operation and self._before is not None:
                before, self._before = self._before, None
                before()
            return attr(*args, **kwargs)

        return call


def item_bytes(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it: names plus values."""
    return sum(len(name) + len(next(iter(value.values()))) for name, value in item.items())


def test_a_trial_item_stays_the_same_size_however_many_steps_it_reports(
    store: DynamoDBTrialStore,
) -> None:
    scan, _ = store.create_scan(a_scan())
    store.insert_trial(a_trial(scan, 0))
    trial = store.claim_queued(scan.scan_id, "w", lease_seconds=60, now=NOW)
    assert trial is not None
    key = LAYOUT.trial_key(scan.scan_id, trial.trial_id)

    def size() -> int:
        return item_bytes(store.client.get_item(TableName=TABLE, Key=key)["Item"])

    store.record_intermediate(trial.trial_id, "loss", 100_000, 1.0)
    store.record_intermediate(trial.trial_id, "acc", 100_000, 1.0)
    first = size()
    steps = [*range(40), 99_998, 99_999]
    for step in steps:
        store.record_intermediate(trial.trial_id, "loss", step, 1.0 / (step + 1))
        store.record_intermediate(trial.trial_id, "acc", step, 0.5)
    # each value is an item of its own: the trial item does not grow at all
    assert size() == first
    curve = store.intermediate_values(scan.scan_id, "loss")[trial.trial_id]
    assert sorted(curve) == [*steps, 100_000]
    assert curve[99_999] == 1.0 / 100_000
    assert store.get_trial(trial.trial_id).last_step == 100_000


def test_curve_items_sort_by_step(store: DynamoDBTrialStore) -> None:
    keys = [LAYOUT.curve_key("s", "loss", "t", step)["sk"]["S"] for step in (0, 9, 10, 100_000)]
    assert keys == sorted(keys)


def test_counts_is_one_get_item(store: DynamoDBTrialStore) -> None:
    scan, _ = store.create_scan(a_scan())
    for i in range(3):
        store.insert_trial(a_trial(scan, i))
    counting = Interleaving(store.client, "", None)
    counted = DynamoDBTrialStore(TABLE, client=counting)
    assert counted.counts(scan.scan_id) == counts_of(QUEUED=3)
    assert counting.calls == Counter({"get_item": 1})


def test_an_insert_that_loses_its_number_to_a_racer_numbers_again(
    store: DynamoDBTrialStore,
) -> None:
    scan, _ = store.create_scan(a_scan())
    racer = a_trial(scan, 1)
    client = Interleaving(store.client, "transact_write_items", lambda: store.insert_trial(racer))
    late = DynamoDBTrialStore(TABLE, client=client)
    assert late.insert_trial(a_trial(scan, 0)) is InsertResult.CREATED
    assert [(t.params["i"], t.number) for t in store.iter_trials(scan.scan_id)] == [(1, 0), (0, 1)]
    assert store.counts(scan.scan_id) == counts_of(QUEUED=2)
    assert client.calls["transact_write_items"] == 2 and client.calls["get_item"] == 1


def test_an_insert_whose_cursor_moves_meanwhile_reports_cursor_moved(
    store: DynamoDBTrialStore,
) -> None:
    scan, _ = store.create_scan(a_scan())
    client = Interleaving(
        store.client,
        "transact_write_items",
        lambda: store.insert_trial(a_trial(scan, 9), expected_cursor=0),
    )
    late = DynamoDBTrialStore(TABLE, client=client)
    assert late.insert_trial(a_trial(scan, 0), expected_cursor=0) is InsertResult.CURSOR_MOVED
    assert store.get_scan(scan.scan_id).trial_count == 1


def test_an_insert_that_meets_the_limit_meanwhile_reports_limit_reached(
    store: DynamoDBTrialStore,
) -> None:
    scan, _ = store.create_scan(a_scan())
    client = Interleaving(
        store.client, "transact_write_items", lambda: store.insert_trial(a_trial(scan, 9))
    )
    late = DynamoDBTrialStore(TABLE, client=client)
    assert late.insert_trial(a_trial(scan, 0), max_trials=1) is InsertResult.LIMIT_REACHED


def test_a_claim_that_loses_its_trial_to_a_racer_takes_the_next(
    store: DynamoDBTrialStore,
) -> None:
    scan, _ = store.create_scan(a_scan())
    first, second = a_trial(scan, 0), a_trial(scan, 1)
    store.insert_trial(first)
    store.insert_trial(second)
    client = Interleaving(
        store.client,
        "transact_write_items",
        lambda: store.claim_trial(first.trial_id, "racer", lease_seconds=5, now=NOW),
    )
    late = DynamoDBTrialStore(TABLE, client=client)
    claimed = late.claim_queued(scan.scan_id, "late", lease_seconds=5, now=NOW)
    assert claimed is not None and claimed.trial_id == second.trial_id
    assert store.get_trial(first.trial_id).worker_id == "racer"
    assert store.counts(scan.scan_id) == counts_of(RUNNING=2)


def test_a_change_that_races_another_decides_again_on_the_fresh_trial(
    store: DynamoDBTrialStore,
) -> None:
    scan, _ = store.create_scan(a_scan())
    store.insert_trial(a_trial(scan, 0))
    trial = store.claim_queued(scan.scan_id, "w", lease_seconds=5, now=NOW)
    assert trial is not None
    client = Interleaving(
        store.client,
        "transact_write_items",
        lambda: store.finish_trial(trial.trial_id, TrialState.COMPLETED, now=NOW, values={"l": 1}),
    )
    late = DynamoDBTrialStore(TABLE, client=client)
    # read RUNNING, lost the write to the finisher, decided again on COMPLETED
    with pytest.raises(TrialFinishedError):
        late.requeue_trial(trial.trial_id, RequeueReason.PREEMPTED, now=NOW)
    assert store.counts(scan.scan_id) == counts_of(COMPLETED=1)
    assert store.get_trial(trial.trial_id).state is TrialState.COMPLETED


def test_a_checkpoint_that_races_another_keeps_the_higher_step(
    store: DynamoDBTrialStore,
) -> None:
    scan, _ = store.create_scan(a_scan())
    store.insert_trial(a_trial(scan, 0))
    trial = store.claim_queued(scan.scan_id, "w", lease_seconds=5, now=NOW)
    assert trial is not None
    client = Interleaving(
        store.client,
        "put_item",
        lambda: store.record_checkpoint(trial.trial_id, Checkpoint(step=20, uri="new")),
    )
    late = DynamoDBTrialStore(TABLE, client=client)
    kept = late.record_checkpoint(trial.trial_id, Checkpoint(step=10, uri="old"))
    assert kept.checkpoint == Checkpoint(step=20, uri="new")
    assert store.get_trial(trial.trial_id).checkpoint == Checkpoint(step=20, uri="new")


def test_a_transaction_conflict_is_retried(store: DynamoDBTrialStore) -> None:
    scan, _ = store.create_scan(a_scan())
    cancelled = store.client.exceptions.TransactionCanceledException

    def conflict() -> None:
        raise cancelled(
            {
                "Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                "CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}],
            },
            "TransactWriteItems",
        )

    client = Interleaving(store.client, "transact_write_items", conflict)
    assert DynamoDBTrialStore(TABLE, client=client).insert_trial(a_trial(scan, 0)) is (
        InsertResult.CREATED
    )
    assert store.get_scan(scan.scan_id).trial_count == 1


def test_a_lease_a_stale_index_still_shows_as_expired_is_checked_on_the_trial(
    store: DynamoDBTrialStore,
) -> None:
    scan, _ = store.create_scan(a_scan())
    store.insert_trial(a_trial(scan, 0))
    trial = store.claim_queued(scan.scan_id, "w", lease_seconds=10, now=NOW)
    assert trial is not None
    store.heartbeat(trial.trial_id, "w", 1, lease_seconds=100, now=NOW + 5)
    # what an index that has not caught up with the heartbeat would still say
    store.client.update_item(
        TableName=TABLE,
        Key=LAYOUT.trial_key(scan.scan_id, trial.trial_id),
        UpdateExpression="SET #l = :old",
        ExpressionAttributeNames={"#l": LAYOUT.lease.sort_key},
        ExpressionAttributeValues={":old": {"N": str(NOW + 10)}},
    )
    assert store.expired_leases(scan.scan_id, NOW + 50) == []
    assert [t.trial_id for t in store.expired_leases(scan.scan_id, NOW + 106)] == [trial.trial_id]
    assert store.stale_trials(NOW + 50) == []
    assert [t.trial_id for t in store.stale_trials(NOW + 106)] == [trial.trial_id]


def test_the_stale_search_reads_the_lease_index_and_the_stale_trials_only(
    store: DynamoDBTrialStore,
) -> None:
    scan, _ = store.create_scan(a_scan())
    for i in range(12):
        store.insert_trial(a_trial(scan, i))
    for _ in range(3):
        assert store.claim_queued(scan.scan_id, "w", lease_seconds=10, now=NOW)
    [finished, live] = store.list_trials(scan.scan_id, states=frozenset({TrialState.RUNNING}))[:2]
    store.finish_trial(finished.trial_id, TrialState.COMPLETED, now=NOW + 1, values={"l": 1})
    store.heartbeat(live.trial_id, "w", 1, lease_seconds=100, now=NOW + 5)
    calls: list[tuple[str, dict[str, Any]]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((model.name, params))

    store.client.meta.events.register("provide-client-params.dynamodb.*", record)
    try:
        stale = store.stale_trials(NOW + 50)
    finally:
        store.client.meta.events.unregister("provide-client-params.dynamodb.*", record)

    assert len(stale) == 1
    scans = [params for name, params in calls if name == "Scan"]
    assert [params.get("IndexName") for params in scans] == [LAYOUT.lease.name]
    # the index holds the two running trials; only the one past its lease is read back
    assert [name for name, _ in calls if name != "Scan"] == ["GetItem"]


def test_trials_are_in_the_sparse_indexes_only_while_they_need_to_be(
    store: DynamoDBTrialStore,
) -> None:
    scan, _ = store.create_scan(a_scan())
    store.insert_trial(a_trial(scan, 0))

    def item() -> dict[str, Any]:
        (trial,) = store.list_trials(scan.scan_id)
        key = LAYOUT.trial_key(scan.scan_id, trial.trial_id)
        return dict(store.client.get_item(TableName=TABLE, Key=key)["Item"])

    queue, lease = LAYOUT.queue.partition_key, LAYOUT.lease.partition_key
    assert queue in item() and lease not in item()
    trial = store.claim_queued(scan.scan_id, "w", lease_seconds=5, now=NOW)
    assert trial is not None
    assert queue not in item() and lease in item()
    store.finish_trial(trial.trial_id, TrialState.COMPLETED, now=NOW, values={"l": 1})
    assert queue not in item() and lease not in item()
    assert item()[Attr.STATE] == {"S": "COMPLETED"}


def test_create_table_makes_the_layouts_keys_and_indexes(dynamodb_client: Any) -> None:
    table = dynamodb_client.describe_table(TableName=TABLE)["Table"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    indexes = {
        gsi["IndexName"]: [k["AttributeName"] for k in gsi["KeySchema"]]
        for gsi in table["GlobalSecondaryIndexes"]
    }
    assert indexes == {
        index.name: [index.partition_key, index.sort_key] for index in LAYOUT.indexes
    }
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_a_store_built_without_a_client_makes_its_own(dynamodb_client: Any) -> None:
    store = DynamoDBTrialStore(TABLE)
    scan, created = store.create_scan(a_scan())
    assert created
    assert DynamoDBTrialStore(TABLE, client=dynamodb_client).get_scan(scan.scan_id) == scan


def test_importing_the_store_package_does_not_import_boto3() -> None:
    code = (
        "import sys, scanfleet.store\n"
        "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules, 'boto3 loaded'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
