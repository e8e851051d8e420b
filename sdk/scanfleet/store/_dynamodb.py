"""The cloud store: one DynamoDB table (``dynamodb_layout``), every change a conditional
write.

- **Scan items** keep the record as JSON plus, as attributes, what changes: status, reason,
  ``finished_at``, ``max_run``, ``cursor``, ``trial_count`` and the exact number of trials
  per state. Each scan method is one conditional ``UpdateItem`` on those attributes
  (``status = :expected``, ``cursor = :expected``), with no read first.
- **Trial items** keep the record as JSON plus ``state``, a ``version`` and the keys of the
  indexes the trial is in. A change reads the item, asks ``_rules`` for the new record
  (the same rules the SQLite store applies) and writes it on condition that the version
  did not move. A state change writes the trial and the scan's per-state counts in one
  transaction, so ``counts`` is one ``GetItem``. A lost race gets the current item back
  (``ReturnValuesOnConditionCheckFailure``) and decides again on it.
- **insert_trial** is one transaction: put the trial if its id is new, and move the scan's
  ``trial_count`` (and ``cursor``) on condition that they are what the trial was numbered
  from. The cancellation reasons say which of DUPLICATE, CURSOR_MOVED, LIMIT_REACHED it
  was, or that another insert took the number first (then it numbers again).

Only this module turns DynamoDB's condition failures into the contract's errors.

Indexes are eventually consistent. Claims and lease checks re-read the trial item itself
(the queue and lease indexes hold keys only), so a stale index entry costs a retry, never
a double claim or a wrongly reclaimed lease. The listings that stream from an index
(``iter_trials``, ``list_scans``) may lag a write by a moment; ``get_scan``,
``get_trial``, ``counts`` and ``intermediate_values`` are strongly consistent.

Numbers come back from the low-level client as text and are turned into ``int``/``float``
here (never ``Decimal``); floats are written with ``repr`` so they read back exactly.
"""

from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from typing import Any

from scanfleet.errors import StoreBusyError
from scanfleet.records import (
    ScanRecord,
    ScanStatus,
    TrialRecord,
    TrialState,
    scan_id_of,
)
from scanfleet.store import _dynamodb_listing as _listing
from scanfleet.store import _rules
from scanfleet.store._base import (
    InsertResult,
    ScanExistsError,
    ScanNotFoundError,
    TrialChanges,
    TrialNotFoundError,
)
from scanfleet.store._codec import dump, float_text, load
from scanfleet.store._dynamodb_changes import _batch_get as batch_get
from scanfleet.store._dynamodb_changes import change_seq_of as _change_seq
from scanfleet.store._dynamodb_changes import read_changes
from scanfleet.store._dynamodb_changes import seqs_of as _seqs
from scanfleet.store._transitions import TransitionStore
from scanfleet.store.dynamodb_layout import LAYOUT, TRIAL_PREFIX, Attr, TableLayout

_MAX_RACES = 1000  # lost compare-and-sets in a row before giving up
_CLAIM_ROUNDS = 50  # queue-index pages read by one claim_queued
_CLAIM_PAGE = 10  # candidates per page: racing workers spread over them
_BATCH_GET = 100  # BatchGetItem's limit
_CONDITION_FAILED = "ConditionalCheckFailed"
_CONFLICT = "TransactionConflict"
# a transaction cancelled because DynamoDB throttled one of its items (on-demand tables
# too): the caller may retry it, so it is StoreBusyError (the state machine retries it)
_THROTTLED = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"})


class _Lost(Exception):
    """The condition of write number ``index`` failed; ``item``: that item as it is now
    (when the write asked for it and the item exists)."""

    def __init__(self, index: int, item: dict[str, Any] | None) -> None:
        super().__init__(f"condition of write {index} failed")
        self.index = index
        self.item = item


class _Conflict(Exception):
    """Another transaction was writing the same item: back off and try again."""


class DynamoDBTrialStore(TransitionStore):
    """``DynamoDBTrialStore(table_name, client=boto3.client("dynamodb"))``.

    Args:
        table_name: a table made by ``create_table`` or the CDK stack.
        client: a low-level boto3 DynamoDB client; built (and boto3 imported) only when
            not given.
        page_size: items per page of the listings (they stream page by page); None:
            DynamoDB's own 1 MB pages.
    """

    def __init__(
        self,
        table_name: str,
        *,
        client: Any = None,
        page_size: int | None = None,
        layout: TableLayout = LAYOUT,
    ) -> None:
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self.table = table_name
        self.client = client
        self.page_size = page_size
        self.layout = layout
        self._condition_failed = client.exceptions.ConditionalCheckFailedException
        self._cancelled = client.exceptions.TransactionCanceledException
        self._change_seqs: dict[str, int] = {}  # the last change sequence seen per scan

    # ---- scans -------------------------------------------------------------------------

    def create_scan(self, scan: ScanRecord) -> tuple[ScanRecord, bool]:
        put_scan = {
            "TableName": self.table,
            "Item": self._scan_item(scan),
            "ConditionExpression": "attribute_not_exists(#pk)",
            "ExpressionAttributeNames": {"#pk": self.layout.partition_key},
        }
        if scan.client_token is None:
            try:
                self._write([{"Put": put_scan}])
            except _Lost:
                raise _scan_exists(scan.scan_id) from None
            return scan, True
        put_token = {
            "TableName": self.table,
            "Item": {
                **self.layout.token_key(scan.owner, scan.client_token),
                Attr.SCAN_ID: _s(scan.scan_id),
            },
            "ConditionExpression": "attribute_not_exists(#pk)",
            "ExpressionAttributeNames": {"#pk": self.layout.partition_key},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        for _ in range(_MAX_RACES):
            try:
                self._write([{"Put": put_token}, {"Put": put_scan}])
                return scan, True
            except _Lost as lost:
                if lost.index == 1 or lost.item is None:
                    raise _scan_exists(scan.scan_id) from None
                # the token is taken: the scan it names is the answer
                return self.get_scan(lost.item[Attr.SCAN_ID]["S"]), False
            except _Conflict:
                _back_off()
        raise _busy(scan.scan_id)

    def get_scan(self, scan_id: str) -> ScanRecord:
        return self._decode_scan(self._get_scan_item(scan_id))

    def list_scans(
        self,
        owner: str,
        *,
        status: ScanStatus | None = None,
        tag: tuple[str, str] | None = None,
    ) -> list[ScanRecord]:
        index = self.layout.owner
        names = {"#o": index.partition_key}
        values: dict[str, Any] = {":o": _s(owner)}
        filters = []
        if status is not None:
            names["#st"] = Attr.STATUS
            values[":st"] = _s(status.value)
            filters.append("#st = :st")
        if tag is not None:
            names["#tags"], names["#tk"] = Attr.TAGS, tag[0]
            values[":tv"] = _s(tag[1])
            filters.append("#tags.#tk = :tv")
        query: dict[str, Any] = {
            "IndexName": index.name,
            "KeyConditionExpression": "#o = :o",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
        }
        if filters:
            query["FilterExpression"] = " AND ".join(filters)
        # the index holds keys, status and tags: the scans themselves come from the table
        return [self._decode_scan(item) for item in self._items_of(self._query(**query))]

    def scans_listed_under(self, prefix: str) -> list[tuple[str, str]]:
        """A paginated ``Scan`` of the owner index (``_dynamodb_listing``)."""
        return _listing.scans_listed_under(self, prefix)

    def relist_scan(self, scan_id: str, *, listed_as: str, list_as: str) -> bool:
        """Moves the scan item's owner index key, and nothing else (``_dynamodb_listing``)."""
        return _listing.relist_scan(self, scan_id, listed_as, list_as)

    def set_scan_status(
        self,
        scan_id: str,
        status: ScanStatus,
        *,
        reason: str | None = None,
        expected: ScanStatus | None = ScanStatus.RUNNING,
        now: float,
    ) -> bool:
        fields = _rules.status_update(status, reason, now)
        sets, removes = ["#st = :st"], []
        names = {"#pk": self.layout.partition_key, "#st": Attr.STATUS}
        values: dict[str, Any] = {":st": _s(status.value)}
        for placeholder, attr, value in (
            ("sr", Attr.STATUS_REASON, fields["status_reason"]),
            ("fa", Attr.FINISHED_AT, fields["finished_at"]),
        ):
            names[f"#{placeholder}"] = attr
            if value is None:
                removes.append(f"#{placeholder}")
            else:
                sets.append(f"#{placeholder} = :{placeholder}")
                values[f":{placeholder}"] = _s(value) if isinstance(value, str) else _n(value)
        condition = "attribute_exists(#pk)"
        if expected is not None:
            condition += " AND #st = :expected"
            values[":expected"] = _s(expected.value)
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        try:
            self._update_scan(scan_id, expression, condition, names, values)
        except _Lost as lost:
            if lost.item is None:
                raise _scan_not_found(scan_id) from None
            return False
        return True

    def delete_scan(self, scan_id: str) -> ScanRecord:
        try:
            old = self.client.delete_item(
                TableName=self.table,
                Key=self.layout.scan_key(scan_id),
                ConditionExpression="attribute_exists(#pk)",
                ExpressionAttributeNames={"#pk": self.layout.partition_key},
                ReturnValues="ALL_OLD",
            )["Attributes"]
        except self._condition_failed:
            raise _scan_not_found(scan_id) from None
        scan = self._decode_scan(old)
        pk, sk = self.layout.partition_key, self.layout.sort_key
        keys = [
            {pk: item[pk], sk: item[sk]}
            for item in self._query(
                KeyConditionExpression="#pk = :pk",
                ExpressionAttributeNames={"#pk": pk, "#sk": sk},
                ExpressionAttributeValues={":pk": self.layout.scan_key(scan_id)[pk]},
                ProjectionExpression="#pk, #sk",
            )
        ]
        if scan.client_token is not None:
            keys.append(self.layout.token_key(scan.owner, scan.client_token))
        for start in range(0, len(keys), 25):  # BatchWriteItem's limit
            requests = [{"DeleteRequest": {"Key": key}} for key in keys[start : start + 25]]
            while requests:
                answer = self.client.batch_write_item(RequestItems={self.table: requests})
                requests = answer.get("UnprocessedItems", {}).get(self.table, [])
                if requests:
                    _back_off()
        return scan

    def set_max_run(self, scan_id: str, max_run: int) -> ScanRecord:
        try:
            item = self._update_scan(
                scan_id,
                "SET #mr = :mr",
                "attribute_exists(#pk)",
                {"#pk": self.layout.partition_key, "#mr": Attr.MAX_RUN},
                {":mr": _n(max_run)},
                return_new=True,
            )
        except _Lost:
            raise _scan_not_found(scan_id) from None
        return self._decode_scan(item)

    def skip_cursor(self, scan_id: str, expected_cursor: int) -> bool:
        try:
            self._update_scan(
                scan_id,
                "SET #cur = :next",
                "#cur = :cur",
                {"#cur": Attr.CURSOR},
                {":cur": _n(expected_cursor), ":next": _n(expected_cursor + 1)},
            )
        except _Lost as lost:
            if lost.item is None:
                raise _scan_not_found(scan_id) from None
            return False
        return True

    # ---- trials ------------------------------------------------------------------------

    def insert_trial(
        self,
        trial: TrialRecord,
        *,
        expected_cursor: int | None = None,
        max_trials: int | None = None,
    ) -> InsertResult:
        item = self._get_scan_item(trial.scan_id)
        for _ in range(_MAX_RACES):
            scan, seq = self._decode_scan(item), _change_seq(item)
            numbered = trial.model_copy(update={"number": scan.trial_count})
            try:
                self._write(
                    [
                        {
                            "Put": {
                                "TableName": self.table,
                                "Item": self._trial_item(numbered, version=1, seqs={seq + 1}),
                                "ConditionExpression": "attribute_not_exists(#pk)",
                                "ExpressionAttributeNames": {"#pk": self.layout.partition_key},
                            }
                        },
                        {
                            "Update": self._count_update(
                                scan, seq, numbered, expected_cursor, max_trials
                            )
                        },
                    ]
                )
                self._change_seqs[trial.scan_id] = seq + 1
                return InsertResult.CREATED
            except _Lost as lost:
                if lost.index == 0:  # the trial exists (checked first: DUPLICATE wins)
                    return InsertResult.DUPLICATE
                if lost.item is None:
                    raise _scan_not_found(trial.scan_id) from None
                item = lost.item
                scan = self._decode_scan(item)
            except _Conflict:
                _back_off()
                item = self._get_scan_item(trial.scan_id)
                continue
            refusal = _rules.insert_refusal(
                scan, exists=False, expected_cursor=expected_cursor, max_trials=max_trials
            )
            if refusal is not None:
                return refusal
            # another write took this number or change sequence first: number it again
        raise _busy(trial.scan_id)

    def _count_update(
        self,
        scan: ScanRecord,
        seq: int,
        trial: TrialRecord,
        expected_cursor: int | None,
        max_trials: int | None,
    ) -> dict[str, Any]:
        """The scan's side of an insert: one more trial (and cell) and the next change
        sequence, if nothing moved."""
        names = {"#tc": Attr.TRIAL_COUNT, "#count": Attr.count(trial.state)}
        values: dict[str, Any] = {
            ":n": _n(scan.trial_count),
            ":n1": _n(scan.trial_count + 1),
            ":one": _n(1),
        }
        sets, conditions = ["#tc = :n1"], ["#tc = :n"]
        _add_seq_move(seq, names, values, sets, conditions)
        if expected_cursor is not None:
            names["#cur"] = Attr.CURSOR
            values[":cur"], values[":cur1"] = _n(expected_cursor), _n(expected_cursor + 1)
            sets.append("#cur = :cur1")
            conditions.append("#cur = :cur")
        if max_trials is not None:
            values[":max"] = _n(max_trials)
            conditions.append("#tc < :max")
        return {
            "TableName": self.table,
            "Key": self.layout.scan_key(scan.scan_id),
            "UpdateExpression": "SET " + ", ".join(sets) + " ADD #count :one",
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def get_trial(self, trial_id: str) -> TrialRecord:
        return self._decode_trial(self._get_trial_item(trial_id))[0]

    def iter_trials(
        self, scan_id: str, *, states: frozenset[TrialState] | None = None, after: int = -1
    ) -> Iterator[TrialRecord]:
        if states is not None and not states:
            return
        index = self.layout.number
        query: dict[str, Any] = {
            "IndexName": index.name,
            "KeyConditionExpression": "#s = :s AND #n > :n",
            "ExpressionAttributeNames": {"#s": index.partition_key, "#n": index.sort_key},
            "ExpressionAttributeValues": {":s": _s(scan_id), ":n": _n(after)},
        }
        if states is not None:
            marks = [f":st{i}" for i in range(len(states))]
            query["ExpressionAttributeNames"]["#state"] = Attr.STATE
            query["FilterExpression"] = f"#state IN ({', '.join(marks)})"
            for mark, state in zip(marks, sorted(states), strict=True):
                query["ExpressionAttributeValues"][mark] = _s(state.value)
        for item in self._items_of(self._query(**query)):  # the index holds keys and state
            yield self._decode_trial(item)[0]

    def trials_changed_since(self, scan_id: str, seq: int | None) -> TrialChanges:
        """``_dynamodb_changes.read_changes``: the ``changes`` index (eventually
        consistent) finds the trials, each read back consistently; the sequence returned
        is the highest one up to which every change was found."""
        return read_changes(self, scan_id, seq)

    def claim_queued(
        self, scan_id: str, worker_id: str, *, lease_seconds: float, now: float
    ) -> TrialRecord | None:
        """The queue index (keys only) lists QUEUED trials by number; the oldest is read
        and claimed by a compare-and-set on the trial item. When another worker took it
        meanwhile, the others are racing for it too: the index is read again and a
        candidate drawn at random from it, so racing workers spread out instead of
        colliding on every trial (a claim under contention takes two or three attempts,
        not one per racer)."""
        index = self.layout.queue
        for attempt in range(_CLAIM_ROUNDS):
            page = self.client.query(
                TableName=self.table,
                IndexName=index.name,
                KeyConditionExpression="#s = :s",
                ExpressionAttributeNames={"#s": index.partition_key},
                ExpressionAttributeValues={":s": _s(scan_id)},
                Limit=_CLAIM_PAGE,
            )["Items"]
            if not page:
                return None
            item = page[0] if attempt == 0 else random.choice(page)
            try:
                got = self._change_trial(
                    self._trial_id_of(item),
                    lambda t: _rules.claimed(t, worker_id, lease_seconds, now),
                )
            except TrialNotFoundError:  # not possible today: trials are never deleted
                continue
            if got is not None:
                return got
        return None

    def record_intermediate(self, trial_id: str, metric: str, step: int, value: float) -> None:
        """The value is its own item, written in the same transaction as the trial's
        ``last_step`` (or a check of the trial's version), so a trial that finished
        meanwhile gets no value."""

        def curve_item(trial: TrialRecord) -> dict[str, Any]:
            return {
                "Put": {
                    "TableName": self.table,
                    "Item": {
                        **self.layout.curve_key(trial.scan_id, metric, trial_id, step),
                        Attr.SCAN_ID: _s(trial.scan_id),
                        Attr.TRIAL_ID: _s(trial_id),
                        Attr.METRIC: _s(metric),
                        Attr.STEP: _n(step),
                        Attr.VALUE: _s(float_text(value)),
                    },
                }
            }

        self._change_trial(trial_id, lambda t: _rules.reported(t, step), also=curve_item)

    def intermediate_values(
        self, scan_id: str, metric: str, *, trial_ids: Collection[str] | None = None
    ) -> dict[str, dict[int, float]]:
        """One query over the scan's curves of ``metric``, or one per trial in
        ``trial_ids`` (its curve items share the prefix ``CURVE#<metric>#<trial_id>#``)."""
        prefix = self.layout.curve_prefix(metric)
        prefixes = [prefix] if trial_ids is None else [f"{prefix}{t}#" for t in sorted(trial_ids)]
        out: dict[str, dict[int, float]] = {}
        for start in prefixes:
            for item in self._query(
                KeyConditionExpression="#pk = :p AND begins_with(#sk, :c)",
                FilterExpression="#m = :m",  # a metric named "loss#x" shares the prefix of "loss"
                ExpressionAttributeNames={
                    "#pk": self.layout.partition_key,
                    "#sk": self.layout.sort_key,
                    "#m": Attr.METRIC,
                },
                ExpressionAttributeValues={
                    ":p": _s(f"SCAN#{scan_id}"),
                    ":c": _s(start),
                    ":m": _s(metric),
                },
                ConsistentRead=True,
            ):
                steps = out.setdefault(item[Attr.TRIAL_ID]["S"], {})
                steps[int(item[Attr.STEP]["N"])] = float(item[Attr.VALUE]["S"])
        return out

    def expired_leases(self, scan_id: str, now: float) -> list[TrialRecord]:
        """Candidates from the scan's part of the lease index, each confirmed on the trial
        item itself (the index may still show a lease that a heartbeat has since extended)."""
        index = self.layout.lease
        candidates = self._query(
            IndexName=index.name,
            KeyConditionExpression="#s = :s AND #l < :now",
            ExpressionAttributeNames={"#s": index.partition_key, "#l": index.sort_key},
            ExpressionAttributeValues={":s": _s(scan_id), ":now": _n(now)},
        )
        return sorted(self._still_expired(candidates, now), key=lambda t: t.number)

    def stale_trials(self, now: float) -> list[TrialRecord]:
        """A paginated ``Scan`` of the lease index, filtered on the lease expiry: the index
        is sparse (RUNNING trials only, keys only), so the scan reads one small entry per
        busy worker. Each candidate is confirmed on the trial item, as in
        ``expired_leases``."""
        index = self.layout.lease
        candidates = self._scan_index(
            IndexName=index.name,
            FilterExpression="#l < :now",
            ExpressionAttributeNames={"#l": index.sort_key},
            ExpressionAttributeValues={":now": _n(now)},
        )
        stale = self._still_expired(candidates, now)
        return sorted(stale, key=lambda t: (t.scan_id, t.number))

    def count_scans_by_status(self) -> dict[ScanStatus, int]:
        """A paginated ``Scan`` of the owner index, which holds scan items only."""
        counts = dict.fromkeys(ScanStatus, 0)
        for item in self._scan_index(
            IndexName=self.layout.owner.name,
            ProjectionExpression="#st",
            ExpressionAttributeNames={"#st": Attr.STATUS},
        ):
            counts[ScanStatus(item[Attr.STATUS]["S"])] += 1
        return counts

    def _still_expired(
        self, candidates: Iterable[dict[str, Any]], now: float
    ) -> Iterator[TrialRecord]:
        for item in candidates:
            try:
                trial = self.get_trial(self._trial_id_of(item))
            except TrialNotFoundError:
                continue
            if (
                trial.state is TrialState.RUNNING
                and trial.lease_expires_at is not None
                and trial.lease_expires_at < now
            ):
                yield trial

    def counts(self, scan_id: str) -> dict[TrialState, int]:
        names = {f"#c{i}": Attr.count(s) for i, s in enumerate(TrialState)}
        item = self.client.get_item(
            TableName=self.table,
            Key=self.layout.scan_key(scan_id),
            ConsistentRead=True,
            ProjectionExpression=", ".join(names),
            ExpressionAttributeNames=names,
        ).get("Item")
        if item is None:
            raise _scan_not_found(scan_id)
        return {s: int(item.get(Attr.count(s), {"N": "0"})["N"]) for s in TrialState}

    # ---- compare-and-set on trial items ------------------------------------------------

    def _change_trial(
        self,
        trial_id: str,
        change: Callable[[TrialRecord], TrialRecord | None],
        *,
        also: Callable[[TrialRecord], dict[str, Any]] | None = None,
    ) -> TrialRecord | None:
        """Apply a ``_rules`` transition: write the new record on condition that the
        version read is still the item's, with the scan's counts when the state changes,
        the scan's next change sequence when the change moves it (on condition that the
        sequence is the one last seen) and ``also`` (another write of the same
        transaction). On a lost race, decide again on the item as it is now."""
        item = self._get_trial_item(trial_id)
        scan_id = scan_id_of(trial_id)
        for _ in range(_MAX_RACES):
            trial, version = self._decode_trial(item)
            new = change(trial)
            if new is None:
                return None
            if new is trial and also is None:
                return trial
            seq = self._last_change_seq(scan_id) if _rules.moves_sequence(trial, new) else None
            try:
                self._write(self._trial_writes(trial, new, (version, _seqs(item)), seq, also))
                if seq is not None:
                    self._change_seqs[scan_id] = seq + 1
                return new
            except _Lost as lost:
                if lost.index == 0:
                    if lost.item is None:
                        raise _trial_not_found(trial_id) from None
                    item = lost.item
                elif lost.item is None:  # the scan's side: only if the scan is gone
                    raise _scan_not_found(trial.scan_id) from None
                else:  # another change took the next sequence first
                    self._change_seqs[scan_id] = _change_seq(lost.item)
            except _Conflict:
                _back_off()
                item = self._get_trial_item(trial_id)
        raise _busy(trial_id)

    def _last_change_seq(self, scan_id: str) -> int:
        """The scan's change sequence as this store last saw it (read when unknown; a
        stale value costs a lost condition that brings the current one)."""
        if scan_id not in self._change_seqs:
            item = self.client.get_item(
                TableName=self.table,
                Key=self.layout.scan_key(scan_id),
                ConsistentRead=True,
                ProjectionExpression="#cs",
                ExpressionAttributeNames={"#cs": Attr.CHANGE_SEQ},
            ).get("Item")
            if item is None:
                raise _scan_not_found(scan_id)
            self._change_seqs[scan_id] = _change_seq(item)
        return self._change_seqs[scan_id]

    def _trial_writes(
        self,
        old: TrialRecord,
        new: TrialRecord,
        read: tuple[int, frozenset[int]],
        seq: int | None,
        also: Callable[[TrialRecord], dict[str, Any]] | None,
    ) -> list[dict[str, Any]]:
        """``read``: the version and the change sequences of the item read; ``seq``: the
        scan's change sequence to move from (None: the change does not move it)."""
        version, seqs = read
        condition = {
            "TableName": self.table,
            "ConditionExpression": "#v = :v",
            "ExpressionAttributeNames": {"#v": Attr.VERSION},
            "ExpressionAttributeValues": {":v": _n(version)},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if new is old:
            writes = [
                {
                    "ConditionCheck": {
                        **condition,
                        "Key": self.layout.trial_key(old.scan_id, old.trial_id),
                    }
                }
            ]
        else:
            if seq is not None:
                seqs = seqs | {seq + 1}
            item = self._trial_item(new, version=version + 1, seqs=seqs)
            writes = [{"Put": {**condition, "Item": item}}]
        if new.state is not old.state or seq is not None:
            writes.append({"Update": self._scan_side_update(old, new, seq)})
        if also is not None:
            writes.append(also(new))
        return writes

    def _scan_side_update(
        self, old: TrialRecord, new: TrialRecord, seq: int | None
    ) -> dict[str, Any]:
        """The scan's side of a trial change: the per-state counts when the state moves,
        the next change sequence (conditioned on ``seq``) when the change moves it."""
        names = {"#pk": self.layout.partition_key}
        values: dict[str, Any] = {}
        sets: list[str] = []
        conditions = ["attribute_exists(#pk)"]
        adds = []
        if new.state is not old.state:
            names["#from"], names["#to"] = Attr.count(old.state), Attr.count(new.state)
            values[":minus"], values[":plus"] = _n(-1), _n(1)
            adds = ["#from :minus", "#to :plus"]
        if seq is not None:
            _add_seq_move(seq, names, values, sets, conditions)
        expression = ("SET " + ", ".join(sets) if sets else "") + (
            " ADD " + ", ".join(adds) if adds else ""
        )
        return {
            "TableName": self.table,
            "Key": self.layout.scan_key(new.scan_id),
            "UpdateExpression": expression.strip(),
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    # ---- requests ----------------------------------------------------------------------

    def _write(self, writes: list[dict[str, Any]]) -> None:
        """One atomic write: a single conditional Put, or a transaction. Raises _Lost with
        the first failed item's current attributes (None when it does not exist), or
        _Conflict."""
        if len(writes) == 1 and "Put" in writes[0]:
            try:
                self.client.put_item(**writes[0]["Put"])
            except self._condition_failed as exc:
                raise _Lost(0, exc.response.get("Item")) from None
            return
        try:
            self.client.transact_write_items(TransactItems=writes)
        except self._cancelled as exc:
            reasons = exc.response.get("CancellationReasons") or []
            for index, reason in enumerate(reasons):
                if reason.get("Code") == _CONDITION_FAILED:
                    raise _Lost(index, reason.get("Item")) from None
            if any(r.get("Code") == _CONFLICT for r in reasons):
                raise _Conflict() from None
            if any(r.get("Code") in _THROTTLED for r in reasons):
                codes = sorted({str(r.get("Code")) for r in reasons if r.get("Code") != "None"})
                raise StoreBusyError(
                    f"DynamoDB throttled the transaction ({', '.join(codes)}); retry",
                    details={"reasons": codes},
                ) from None
            raise

    def _update_scan(
        self,
        scan_id: str,
        expression: str,
        condition: str,
        names: dict[str, str],
        values: dict[str, Any],
        *,
        return_new: bool = False,
    ) -> dict[str, Any]:
        try:
            response = self.client.update_item(
                TableName=self.table,
                Key=self.layout.scan_key(scan_id),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW" if return_new else "NONE",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._condition_failed as exc:
            raise _Lost(0, exc.response.get("Item")) from None
        return dict(response.get("Attributes") or {})

    def _get_scan_item(self, scan_id: str) -> dict[str, Any]:
        item = self.client.get_item(
            TableName=self.table, Key=self.layout.scan_key(scan_id), ConsistentRead=True
        ).get("Item")
        if item is None:
            raise _scan_not_found(scan_id)
        return dict(item)

    def _get_trial_item(self, trial_id: str) -> dict[str, Any]:
        scan_id = scan_id_of(trial_id)
        item = None
        if scan_id:
            item = self.client.get_item(
                TableName=self.table,
                Key=self.layout.trial_key(scan_id, trial_id),
                ConsistentRead=True,
            ).get("Item")
        if item is None:
            raise _trial_not_found(trial_id)
        return dict(item)

    def _items_of(self, entries: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """The table's items for index ``entries``, in the entries' order, read back a
        hundred at a time (``BatchGetItem``, consistent), streamed. Each entry gets its
        item by its key, so a key listed twice would get it twice (``batch_get`` asks for
        it once); its callers' indexes (number, owner) never move an item within the
        partition they read, so a paged query lists each item once."""
        pk, sk = self.layout.partition_key, self.layout.sort_key
        chunk: list[dict[str, Any]] = []
        for entry in itertools.chain(entries, [None]):
            if entry is not None:
                chunk.append({pk: entry[pk], sk: entry[sk]})
                if len(chunk) < _BATCH_GET:
                    continue
            found = {(item[pk]["S"], item[sk]["S"]): item for item in batch_get(self, chunk)}
            for key in chunk:
                item = found.get((key[pk]["S"], key[sk]["S"]))
                if item is not None:  # deleted since the index listed it
                    yield item
            chunk = []

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        return self._pages("query", kwargs)

    def _scan_index(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """A ``Scan`` (of a sparse index: the searches that span every scan)."""
        return self._pages("scan", kwargs)

    def _pages(self, operation: str, kwargs: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if self.page_size:
            kwargs["PaginationConfig"] = {"PageSize": self.page_size}
        paginator = self.client.get_paginator(operation)
        for page in paginator.paginate(TableName=self.table, **kwargs):
            yield from page["Items"]

    # ---- items <-> records -------------------------------------------------------------

    def _scan_item(self, scan: ScanRecord) -> dict[str, Any]:
        item: dict[str, Any] = {
            **self.layout.scan_key(scan.scan_id),
            Attr.RECORD: _s(dump(scan)),
            Attr.STATUS: _s(scan.status.value),
            Attr.MAX_RUN: _n(scan.max_run),
            Attr.CURSOR: _n(scan.cursor),
            Attr.TRIAL_COUNT: _n(scan.trial_count),
            Attr.CHANGE_SEQ: _n(0),
            Attr.TAGS: {"M": {k: _s(v) for k, v in scan.tags.items()}},
            self.layout.owner.partition_key: _s(scan.owner),
            self.layout.owner.sort_key: _s(f"{scan.created_at:020.6f}#{scan.scan_id}"),
        }
        if scan.status_reason is not None:
            item[Attr.STATUS_REASON] = _s(scan.status_reason)
        if scan.finished_at is not None:
            item[Attr.FINISHED_AT] = _n(scan.finished_at)
        for state in TrialState:
            item[Attr.count(state)] = _n(0)
        return item

    @staticmethod
    def _decode_scan(item: dict[str, Any]) -> ScanRecord:
        data = json.loads(item[Attr.RECORD]["S"])
        data.update(
            status=item[Attr.STATUS]["S"],
            status_reason=item[Attr.STATUS_REASON]["S"] if Attr.STATUS_REASON in item else None,
            finished_at=float(item[Attr.FINISHED_AT]["N"]) if Attr.FINISHED_AT in item else None,
            max_run=int(item[Attr.MAX_RUN]["N"]),
            cursor=int(item[Attr.CURSOR]["N"]),
            trial_count=int(item[Attr.TRIAL_COUNT]["N"]),
        )
        return ScanRecord.model_validate(data)

    def _trial_item(
        self, trial: TrialRecord, *, version: int, seqs: Collection[int] = ()
    ) -> dict[str, Any]:
        """``seqs``: the change sequences of the trial's changes (the last one keys it in
        the ``changes`` index)."""
        layout = self.layout
        item: dict[str, Any] = {
            **layout.trial_key(trial.scan_id, trial.trial_id),
            Attr.RECORD: _s(dump(trial)),
            Attr.STATE: _s(trial.state.value),
            Attr.VERSION: _n(version),
            layout.number.partition_key: _s(trial.scan_id),
            layout.number.sort_key: _n(trial.number),
        }
        if seqs:
            item[Attr.SEQS] = {"NS": [str(s) for s in sorted(seqs)]}
            item[layout.changes.partition_key] = _s(trial.scan_id)
            item[layout.changes.sort_key] = _n(max(seqs))
        if trial.state is TrialState.QUEUED:
            item[layout.queue.partition_key] = _s(trial.scan_id)
            item[layout.queue.sort_key] = _n(trial.number)
        if trial.state is TrialState.RUNNING and trial.lease_expires_at is not None:
            item[layout.lease.partition_key] = _s(trial.scan_id)
            item[layout.lease.sort_key] = _n(trial.lease_expires_at)
        return item

    def _trial_id_of(self, item: dict[str, Any]) -> str:
        return str(item[self.layout.sort_key]["S"]).removeprefix(TRIAL_PREFIX)

    @staticmethod
    def _decode_trial(item: dict[str, Any]) -> tuple[TrialRecord, int]:
        return load(TrialRecord, item[Attr.RECORD]["S"]), int(item[Attr.VERSION]["N"])


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float) -> dict[str, str]:
    """A DynamoDB number (ints as they are, floats by ``repr`` so they read back exactly)."""
    return {"N": str(value) if isinstance(value, int) else float_text(value)}


def _add_seq_move(
    seq: int, names: dict[str, str], values: dict[str, Any], sets: list[str], conditions: list[str]
) -> None:
    """Move the scan's change sequence from ``seq`` to ``seq + 1``, on condition that it
    is ``seq`` (missing counts as 0: a scan item written before the sequence existed)."""
    names["#cs"] = Attr.CHANGE_SEQ
    values[":cs"], values[":cs1"] = _n(seq), _n(seq + 1)
    sets.append("#cs = :cs1")
    conditions.append("(#cs = :cs OR attribute_not_exists(#cs))" if seq == 0 else "#cs = :cs")


def _back_off() -> None:
    time.sleep(random.uniform(0.005, 0.05))


def _scan_not_found(scan_id: str) -> ScanNotFoundError:
    return ScanNotFoundError(f"no scan {scan_id}", details={"scan_id": scan_id})


def _trial_not_found(trial_id: str) -> TrialNotFoundError:
    return TrialNotFoundError(f"no trial {trial_id}", details={"trial_id": trial_id})


def _scan_exists(scan_id: str) -> ScanExistsError:
    return ScanExistsError(f"a scan {scan_id} exists already", details={"scan_id": scan_id})


def _busy(key: str) -> StoreBusyError:
    return StoreBusyError(f"too many concurrent writers on {key}; retry", details={"key": key})
