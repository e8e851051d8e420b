"""``trials_changed_since`` on DynamoDB: the ``changes`` index finds the trials changed
after a sequence, and each is read back from its item.

The index is eventually consistent: a change may reach it after a later one, so the
index alone could let a reader step over a change it has not seen. Each trial item keeps
the sequence values of its own changes (``seqs``), so the reader knows which values the
trials it read account for: it returns the highest sequence up to which every value is
accounted for (a gap is a change still on its way to the index), reading the index again,
a few times, while that is below the scan's counter as it was when the call began. The
answer is thus exact at the sequence it returns, whatever the index's lag; a lag longer
than those reads only returns a lower sequence (the next call reads from there).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from scanfleet.records import TrialRecord
from scanfleet.store._base import TrialChanges
from scanfleet.store.dynamodb_layout import TRIAL_PREFIX, Attr

if TYPE_CHECKING:
    from scanfleet.store._dynamodb import DynamoDBTrialStore

_INDEX_READS = 8  # reads of the index while it lags the counter
_LAG_WAIT_S = 0.02  # the first wait for the index (doubled after each read)
_BATCH = 100  # BatchGetItem's limit


def change_seq_of(scan_item: dict[str, Any]) -> int:
    """A scan item's change sequence (0 on an item written before it existed)."""
    return int(scan_item.get(Attr.CHANGE_SEQ, {"N": "0"})["N"])


def seqs_of(trial_item: dict[str, Any]) -> frozenset[int]:
    """The change sequence values of a trial item's changes."""
    return frozenset(int(s) for s in trial_item.get(Attr.SEQS, {"NS": []})["NS"])


def read_changes(store: DynamoDBTrialStore, scan_id: str, seq: int | None) -> TrialChanges:
    counter = _counter(store, scan_id)
    if counter is None:
        return TrialChanges(seq=seq or 0, trials=[])
    if seq is None:  # every trial item of the scan, read consistently from the table
        items = list(_all_trial_items(store, scan_id))
        return TrialChanges(seq=counter, trials=_by_number(store, items))
    wait = _LAG_WAIT_S
    reached, items = seq, []
    for read in range(_INDEX_READS):
        items = _changed_items(store, scan_id, seq)
        reached = _accounted_for(seq, items)
        if reached >= counter or read == _INDEX_READS - 1:
            break
        time.sleep(wait)  # the index has not caught up with the counter yet
        wait *= 2
    return TrialChanges(seq=reached, trials=_by_number(store, items))


def _accounted_for(seq: int, items: Iterable[dict[str, Any]]) -> int:
    """The highest sequence up to which every value above ``seq`` is a change of one of
    ``items``."""
    seen: set[int] = set()
    for item in items:
        seen.update(s for s in seqs_of(item) if s > seq)
    reached = seq
    while reached + 1 in seen:
        reached += 1
    return reached


def _counter(store: DynamoDBTrialStore, scan_id: str) -> int | None:
    item = store.client.get_item(
        TableName=store.table,
        Key=store.layout.scan_key(scan_id),
        ConsistentRead=True,
        ProjectionExpression="#cs",
        ExpressionAttributeNames={"#cs": Attr.CHANGE_SEQ},
    ).get("Item")
    return None if item is None else change_seq_of(item)


def _changed_items(store: DynamoDBTrialStore, scan_id: str, seq: int) -> list[dict[str, Any]]:
    """The trial items the index lists above ``seq``, each read consistently."""
    index = store.layout.changes
    keys = store._query(
        IndexName=index.name,
        KeyConditionExpression="#s = :s AND #c > :c",
        ExpressionAttributeNames={"#s": index.partition_key, "#c": index.sort_key},
        ExpressionAttributeValues={":s": {"S": scan_id}, ":c": {"N": str(seq)}},
    )
    pk, sk = store.layout.partition_key, store.layout.sort_key
    return list(_batch_get(store, [{pk: key[pk], sk: key[sk]} for key in keys]))


def _batch_get(store: DynamoDBTrialStore, keys: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for start in range(0, len(keys), _BATCH):
        request: dict[str, Any] = {
            store.table: {"Keys": keys[start : start + _BATCH], "ConsistentRead": True}
        }
        while request:
            answer = store.client.batch_get_item(RequestItems=request)
            yield from answer.get("Responses", {}).get(store.table, [])
            request = answer.get("UnprocessedKeys") or {}
            if request:
                time.sleep(_LAG_WAIT_S)


def _all_trial_items(store: DynamoDBTrialStore, scan_id: str) -> Iterator[dict[str, Any]]:
    return store._query(
        KeyConditionExpression="#pk = :pk AND begins_with(#sk, :t)",
        ExpressionAttributeNames={
            "#pk": store.layout.partition_key,
            "#sk": store.layout.sort_key,
        },
        ExpressionAttributeValues={":pk": {"S": f"SCAN#{scan_id}"}, ":t": {"S": TRIAL_PREFIX}},
        ConsistentRead=True,
    )


def _by_number(store: DynamoDBTrialStore, items: Iterable[dict[str, Any]]) -> list[TrialRecord]:
    return sorted((store._decode_trial(item)[0] for item in items), key=lambda t: t.number)
