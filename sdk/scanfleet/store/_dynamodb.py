"""The cloud store: one DynamoDB table, every change a conditional write.

Each scan and trial item carries its record as JSON plus the attributes that are queried
or conditioned on, and a ``version``: a change reads the item, computes the new record,
and writes it on condition that the version did not move (compare-and-set), in the same
transaction as the scan's per-state counters when the state changes. A lost race re-reads
and re-decides, so the domain checks (finished, lease holder) always see fresh data.
Only this module turns DynamoDB's condition failures into domain errors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from scanfleet.records import (
    Checkpoint,
    PruneDecision,
    RequeueReason,
    ScanRecord,
    ScanStatus,
    TrialRecord,
    TrialState,
)
from scanfleet.store import _dynamodb_layout as L
from scanfleet.store._base import (
    InsertResult,
    LeaseLostError,
    ScanNotFoundError,
    TrialNotFoundError,
    TrialStore,
)
from scanfleet.store._sqlite import _check_holder, _claimed, _raise_if_finished, _running_time

_MAX_RACES = 200
_QUEUE_PAGE = 10


class _Raced(Exception):
    """Another writer changed the item first: read again and decide again."""


class DynamoDBTrialStore(TrialStore):
    """``DynamoDBTrialStore(table_name, client=boto3.client("dynamodb"))``."""

    def __init__(self, table_name: str, *, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self.table = table_name
        self.client = client
        self._conditional = client.exceptions.ConditionalCheckFailedException
        self._cancelled = client.exceptions.TransactionCanceledException

    # ---- scans -------------------------------------------------------------------------

    def create_scan(self, scan: ScanRecord) -> tuple[ScanRecord, bool]:
        put_scan = {
            "Put": {
                "TableName": self.table,
                "Item": self._scan_item(scan, version=1),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        if scan.client_token is None:
            self.client.transact_write_items(TransactItems=[put_scan])
            return scan, True
        put_token = {
            "Put": {
                "TableName": self.table,
                "Item": {**L.token_key(scan.owner, scan.client_token), "scan_id": _s(scan.scan_id)},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        try:
            self.client.transact_write_items(TransactItems=[put_token, put_scan])
            return scan, True
        except self._cancelled:
            found = self.client.get_item(
                TableName=self.table,
                Key=L.token_key(scan.owner, scan.client_token),
                ConsistentRead=True,
            ).get("Item")
            if found is None:
                raise
            return self.get_scan(found["scan_id"]["S"]), False

    def get_scan(self, scan_id: str) -> ScanRecord:
        return self._get_scan(scan_id)[0]

    def list_scans(
        self,
        owner: str,
        *,
        status: ScanStatus | None = None,
        tag: tuple[str, str] | None = None,
    ) -> list[ScanRecord]:
        scans = []
        for item in self._query(
            IndexName=L.OWNER_INDEX,
            KeyConditionExpression=f"{L.OWNER_PK} = :o",
            ExpressionAttributeValues={":o": _s(owner)},
            ScanIndexForward=False,
        ):
            scan = ScanRecord.model_validate_json(item["record"]["S"])
            if status is not None and scan.status is not status:
                continue
            if tag is not None and scan.tags.get(tag[0]) != tag[1]:
                continue
            scans.append(scan)
        return scans

    def set_scan_status(
        self,
        scan_id: str,
        status: ScanStatus,
        *,
        reason: str | None = None,
        expected: ScanStatus | None = ScanStatus.RUNNING,
        now: float,
    ) -> bool:
        def change(scan: ScanRecord) -> ScanRecord | None:
            if expected is not None and scan.status is not expected:
                return None
            finished_at = now if status.is_finished() else None
            return scan.model_copy(
                update={"status": status, "status_reason": reason, "finished_at": finished_at}
            )

        return self._cas_scan(scan_id, change) is not None

    def set_max_run(self, scan_id: str, max_run: int) -> ScanRecord:
        updated = self._cas_scan(scan_id, lambda s: s.model_copy(update={"max_run": max_run}))
        assert updated is not None
        return updated

    def skip_cursor(self, scan_id: str, expected_cursor: int) -> bool:
        def change(scan: ScanRecord) -> ScanRecord | None:
            if scan.cursor != expected_cursor:
                return None
            return scan.model_copy(update={"cursor": scan.cursor + 1})

        return self._cas_scan(scan_id, change) is not None

    # ---- trials ------------------------------------------------------------------------

    def insert_trial(
        self,
        trial: TrialRecord,
        *,
        expected_cursor: int | None = None,
        max_trials: int | None = None,
    ) -> InsertResult:
        for _ in range(_MAX_RACES):
            scan, version = self._get_scan(trial.scan_id)
            if self._trial_item(trial.scan_id, trial.trial_id) is not None:
                return InsertResult.DUPLICATE
            if expected_cursor is not None and scan.cursor != expected_cursor:
                return InsertResult.CURSOR_MOVED
            if max_trials is not None and scan.trial_count >= max_trials:
                return InsertResult.LIMIT_REACHED
            numbered = trial.model_copy(update={"number": scan.trial_count})
            update: dict[str, Any] = {"trial_count": scan.trial_count + 1}
            if expected_cursor is not None:
                update["cursor"] = scan.cursor + 1
            new_scan = scan.model_copy(update=update)
            items = [
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": self._trial_item_for(numbered, version=1),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                self._scan_put(new_scan, version, counter_changes={numbered.state: 1}),
            ]
            try:
                self.client.transact_write_items(TransactItems=items)
                return InsertResult.CREATED
            except self._cancelled as exc:
                reasons = exc.response.get("CancellationReasons") or []
                if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                    return InsertResult.DUPLICATE
                continue  # the scan moved: decide again on fresh data
        raise RuntimeError("insert_trial lost too many races")

    def get_trial(self, trial_id: str) -> TrialRecord:
        return self._get_trial(trial_id)[0]

    def iter_trials(
        self, scan_id: str, *, states: frozenset[TrialState] | None = None
    ) -> Iterator[TrialRecord]:
        for item in self._query(
            IndexName=L.NUMBER_INDEX,
            KeyConditionExpression=f"{L.NUMBER_PK} = :s",
            ExpressionAttributeValues={":s": _s(scan_id)},
        ):
            trial = TrialRecord.model_validate_json(item["record"]["S"])
            if states is None or trial.state in states:
                yield trial

    def claim_queued(
        self, scan_id: str, worker_id: str, *, lease_seconds: float, now: float
    ) -> TrialRecord | None:
        while True:
            page = self.client.query(
                TableName=self.table,
                IndexName=L.QUEUE_INDEX,
                KeyConditionExpression=f"{L.QUEUE_PK} = :s",
                ExpressionAttributeValues={":s": _s(scan_id)},
                Limit=_QUEUE_PAGE,
            )["Items"]
            if not page:
                return None
            for item in page:
                claimed = self._claim_if_queued(
                    item["sk"]["S"][len("TRIAL#") :], worker_id, lease_seconds, now
                )
                if claimed is not None:
                    return claimed
            # every candidate was taken by someone else meanwhile: look again

    def _claim_if_queued(
        self, trial_id: str, worker_id: str, lease_seconds: float, now: float
    ) -> TrialRecord | None:
        def change(trial: TrialRecord) -> TrialRecord | None:
            if trial.state is not TrialState.QUEUED:
                return None
            return _claimed(trial, worker_id, lease_seconds, now)

        return self._cas_trial(trial_id, change)

    def claim_trial(
        self, trial_id: str, worker_id: str, *, lease_seconds: float, now: float
    ) -> TrialRecord | None:
        def change(trial: TrialRecord) -> TrialRecord | None:
            _raise_if_finished(trial)
            if trial.state is not TrialState.QUEUED:
                return None
            return _claimed(trial, worker_id, lease_seconds, now)

        return self._cas_trial(trial_id, change)

    def heartbeat(
        self, trial_id: str, worker_id: str, attempt: int, *, lease_seconds: float, now: float
    ) -> TrialRecord:
        def change(trial: TrialRecord) -> TrialRecord:
            _raise_if_finished(trial)
            _check_holder(trial, worker_id, attempt, now)
            return trial.model_copy(update={"lease_expires_at": now + lease_seconds})

        return self._must(self._cas_trial(trial_id, change))

    def record_intermediate(self, trial_id: str, metric: str, step: int, value: float) -> None:
        def change(trial: TrialRecord) -> TrialRecord:
            _raise_if_finished(trial)
            if trial.last_step is not None and step <= trial.last_step:
                return trial
            return trial.model_copy(update={"last_step": step})

        trial = self._must(self._cas_trial(trial_id, change))
        self.client.put_item(
            TableName=self.table,
            Item={
                **L.curve_key(trial.scan_id, metric, trial_id, step),
                "trial_id": _s(trial_id),
                "step": _n(step),
                "value": _s(repr(float(value))),
            },
        )

    def intermediate_values(self, scan_id: str, metric: str) -> dict[str, dict[int, float]]:
        out: dict[str, dict[int, float]] = {}
        for item in self._query(
            KeyConditionExpression="pk = :p AND begins_with(sk, :c)",
            ExpressionAttributeValues={":p": _s(f"SCAN#{scan_id}"), ":c": _s(f"CURVE#{metric}#")},
        ):
            out.setdefault(item["trial_id"]["S"], {})[int(item["step"]["N"])] = float(
                item["value"]["S"]
            )
        return out

    def set_prune_decision(self, trial_id: str, decision: PruneDecision) -> None:
        def change(trial: TrialRecord) -> TrialRecord:
            _raise_if_finished(trial)
            return trial.model_copy(update={"prune_decision": decision})

        self._cas_trial(trial_id, change)

    def record_checkpoint(self, trial_id: str, checkpoint: Checkpoint) -> TrialRecord:
        def change(trial: TrialRecord) -> TrialRecord:
            _raise_if_finished(trial)
            if trial.checkpoint is not None and checkpoint.step < trial.checkpoint.step:
                return trial
            return trial.model_copy(update={"checkpoint": checkpoint})

        return self._must(self._cas_trial(trial_id, change))

    def finish_trial(
        self,
        trial_id: str,
        state: TrialState,
        *,
        now: float,
        values: dict[str, float] | None = None,
        reason: str | None = None,
        expected_attempt: int | None = None,
    ) -> TrialRecord:
        if not state.is_finished():
            raise ValueError(f"{state} is not a finished state")

        def change(trial: TrialRecord) -> TrialRecord:
            _raise_if_finished(trial)
            if expected_attempt is not None and (
                trial.state is not TrialState.RUNNING or trial.attempt != expected_attempt
            ):
                raise LeaseLostError(
                    f"trial {trial_id} is no longer held by attempt {expected_attempt}"
                )
            return trial.model_copy(
                update={
                    "state": state,
                    "values": dict(values or {}),
                    "failure_reason": reason,
                    "finished_at": now,
                    "duration_s": trial.duration_s + _running_time(trial, now),
                    "lease_expires_at": None,
                }
            )

        return self._must(self._cas_trial(trial_id, change))

    def requeue_trial(
        self,
        trial_id: str,
        reason: RequeueReason,
        *,
        now: float,
        expected_attempt: int | None = None,
        message: str | None = None,
    ) -> TrialRecord | None:
        counter = "preemptions" if reason is RequeueReason.PREEMPTED else "errors"

        def change(trial: TrialRecord) -> TrialRecord | None:
            _raise_if_finished(trial)
            if trial.state is not TrialState.RUNNING or (
                expected_attempt is not None and trial.attempt != expected_attempt
            ):
                return None
            return trial.model_copy(
                update={
                    "state": TrialState.QUEUED,
                    counter: getattr(trial, counter) + 1,
                    "duration_s": trial.duration_s + _running_time(trial, now),
                    "worker_id": None,
                    "lease_expires_at": None,
                    "failure_reason": message,
                }
            )

        return self._cas_trial(trial_id, change)

    def expired_leases(self, scan_id: str, now: float) -> list[TrialRecord]:
        items = self._query(
            IndexName=L.LEASE_INDEX,
            KeyConditionExpression=f"{L.LEASE_PK} = :s AND {L.LEASE_SK} < :now",
            ExpressionAttributeValues={":s": _s(scan_id), ":now": _n(now)},
        )
        trials = [TrialRecord.model_validate_json(i["record"]["S"]) for i in items]
        return sorted(trials, key=lambda t: t.number)

    def counts(self, scan_id: str) -> dict[TrialState, int]:
        item = self._scan_item_of(scan_id)
        return {s: int(item.get(f"c_{s.value}", {"N": "0"})["N"]) for s in TrialState}

    def set_trial_tags(self, trial_id: str, tags: dict[str, str]) -> TrialRecord:
        return self._must(
            self._cas_trial(trial_id, lambda t: t.model_copy(update={"tags": {**t.tags, **tags}}))
        )

    # ---- compare-and-set ---------------------------------------------------------------

    def _cas_scan(
        self, scan_id: str, change: Callable[[ScanRecord], ScanRecord | None]
    ) -> ScanRecord | None:
        for _ in range(_MAX_RACES):
            scan, version = self._get_scan(scan_id)
            new = change(scan)
            if new is None:
                return None
            try:
                self.client.transact_write_items(TransactItems=[self._scan_put(new, version)])
                return new
            except self._cancelled:
                continue
        raise RuntimeError(f"scan {scan_id}: too many concurrent writers")

    def _cas_trial(
        self, trial_id: str, change: Callable[[TrialRecord], TrialRecord | None]
    ) -> TrialRecord | None:
        """Apply ``change`` to the fresh trial; None from it means 'nothing to do'."""
        for _ in range(_MAX_RACES):
            trial, version = self._get_trial(trial_id)
            new = change(trial)
            if new is None:
                return None
            if new is trial:
                return trial
            items = [
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": self._trial_item_for(new, version=version + 1),
                        "ConditionExpression": "version = :v",
                        "ExpressionAttributeValues": {":v": _n(version)},
                    }
                }
            ]
            if new.state is not trial.state:
                items.append(self._counter_update(trial.scan_id, {trial.state: -1, new.state: 1}))
            try:
                self.client.transact_write_items(TransactItems=items)
                return new
            except self._cancelled:
                continue
        raise RuntimeError(f"trial {trial_id}: too many concurrent writers")

    @staticmethod
    def _must(trial: TrialRecord | None) -> TrialRecord:
        assert trial is not None
        return trial

    # ---- items -------------------------------------------------------------------------

    def _get_scan(self, scan_id: str) -> tuple[ScanRecord, int]:
        item = self._scan_item_of(scan_id)
        return ScanRecord.model_validate_json(item["record"]["S"]), int(item["version"]["N"])

    def _scan_item_of(self, scan_id: str) -> dict[str, Any]:
        item = self.client.get_item(
            TableName=self.table, Key=L.scan_key(scan_id), ConsistentRead=True
        ).get("Item")
        if item is None:
            raise ScanNotFoundError(f"no scan {scan_id}")
        return dict(item)

    def _trial_item(self, scan_id: str, trial_id: str) -> dict[str, Any] | None:
        item = self.client.get_item(
            TableName=self.table, Key=L.trial_key(scan_id, trial_id), ConsistentRead=True
        ).get("Item")
        return dict(item) if item else None

    def _get_trial(self, trial_id: str) -> tuple[TrialRecord, int]:
        scan_id = trial_id.rpartition("-")[0]
        item = self._trial_item(scan_id, trial_id) if scan_id else None
        if item is None:
            raise TrialNotFoundError(f"no trial {trial_id}")
        return TrialRecord.model_validate_json(item["record"]["S"]), int(item["version"]["N"])

    def _scan_item(self, scan: ScanRecord, *, version: int) -> dict[str, Any]:
        item = {
            **L.scan_key(scan.scan_id),
            "record": _s(scan.model_dump_json()),
            "status": _s(scan.status.value),
            "version": _n(version),
            L.OWNER_PK: _s(scan.owner),
            L.OWNER_SK: _s(f"{scan.created_at:020.6f}#{scan.scan_id}"),
        }
        for state in TrialState:
            item[f"c_{state.value}"] = _n(0)
        return item

    def _scan_put(
        self,
        scan: ScanRecord,
        version: int,
        counter_changes: dict[TrialState, int] | None = None,
    ) -> dict[str, Any]:
        """An update of the scan item, conditioned on its version."""
        names = {"#r": "record", "#st": "status", "#v": "version"}
        values: dict[str, Any] = {
            ":r": _s(scan.model_dump_json()),
            ":st": _s(scan.status.value),
            ":v": _n(version),
            ":v1": _n(version + 1),
        }
        sets = ["#r = :r", "#st = :st", "#v = :v1"]
        adds = []
        for i, (state, delta) in enumerate((counter_changes or {}).items()):
            names[f"#c{i}"] = f"c_{state.value}"
            values[f":c{i}"] = _n(delta)
            adds.append(f"#c{i} :c{i}")
        expression = "SET " + ", ".join(sets) + (" ADD " + ", ".join(adds) if adds else "")
        return {
            "Update": {
                "TableName": self.table,
                "Key": L.scan_key(scan.scan_id),
                "UpdateExpression": expression,
                "ConditionExpression": "#v = :v",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def _counter_update(self, scan_id: str, changes: dict[TrialState, int]) -> dict[str, Any]:
        names = {f"#c{i}": f"c_{s.value}" for i, s in enumerate(changes)}
        values = {f":c{i}": _n(d) for i, d in enumerate(changes.values())}
        return {
            "Update": {
                "TableName": self.table,
                "Key": L.scan_key(scan_id),
                "UpdateExpression": "ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(changes))),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def _trial_item_for(self, trial: TrialRecord, *, version: int) -> dict[str, Any]:
        item: dict[str, Any] = {
            **L.trial_key(trial.scan_id, trial.trial_id),
            "record": _s(trial.model_dump_json()),
            "state": _s(trial.state.value),
            "version": _n(version),
            L.NUMBER_PK: _s(trial.scan_id),
            L.NUMBER_SK: _n(trial.number),
        }
        if trial.state is TrialState.QUEUED:
            item[L.QUEUE_PK] = _s(trial.scan_id)
            item[L.QUEUE_SK] = _n(trial.number)
        if trial.state is TrialState.RUNNING and trial.lease_expires_at is not None:
            item[L.LEASE_PK] = _s(trial.scan_id)
            item[L.LEASE_SK] = _n(trial.lease_expires_at)
        return item

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("query")
        for page in paginator.paginate(TableName=self.table, **kwargs):
            yield from page["Items"]


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float | int) -> dict[str, str]:
    return {"N": str(Decimal(repr(value)) if isinstance(value, float) else value)}
