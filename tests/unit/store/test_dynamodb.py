from __future__ import annotations

import pytest
from scanfleet.records import TrialState
from scanfleet.store import DynamoDBTrialStore, TrialStore

from tests.unit.store.contract import NOW, TrialStoreContract, a_scan, a_trial


class TestDynamoDBTrialStore(TrialStoreContract):
    @pytest.fixture
    def store(self, dynamodb_store: DynamoDBTrialStore) -> TrialStore:
        return dynamodb_store


def item_size(store: DynamoDBTrialStore, scan_id: str, trial_id: str) -> int:
    from scanfleet.store._dynamodb_layout import trial_key

    item = store.client.get_item(TableName=store.table, Key=trial_key(scan_id, trial_id))["Item"]
    return sum(len(k) + len(str(v)) for k, v in item.items())


def test_a_trial_item_does_not_grow_with_its_reports(dynamodb_store: DynamoDBTrialStore) -> None:
    store = dynamodb_store
    scan, _ = store.create_scan(a_scan())
    store.insert_trial(a_trial(scan, 0))
    trial = store.claim_queued(scan.scan_id, "w", lease_seconds=60, now=NOW)
    assert trial is not None
    store.record_intermediate(trial.trial_id, "loss", 0, 1.0)
    size_after_one = item_size(store, scan.scan_id, trial.trial_id)
    for step in range(1, 300):
        store.record_intermediate(trial.trial_id, "loss", step, 1.0 / step)
    assert item_size(store, scan.scan_id, trial.trial_id) <= size_after_one + 4
    assert len(store.intermediate_values(scan.scan_id, "loss")[trial.trial_id]) == 300
    assert store.get_trial(trial.trial_id).state is TrialState.RUNNING
