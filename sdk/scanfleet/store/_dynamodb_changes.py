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

import random
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from scanfleet.errors import StoreBusyError
from scanfleet.records import TrialRecord
from scanfleet.store._base import TrialChanges
from scanfleet.store.dynamodb_layout import TRIAL_PREFIX, Attr

if TYPE_CHECKING:
    from scanfleet.store._dynamodb import DynamoDBTrialStore

_INDEX_READS = 8  # reads of the index while it lags the counter
_LAG_WAIT_S = 0.02  # the first wait for the index (doubled after each read)
_BATCH = 100  # BatchGetItem's limit
_IDLE_ROUNDS = 8  # BatchGetItem rounds in a row that read nothing before giving up
_BACKOFF_CAP_S = 1.0  # the longest wait before asking again for unprocessed keys


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
    """The items of ``keys`` that exist, each once, read consistently a hundred at a time.

    A key may come twice: an index read page by page meets an item again when a write
    moves it to a later place meanwhile (the ``changes`` index, whose sort key is the
    trial's last change). BatchGetItem refuses a request whose keys repeat
    (ValidationException "Provided list of item keys contains duplicates"), so each key
    is asked for once, in its first place; callers that want an item per key find it by
    its key (``_items_of``). Keys DynamoDB leaves unprocessed (throttling, its 16 MB
    answer) are asked again after a jittered wait that doubles each round, up to
    ``_BACKOFF_CAP_S``; after ``_IDLE_ROUNDS`` rounds in a row that read nothing,
    StoreBusyError (503: the caller retries later).
    """
    unique = list({_identity(key): key for key in keys}.values())  # first places kept
    for start in range(0, len(unique), _BATCH):
        request: dict[str, Any] = {
            store.table: {"Keys": unique[start : start + _BATCH], "ConsistentRead": True}
        }
        idle = rounds = 0
        while request:
            answer = store.client.batch_get_item(RequestItems=request)
            items = answer.get("Responses", {}).get(store.table, [])
            yield from items
            request = answer.get("UnprocessedKeys") or {}
            if request:
                idle = 0 if items else idle + 1
                if idle >= _IDLE_ROUNDS:
                    left = len(request[store.table]["Keys"])
                    raise StoreBusyError(
                        f"DynamoDB left {left} keys of a BatchGetItem unprocessed "
                        f"{idle} times in a row; retry",
                        details={"unprocessed_keys": left},
                    )
                wait = min(_BACKOFF_CAP_S, _LAG_WAIT_S * 2**rounds)
                time.sleep(random.uniform(wait / 2, wait))
                rounds += 1


def _identity(key: dict[str, Any]) -> tuple[tuple[str, str, str], ...]:
    """A key as a hashable value: its attributes' names, types and values."""
    return tuple(
        sorted(
            (name, kind, str(value)) for name, typed in key.items() for kind, value in typed.items()
        )
    )


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
