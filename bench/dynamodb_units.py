"""DynamoDB capacity units as AWS bills them on-demand, counted from the requests moto
serves (``count_units``: a patch of moto's handler, inside the harness's own).

The model (the DynamoDB developer guide's "read/write capacity unit consumption"):

- **Reads**: ``GetItem`` and each item of ``BatchGetItem``: ceil(item size / 4 KB) units,
  half for an eventually consistent read (an index is always eventually consistent);
  ``Query``/``Scan``: the sizes of the items returned, summed, then rounded up to 4 KB
  (items a filter dropped are not seen here: a small under-count); a missing item still
  costs one unit (half). ``TransactGetItems``: twice.
- **Writes**: ceil(larger of the item before and after / 1 KB), at least 1, for the base
  table; twice inside ``TransactWriteItems`` (a ``ConditionCheck`` too); a failed
  conditional write is billed as well. Each global secondary index the item is in costs
  its own write, at the size of what it projects: a put when the item enters it, a delete
  when it leaves, both when its index key changes, one update when a projected attribute
  changes (a KEYS_ONLY index whose keys did not move is not written).
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from scanfleet.store.dynamodb_layout import LAYOUT, Index

READ_ACTIONS = ("GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems")
WRITE_ACTIONS = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


@dataclass
class Units:
    """Read and write units by action (``writes`` includes the index writes, also kept
    apart in ``index_writes`` by index), and read requests by action (a page of a
    ``Query`` is a request)."""

    reads: dict[str, float] = field(default_factory=dict)
    read_requests: dict[str, float] = field(default_factory=dict)
    writes: dict[str, float] = field(default_factory=dict)
    index_writes: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def read_total(self) -> float:
        return sum(self.reads.values())

    def read_request_total(self) -> float:
        return sum(self.read_requests.values())

    def write_total(self) -> float:
        return sum(self.writes.values())

    def add(self, table: dict[str, float], key: str, units: float) -> None:
        with self.lock:
            table[key] = table.get(key, 0.0) + units

    def snapshot(self) -> tuple[float, float]:
        return self.read_total(), self.write_total()


def value_size(value: dict[str, Any]) -> int:
    ((kind, data),) = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "N":
        return (len(data.lstrip("-").replace(".", "").lstrip("0")) + 1) // 2 + 1
    if kind == "B":
        return len(data) * 3 // 4
    if kind in ("SS", "BS"):
        return sum(len(x.encode()) for x in data)
    if kind == "NS":
        return sum(value_size({"N": x}) for x in data)
    if kind == "L":
        return 3 + sum(1 + value_size(x) for x in data)
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + value_size(v) for k, v in data.items())
    return 1  # BOOL, NULL


def item_size(item: dict[str, Any] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(v) for name, v in item.items())


def _projected(index: Index, item: dict[str, Any] | None) -> dict[str, Any] | None:
    """What ``index`` holds of ``item``, or None when the item is not in it."""
    if not item or index.partition_key not in item or index.sort_key not in item:
        return None
    if index.projection == "ALL":
        return item
    keys = (LAYOUT.partition_key, LAYOUT.sort_key, index.partition_key, index.sort_key)
    kept = keys + tuple(getattr(index, "include", ()) or ())
    return {k: v for k, v in item.items() if k in kept}


def index_write_units(
    before: dict[str, Any] | None, after: dict[str, Any] | None
) -> dict[str, float]:
    out: dict[str, float] = {}
    for index in LAYOUT.indexes:
        old, new = _projected(index, before), _projected(index, after)
        if old is None and new is None:
            continue
        if old is None or new is None or _index_key(index, old) != _index_key(index, new):
            units = (_kb(old) if old else 0) + (_kb(new) if new else 0)
        elif old != new:
            units = max(_kb(old), _kb(new))
        else:
            continue
        out[index.name] = float(units)
    return out


def _index_key(index: Index, item: dict[str, Any]) -> tuple[Any, ...]:
    return (json.dumps(item[index.partition_key]), json.dumps(item[index.sort_key]))


def _kb(item: dict[str, Any]) -> int:
    return max(1, math.ceil(item_size(item) / 1024))


def _read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / 4096))
    return float(units) if consistent else units / 2


@contextlib.contextmanager
def count_units(monkeypatch: pytest.MonkeyPatch, units: Units) -> Iterator[None]:
    """Count the units of every DynamoDB request moto serves while the context is open."""
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        action = str(self.headers.get("X-Amz-Target", ".")).rsplit(".", 1)[-1]
        try:
            body = json.loads(self.body or "{}")
        except ValueError:
            return original(self)
        backend = self.dynamodb_backend
        targets = _write_targets(action, body) if action in WRITE_ACTIONS else []
        before = [_current(backend, t, k) for t, k, _ in targets]
        result = original(self)
        if action in WRITE_ACTIONS:
            for (table, key, tx), old in zip(targets, before, strict=True):
                new = _current(backend, table, key)
                base = max(1, math.ceil(max(item_size(old), item_size(new)) / 1024))
                units.add(units.writes, action, base * (2 if tx else 1))
                for name, n in index_write_units(old, new).items():
                    units.add(units.writes, action, n)
                    units.add(units.index_writes, name, n)
        elif action in READ_ACTIONS:
            units.add(units.reads, action, _read_cost(action, body, result))
            units.add(units.read_requests, action, 1)
        return result

    monkeypatch.setattr(DynamoHandler, "call_action", call_action)
    try:
        yield
    finally:
        monkeypatch.setattr(DynamoHandler, "call_action", original)


def _write_targets(action: str, body: dict[str, Any]) -> list[tuple[str, dict[str, Any], bool]]:
    keys = (LAYOUT.partition_key, LAYOUT.sort_key)
    if action == "PutItem":
        return [(body["TableName"], {k: body["Item"][k] for k in keys}, False)]
    if action in ("UpdateItem", "DeleteItem"):
        return [(body["TableName"], body["Key"], False)]
    out = []
    if action == "TransactWriteItems":
        for entry in body.get("TransactItems", []):
            ((kind, op),) = entry.items()
            key = op["Key"] if "Key" in op else {k: op["Item"][k] for k in keys}
            out.append((op["TableName"], key, True))
    elif action == "BatchWriteItem":
        for table, requests in body.get("RequestItems", {}).items():
            for request in requests:
                op = request.get("PutRequest") or request.get("DeleteRequest")
                key = op["Key"] if "Key" in op else {k: op["Item"][k] for k in keys}
                out.append((table, key, False))
    return out


def _current(backend: Any, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
    try:
        item = backend.get_item(table, key)
    except Exception:  # noqa: BLE001 (a table not there yet)
        return None
    return None if item is None else item.to_json()["Attributes"]


def _read_cost(action: str, body: dict[str, Any], result: Any) -> float:
    try:
        answer = json.loads(result[2]) if isinstance(result, tuple) else {}
    except (ValueError, TypeError):
        answer = {}
    consistent = bool(body.get("ConsistentRead")) and "IndexName" not in body
    if action == "GetItem":
        return _read_units(item_size(answer.get("Item")), consistent)
    if action in ("Query", "Scan"):
        return _read_units(sum(item_size(i) for i in answer.get("Items", [])), consistent)
    if action == "BatchGetItem":
        total = 0.0
        for table, items in answer.get("Responses", {}).items():
            strong = bool(body["RequestItems"].get(table, {}).get("ConsistentRead"))
            total += sum(_read_units(item_size(i), strong) for i in items)
        return total
    return sum(  # TransactGetItems: twice a consistent read
        2 * _read_units(item_size(r.get("Item")), True) for r in answer.get("Responses", [])
    )
