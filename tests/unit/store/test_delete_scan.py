"""``delete_scan`` on every store: the scan, its trials, curves and client token go; other
scans stay; a second delete says the scan is not found."""

from __future__ import annotations

from pathlib import Path

import pytest
from scanfleet.store import (
    DynamoDBTrialStore,
    ScanNotFoundError,
    SQLiteTrialStore,
    TrialNotFoundError,
    TrialStore,
)

from tests.unit.store.conftest import TABLE
from tests.unit.store.contract import a_scan, a_trial


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> TrialStore:
    if request.param == "sqlite":
        return SQLiteTrialStore(tmp_path / "store.db", page_size=3)
    client = request.getfixturevalue("dynamodb_client")
    return DynamoDBTrialStore(TABLE, client=client, page_size=3)


def test_deleting_a_scan_removes_it_its_trials_curves_and_token(store: TrialStore) -> None:
    doomed, _ = store.create_scan(a_scan(client_token="tok"))
    kept, _ = store.create_scan(a_scan())
    for i in range(30):  # more than one batch of deletes in DynamoDB (25)
        store.insert_trial(a_trial(doomed, i))
    kept_trial = a_trial(kept, 0)
    store.insert_trial(kept_trial)
    first = store.list_trials(doomed.scan_id)[0]
    store.record_intermediate(first.trial_id, "loss", 1, 0.5)
    store.record_intermediate(kept_trial.trial_id, "loss", 1, 0.25)

    gone = store.delete_scan(doomed.scan_id)

    assert gone.scan_id == doomed.scan_id and gone.trial_count == 30
    with pytest.raises(ScanNotFoundError):
        store.get_scan(doomed.scan_id)
    with pytest.raises(TrialNotFoundError):
        store.get_trial(first.trial_id)
    assert store.list_trials(doomed.scan_id) == []
    assert store.intermediate_values(doomed.scan_id, "loss") == {}
    assert [s.scan_id for s in store.list_scans("alice")] == [kept.scan_id]
    assert store.intermediate_values(kept.scan_id, "loss") == {kept_trial.trial_id: {1: 0.25}}
    again, created = store.create_scan(a_scan(client_token="tok"))
    assert created and again.scan_id != doomed.scan_id
    with pytest.raises(ScanNotFoundError):
        store.delete_scan(doomed.scan_id)
