"""The change sequence where one store differs: a SQLite file made before it gets its
columns; DynamoDB's ``changes`` index may lag, and a reader never steps over a change
that has not reached it yet."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import boto3
import pytest
from scanfleet.records import TrialState
from scanfleet.store import LAYOUT, DynamoDBTrialStore, SQLiteTrialStore, _dynamodb_changes

from tests.unit.store.conftest import TABLE
from tests.unit.store.contract import NOW, a_scan, a_trial


def test_a_sqlite_file_made_before_the_sequence_gets_it(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    store = SQLiteTrialStore(path)
    scan, _ = store.create_scan(a_scan())
    store.insert_trial(a_trial(scan, 0))
    store.close_cleanly()
    with sqlite3.connect(path) as conn:  # the schema as it was before
        conn.execute("DROP INDEX trials_by_seq")
        conn.execute("ALTER TABLE trials DROP COLUMN seq")
        conn.execute("ALTER TABLE scans DROP COLUMN change_seq")
    conn.close()
    reopened = SQLiteTrialStore(path)
    every = reopened.trials_changed_since(scan.scan_id, None)
    assert [t.number for t in every.trials] == [0] and every.seq == 0
    reopened.insert_trial(a_trial(scan, 1))
    assert [t.number for t in reopened.trials_changed_since(scan.scan_id, 0).trials] == [1]


def _hide_from_the_index(client: Any, scan_id: str, trial_id: str) -> dict[str, Any]:
    """Take a trial out of the ``changes`` index, as a write still on its way to it."""
    key = LAYOUT.trial_key(scan_id, trial_id)
    names = {"#p": LAYOUT.changes.partition_key, "#s": LAYOUT.changes.sort_key}
    old = client.update_item(
        TableName=TABLE,
        Key=key,
        UpdateExpression="REMOVE #p, #s",
        ExpressionAttributeNames=names,
        ReturnValues="ALL_OLD",
    )["Attributes"]
    return {n: old[n] for n in names.values()}


def test_a_reader_stops_below_a_change_the_index_has_not_shown(
    dynamodb_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_dynamodb_changes, "_INDEX_READS", 2)  # keep the test short
    store = DynamoDBTrialStore(TABLE, client=dynamodb_client)
    scan, _ = store.create_scan(a_scan())
    a, b = a_trial(scan, 0), a_trial(scan, 1)
    store.insert_trial(a)
    store.insert_trial(b)
    assert store.trials_changed_since(scan.scan_id, None).seq == 2
    store.finish_trial(a.trial_id, TrialState.COMPLETED, now=NOW, values={"l": 1})  # 3
    store.finish_trial(b.trial_id, TrialState.FAILED, now=NOW)  # 4
    keys = _hide_from_the_index(dynamodb_client, scan.scan_id, a.trial_id)
    lagging = store.trials_changed_since(scan.scan_id, 2)
    assert lagging.seq == 2  # 3 is not accounted for: the reader stays below it
    assert [t.trial_id for t in lagging.trials] == [b.trial_id]
    pk, sk = LAYOUT.changes.partition_key, LAYOUT.changes.sort_key
    dynamodb_client.update_item(  # the index catches up
        TableName=TABLE,
        Key=LAYOUT.trial_key(scan.scan_id, a.trial_id),
        UpdateExpression="SET #p = :p, #s = :s",
        ExpressionAttributeNames={"#p": pk, "#s": sk},
        ExpressionAttributeValues={":p": keys[pk], ":s": keys[sk]},
    )
    caught_up = store.trials_changed_since(scan.scan_id, lagging.seq)
    assert caught_up.seq == 4
    assert [t.state for t in caught_up.trials] == [TrialState.COMPLETED, TrialState.FAILED]


def test_a_stale_sequence_in_one_process_costs_a_retry_not_a_lost_change(
    dynamodb_client: Any,
) -> None:
    one = DynamoDBTrialStore(TABLE, client=dynamodb_client)
    other = DynamoDBTrialStore(TABLE, client=dynamodb_client)
    scan, _ = one.create_scan(a_scan())
    trials = [a_trial(scan, i) for i in range(3)]
    for trial in trials:
        one.insert_trial(trial)
    other.finish_trial(trials[0].trial_id, TrialState.FAILED, now=NOW)  # 4: other learns 3
    one.finish_trial(trials[1].trial_id, TrialState.FAILED, now=NOW)  # one thinks 3: races
    other.finish_trial(trials[2].trial_id, TrialState.FAILED, now=NOW)  # other thinks 4
    changes = one.trials_changed_since(scan.scan_id, 3)
    assert changes.seq == 6 and len(changes.trials) == 3


def test_a_trial_that_changes_between_index_pages_is_read_once(dynamodb_client: Any) -> None:
    """The ``changes`` index is read page by page, and a trial that changes meanwhile moves
    to a later place in it: the reader meets it twice. BatchGetItem refuses a request whose
    keys repeat (ValidationException "Provided list of item keys contains duplicates"), so
    the store asks for each key once and answers each trial once."""
    store = DynamoDBTrialStore(TABLE, client=dynamodb_client, page_size=1)
    elsewhere = DynamoDBTrialStore(TABLE, client=boto3.client("dynamodb", region_name="us-east-1"))
    scan, _ = store.create_scan(a_scan())
    a, b = a_trial(scan, 0), a_trial(scan, 1)
    store.insert_trial(a)  # 1
    store.insert_trial(b)  # 2
    pages: list[dict[str, Any]] = []

    def between_pages(params: dict[str, Any], **_: Any) -> None:
        if params.get("IndexName") == LAYOUT.changes.name:
            pages.append(params)
            if len(pages) == 2:  # a has been listed: another writer changes it (3)
                elsewhere.set_trial_tags(a.trial_id, {"seen": "twice"})

    event = "before-parameter-build.dynamodb.Query"
    dynamodb_client.meta.events.register(event, between_pages, unique_id="between-pages")
    try:
        changes = store.trials_changed_since(scan.scan_id, 0)
    finally:
        dynamodb_client.meta.events.unregister(event, unique_id="between-pages")
    assert len(pages) >= 3  # a, b, then a again at its new place
    assert [t.trial_id for t in changes.trials] == [a.trial_id, b.trial_id]
    assert changes.seq == 3 and changes.trials[0].tags == {"seen": "twice"}
