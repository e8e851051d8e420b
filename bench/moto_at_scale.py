"""moto's DynamoDB at a few hundred thousand items: how it keeps items, finds them, rolls
back a transaction and writes an answer, changed so that a request costs what it
touches, not the table. What moto answers is unchanged (``verify=True`` checks it,
request by request: ``bench/report_reads.py --check``).

moto 5.2.5, for every request:

- keeps every ``Item`` it ever makes: its ``BaseModel`` appends each instance to the
  class's ``instances_tracked`` (for moto server's dashboard), copies included, until
  the mock ends;
- ``TransactWriteItems`` deep-copies every table it writes, every item of it, to put the
  table back if the transaction is cancelled;
- ``Query`` lists every item of the table, keeps those of the partition (or of the index
  key), sorts them and only then applies the key condition (and, for a page after the
  first, walks past every item before the start key);
- an answer goes through moto's generic serializer, which walks the output shape for
  each attribute of each item (about 1.5 ms of a 2.7 ms ``GetItem``).

Our table keeps a scan in one partition (``SCAN#<scan>``: the scan, its trials and every
intermediate value), so every report's transaction copied the whole scan, and every copy
was kept: memory grew with the square of the table (1.5 GB at 1,000 items; past 8 GB
long before 2,000 trials × 100 steps), and a report's time with the table (55 ms at 0
items, 190 ms at 1,000).

``at_scale(monkeypatch)``, for the tables made after it:

- ``Item`` instances are not tracked (what the table holds is all there is);
- a transaction keeps copies of the items it writes, and only those, and puts them back
  when it is cancelled (moto's own rollback then puts back the same table object);
- each partition keeps its sort keys in order and the keys of its items that carry an
  index key attribute. A ``Query`` hands moto's own query the items that can match: for
  ``begins_with`` on the sort key, the run of keys with that prefix (after the start key
  of a later page); for an index, the items with an index key attribute (an item put
  without one and not updated since is in no index). moto then applies the key
  condition, sorts, filters, pages and projects as before, on that superset;
- the answer to an item action (``ITEM_ACTIONS``) is the JSON of moto's result as it is:
  in DynamoDB's JSON protocol the body is that same document;
- a handler's method names are listed once per class, not once per request.
"""

from __future__ import annotations

import bisect
import collections
import contextlib
import contextvars
import copy
import functools
import json
import types
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import pytest

ITEM_ACTIONS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems",
                          "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem",
                          "TransactWriteItems"})  # fmt: skip
JSON_1_0 = "application/x-amz-json-1.0"
_ONLY: contextvars.ContextVar[tuple[Any, list[Any]] | None] = contextvars.ContextVar(
    "moto_at_scale_only", default=None
)


class Partition(dict[Any, Any]):
    """One partition's items by sort key (moto's ``DynamoType``), the sort keys in order
    (``order``) and, in insertion order, those whose item carries an index key attribute
    (``indexed``)."""

    def __init__(self, index_attrs: frozenset[str]) -> None:
        super().__init__()
        self.index_attrs = index_attrs
        self.order: list[Any] = []
        self.indexed: dict[Any, None] = {}

    def __setitem__(self, key: Any, item: Any) -> None:
        if key not in self:
            bisect.insort(self.order, key)
        super().__setitem__(key, item)
        self.classify(key)

    def classify(self, key: Any) -> None:
        """Note whether the item at ``key`` carries an index key attribute (after a put,
        an update, or a transaction put back)."""
        item = dict.get(self, key)
        if item is not None and not self.index_attrs.isdisjoint(item.attrs):
            self.indexed[key] = None
        else:
            self.indexed.pop(key, None)

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(key)
        self._forget(key)

    def pop(self, key: Any, *default: Any) -> Any:
        had = key in self
        value = super().pop(key, *default)
        if had:
            self._forget(key)
        return value

    def _forget(self, key: Any) -> None:
        at = bisect.bisect_left(self.order, key)
        if at < len(self.order) and self.order[at] == key:
            del self.order[at]
        self.indexed.pop(key, None)

    def with_prefix(self, prefix: str, after: Any = None) -> list[Any]:
        """The items whose (string) sort key begins with ``prefix`` (only those after the
        sort key ``after``, when given), then the item that follows them, if any."""
        from moto.dynamodb.models.dynamo_type import DynamoType

        at = bisect.bisect_left(self.order, DynamoType({"S": prefix}))
        if after is not None:
            at = max(at, bisect.bisect_right(self.order, after))
        end = at
        while end < len(self.order) and str(self.order[end].value).startswith(prefix):
            end += 1
        return [dict.__getitem__(self, key) for key in self.order[at : end + 1]]


def index_attrs(table: Any) -> frozenset[str]:
    """Every key attribute of the table's indexes."""
    return frozenset(key["AttributeName"] for index in table.all_indexes() for key in index.schema)


def partitioned(table: Any) -> None:
    """Keep ``table``'s items in ``Partition``s (the items it has are moved)."""
    attrs = index_attrs(table)
    old = table.items
    table.items = defaultdict(lambda: Partition(attrs))
    for hash_key, items in old.items():
        for range_key, item in items.items():
            table.items[hash_key][range_key] = item


def candidates(table: Any, hash_key: Any, comparison: str | None, objs: list[Any],
               start: dict[str, Any] | None, forward: bool, index_name: str | None,
               conditions: dict[str, Any]) -> list[Any] | None:  # fmt: skip
    """What moto's query must see to answer as it does over the whole table, or None
    (moto's own list): the items that can match, then the first item after them (meeting
    one more item, matching or not, is what makes moto give the key of a next page).
    ``conditions``: moto's ``hash_key_conditions`` and ``range_key_conditions``."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    if set(conditions) - {"hash_key_conditions", "range_key_conditions"}:
        return None  # a QueryFilter
    if not isinstance(table.items, defaultdict) or not table.range_key_attr:
        return None
    if index_name:
        return _index_candidates(table, index_name, conditions, forward)
    part = table.items.get(hash_key)
    if part is None:
        return []
    if not isinstance(part, Partition):
        return None
    if comparison == "BEGINS_WITH" and len(objs) == 1 and objs[0].type == "S" and forward:
        after = None
        if start and table.range_key_attr in start:
            after = DynamoType(start[table.range_key_attr])
        return part.with_prefix(str(objs[0].value), after)
    return list(part.values())


def _index_candidates(table: Any, index_name: str, conditions: dict[str, Any],
                      forward: bool) -> list[Any] | None:  # fmt: skip
    """The items of the index that meet the key condition, checked as moto checks it,
    then the first of the index key's other items in moto's order after them."""
    schema = table.get_index(index_name).schema
    hash_attrs = [k["AttributeName"] for k in schema if k["KeyType"] == "HASH"]
    range_attrs = [k["AttributeName"] for k in schema if k["KeyType"] == "RANGE"]
    if not range_attrs or not {*hash_attrs, *range_attrs} <= index_attrs(table):
        return None  # moto's own list (an index made after the table, or no sort key)
    order = table._generate_attr_to_sort_by(
        [*hash_attrs, table.hash_key_attr], [*range_attrs, table.range_key_attr]
    )
    equal = [(n, "=", [v]) for n, v in conditions.get("hash_key_conditions") or []]
    ranges = conditions.get("range_key_conditions") or []
    matches, others = [], []
    for part in table.items.values():
        if not isinstance(part, Partition):
            return None
        for key in part.indexed:
            item = dict.__getitem__(part, key)
            if _meets(item.attrs, equal) and all(item.attrs.get(r) for r in range_attrs):
                (matches if _meets(item.attrs, ranges) else others).append(item)
    if not matches or not others:
        return matches

    def sort_key(item: Any) -> tuple[Any, ...]:
        return tuple(item.attrs[attr] for attr in order)

    edge = sort_key(max(matches, key=sort_key) if forward else min(matches, key=sort_key))
    beyond = [o for o in others if (sort_key(o) > edge) == forward]
    if beyond:
        matches.append(min(beyond, key=sort_key) if forward else max(beyond, key=sort_key))
    return matches


def _meets(attrs: dict[str, Any], conditions: list[Any]) -> bool:
    """Each (name, comparison, values) holds, as moto's query checks it."""
    for name, op, values in conditions:
        if not attrs.get(name) or not attrs[name].compare(op, values):
            return False
    return True


@contextlib.contextmanager
def at_scale(monkeypatch: pytest.MonkeyPatch, *, verify: bool = False) -> Iterator[None]:
    """Install the changes above until the context ends (tables created meanwhile are
    partitioned on creation). ``verify``: also run moto's own code for each request and
    raise AssertionError where an answer (or a cancelled transaction's table) differs."""
    from moto.core import responses as core_responses
    from moto.dynamodb import models, responses
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.models.table import Table

    backend = models.DynamoDBBackend
    result = responses.DynamoResult
    monkeypatch.setattr(backend, "create_table", _creating(backend.create_table))
    monkeypatch.setattr(backend, "update_item", _updating(backend.update_item))
    monkeypatch.setattr(backend, "transact_write_items",
                        _transacting(backend.transact_write_items, verify))  # fmt: skip
    monkeypatch.setattr(Table, "query", _querying(Table.query, verify))
    monkeypatch.setattr(Table, "all_items", _listing(Table.all_items))
    monkeypatch.setattr(result, "execute_result", _answering(result.execute_result, verify))

    def deepcopy(value: Any, memo: Any = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    # moto's module-level ``copy``: its transaction "copy" of a table is the table itself
    monkeypatch.setattr(models, "copy", types.SimpleNamespace(deepcopy=deepcopy, copy=copy.copy))
    # the names of a handler's methods, listed once per class instead of once per request
    names = functools.lru_cache(maxsize=None)(core_responses.method_names_from_class)
    monkeypatch.setattr(core_responses, "method_names_from_class", names)
    # moto's BaseModel keeps every instance ever made (for its server's dashboard): every
    # item, every copy of one (each transaction's copy of the table), until the mock ends
    monkeypatch.setattr(Item, "instances_tracked", collections.deque(maxlen=0))
    try:
        yield
    finally:
        monkeypatch.undo()


def _creating(create: Callable[..., Any]) -> Callable[..., Any]:
    def create_table(self: Any, name: str, *args: Any, **params: Any) -> Any:
        table = create(self, name, *args, **params)
        if table.range_key_attr:
            partitioned(table)
        return table

    return create_table


def _querying(query: Callable[..., Any], verify: bool) -> Callable[..., Any]:
    def table_query(self: Any, hash_key: Any, comparison: Any, objs: Any, limit: Any,
                    start: Any, forward: Any, *args: Any, **kwargs: Any) -> Any:  # fmt: skip
        index_name = args[1] if len(args) > 1 else kwargs.get("index_name")
        only = candidates(self, hash_key, comparison, objs, start, forward, index_name, kwargs)
        every = (hash_key, comparison, objs, limit, start, forward, *args)
        if only is None:
            return query(self, *every, **kwargs)
        token = _ONLY.set((self, only))
        try:
            answer = query(self, *every, **kwargs)
        finally:
            _ONLY.reset(token)
        if verify:
            _same_query(answer, query(self, *every, **kwargs))
        return answer

    return table_query


def _listing(all_items: Callable[..., list[Any]]) -> Callable[..., list[Any]]:
    def table_all_items(self: Any) -> list[Any]:
        only = _ONLY.get()
        if only is not None and only[0] is self:
            return list(only[1])
        return all_items(self)

    return table_all_items


def _updating(update: Callable[..., Any]) -> Callable[..., Any]:
    def update_item(self: Any, table_name: str, key: dict[str, Any], *args: Any,
                    **kwargs: Any) -> Any:  # fmt: skip
        try:
            return update(self, table_name, key, *args, **kwargs)
        finally:
            _reclassify(self.tables.get(table_name), key)

    return update_item


def _transacting(transact: Callable[..., None], verify: bool) -> Callable[..., None]:
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        kept = _keep(self, transact_items)
        before = _contents(kept) if verify else None
        try:
            transact(self, transact_items)
        except BaseException:
            for table, hash_key, range_key, item in reversed(kept):
                part = table.items[hash_key]
                if item is None:
                    part.pop(range_key, None)
                else:
                    part[range_key] = item
            if before is not None and _contents(kept) != before:
                raise AssertionError("a cancelled transaction left the table changed") from None
            raise

    return transact_write_items


def _answering(execute: Callable[..., Any], verify: bool) -> Callable[..., Any]:
    def execute_result(self: Any, context: Any) -> Any:
        if context.operation_model.name not in ITEM_ACTIONS or not isinstance(self.result, dict):
            return execute(self, context)
        body = json.dumps(self.result)
        if verify and json.loads(execute(self, context)[2]) != json.loads(body):
            raise AssertionError(f"{context.operation_model.name}: the answer differs")
        return 200, {"Content-Type": JSON_1_0}, body

    return execute_result


def _same_query(got: tuple[Any, ...], want: tuple[Any, ...]) -> None:
    """The same items, in the same order, and the same key for the next page."""
    items, _, last = got
    want_items, _, want_last = want
    if [i.to_json() for i in items] != [i.to_json() for i in want_items] or last != want_last:
        raise AssertionError("a query answered differently")


def _key_values(table: Any, key: dict[str, Any]) -> tuple[Any, Any]:
    from moto.dynamodb.models.dynamo_type import DynamoType

    hash_key = DynamoType(key[table.hash_key_attr])
    return hash_key, DynamoType(key[table.range_key_attr])


def _reclassify(table: Any, key: dict[str, Any]) -> None:
    if table is None or not table.range_key_attr:
        return
    try:
        hash_key, range_key = _key_values(table, key)
    except (KeyError, TypeError):
        return
    part = table.items.get(hash_key)
    if isinstance(part, Partition):
        part.classify(range_key)


def _keep(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """(table, hash key, sort key, a copy of the item or None) of each item written."""
    kept = []
    for entry in transact_items:
        try:
            ((_, op),) = entry.items()
            table = backend.tables[op["TableName"]]
            if not isinstance(table.items, defaultdict) or not table.range_key_attr:
                continue
            key = op.get("Key") or {
                a: op["Item"][a] for a in (table.hash_key_attr, table.range_key_attr)
            }
            hash_key, range_key = _key_values(table, key)
        except (KeyError, TypeError, ValueError, AttributeError):
            continue  # moto refuses it before writing
        current = table.items[hash_key].get(range_key)
        kept.append((table, hash_key, range_key, copy.deepcopy(current)))
    return kept


def _contents(kept: list[tuple[Any, ...]]) -> list[Any]:
    """What the tables hold at the keys ``kept`` names (to compare before and after)."""
    out = []
    for table, hash_key, range_key, _ in kept:
        item = table.items[hash_key].get(range_key)
        out.append(None if item is None else item.to_json())
    return out
