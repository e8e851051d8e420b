"""The DynamoDB table's layout: the one place that names its keys, item attributes and
indexes. A public module: the store and the CDK stack (``infra/data.py``) both import
:data:`LAYOUT` from here, so they cannot disagree.

One table, string keys ``pk``/``sk``:

============================  ===========================================  =============
item                          pk / sk                                      in index
============================  ===========================================  =============
scan                          ``SCAN#<scan>`` / ``SCAN``                   owner
trial                         ``SCAN#<scan>`` / ``TRIAL#<trial>``          number;
                                                                           changes; queue
                                                                           while QUEUED;
                                                                           lease while
                                                                           RUNNING
intermediate value            ``SCAN#<scan>`` /
                              ``CURVE#<metric>#<trial>#<step, 12 digits>``
client token of a scan        ``TOKEN#<owner>#<token>`` / ``TOKEN``
============================  ===========================================  =============

No index copies whole items: queue, lease and changes hold keys only; number holds the
trial's state and owner the scan's status and tags (what their queries filter on). A
listing reads the items it needs from the table after the index (``BatchGetItem``).

The queue and lease indexes are sparse: a trial carries their key attributes only while
it is QUEUED (queue: scan, number) or RUNNING (lease: scan, lease expiry), so claiming and
reclaiming read only the trials that matter. The search for stale leases across every scan
(``stale_trials``, the reaper's) is a paginated ``Scan`` of the lease index: it reads the
running trials' keys, one entry per busy worker, never a finished trial. (A constant
partition key would let it be a ``Query``, but would put every heartbeat of every scan on
one index partition.)

The change sequence (``trials_changed_since``): the scan item counts the scan's trial
changes (``change_seq``); a change writes the next value on condition that the counter is
still the one it read, in the same transaction as the trial, whose item keeps the values
of its own changes (``seqs``) and, as the key of the keys-only ``changes`` index, the last
one. Trials of a scan written before the sequence existed are outside that index until
they change; a reader that starts from no sequence reads every trial item.

Intermediate values are items of their own, so a trial that reports 100,000 steps keeps a
trial item of constant size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from scanfleet.records import TrialState


@dataclass(frozen=True)
class Index:
    """One global secondary index. ``KEYS_ONLY`` (or ``INCLUDE`` of the few attributes a
    query filters on) where the store reads the item itself after the index: a write of
    an item in the index then copies into it only when its index key or an included
    attribute changes, not on every write (a heartbeat, a report, a scan's counters),
    and what it copies is the keys, not the whole item. No index copies whole items."""

    name: str
    partition_key: str
    sort_key: str
    sort_key_type: Literal["S", "N"]
    projection: Literal["ALL", "KEYS_ONLY", "INCLUDE"] = "KEYS_ONLY"
    partition_key_type: Literal["S", "N"] = "S"
    include: tuple[str, ...] = ()  # INCLUDE: the non-key attributes projected


@dataclass(frozen=True)
class TableLayout:
    partition_key: str = "pk"
    sort_key: str = "sk"
    queue: Index = field(
        default_factory=lambda: Index("queue", "q_pk", "q_sk", "N", projection="KEYS_ONLY")
    )
    lease: Index = field(
        default_factory=lambda: Index("lease", "l_pk", "l_sk", "N", projection="KEYS_ONLY")
    )
    number: Index = field(  # the state: listings by state filter in the index
        default_factory=lambda: Index(
            "number", "n_pk", "n_sk", "N", projection="INCLUDE", include=(Attr.STATE,)
        )
    )
    owner: Index = field(  # status and tags: list_scans filters, the reaper's gauges
        default_factory=lambda: Index(
            "owner", "o_pk", "o_sk", "S", projection="INCLUDE", include=(Attr.STATUS, Attr.TAGS)
        )
    )
    changes: Index = field(
        default_factory=lambda: Index("changes", "c_pk", "c_sk", "N", projection="KEYS_ONLY")
    )

    @property
    def indexes(self) -> tuple[Index, ...]:
        return (self.queue, self.lease, self.number, self.owner, self.changes)

    # ---- keys --------------------------------------------------------------------------

    def scan_key(self, scan_id: str) -> dict[str, Any]:
        return self._key(f"SCAN#{scan_id}", "SCAN")

    def trial_key(self, scan_id: str, trial_id: str) -> dict[str, Any]:
        return self._key(f"SCAN#{scan_id}", f"{TRIAL_PREFIX}{trial_id}")

    def token_key(self, owner: str, token: str) -> dict[str, Any]:
        return self._key(f"TOKEN#{owner}#{token}", "TOKEN")

    def curve_key(self, scan_id: str, metric: str, trial_id: str, step: int) -> dict[str, Any]:
        return self._key(f"SCAN#{scan_id}", f"{self.curve_prefix(metric)}{trial_id}#{step:012d}")

    @staticmethod
    def curve_prefix(metric: str) -> str:
        return f"CURVE#{metric}#"

    def _key(self, pk: str, sk: str) -> dict[str, Any]:
        return {self.partition_key: {"S": pk}, self.sort_key: {"S": sk}}

    # ---- the table definition (create_table here, the CDK stack in infra/) -------------

    def key_schema(self) -> list[dict[str, str]]:
        return [
            {"AttributeName": self.partition_key, "KeyType": "HASH"},
            {"AttributeName": self.sort_key, "KeyType": "RANGE"},
        ]

    def attribute_definitions(self) -> list[dict[str, str]]:
        defs = {self.partition_key: "S", self.sort_key: "S"}
        for index in self.indexes:
            defs[index.partition_key] = index.partition_key_type
            defs[index.sort_key] = index.sort_key_type
        return [{"AttributeName": n, "AttributeType": t} for n, t in defs.items()]

    def global_secondary_indexes(self) -> list[dict[str, Any]]:
        return [
            {
                "IndexName": index.name,
                "KeySchema": [
                    {"AttributeName": index.partition_key, "KeyType": "HASH"},
                    {"AttributeName": index.sort_key, "KeyType": "RANGE"},
                ],
                "Projection": _projection(index),
            }
            for index in self.indexes
        ]


def _projection(index: Index) -> dict[str, Any]:
    if index.projection == "INCLUDE":
        return {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(index.include)}
    return {"ProjectionType": index.projection}


class Attr:
    """Names of the item attributes other than keys."""

    RECORD = "record"  # the record as JSON text (exact floats, NaN included)
    VERSION = "version"  # trial items: bumped by every write (compare-and-set)
    STATE = "state"
    # scan items: the fields that change, kept outside the JSON so writes can condition on
    # them and change them without reading the item first
    STATUS = "status"
    STATUS_REASON = "status_reason"
    FINISHED_AT = "finished_at"
    MAX_RUN = "max_run"
    CURSOR = "cursor"
    TRIAL_COUNT = "trial_count"
    CHANGE_SEQ = "change_seq"  # scan items: the scan's change sequence (trial changes)
    SEQS = "seqs"  # trial items: the change sequence values of the trial's changes
    TAGS = "tags"
    # intermediate-value items
    SCAN_ID = "scan_id"
    TRIAL_ID = "trial_id"
    METRIC = "metric"
    STEP = "step"
    VALUE = "value"  # text, so NaN and every float survive

    @staticmethod
    def count(state: TrialState) -> str:
        """The scan item's exact number of trials in ``state``."""
        return f"count_{state.value}"


TRIAL_PREFIX = "TRIAL#"
LAYOUT = TableLayout()


def create_table(client: Any, table_name: str, layout: TableLayout = LAYOUT) -> None:
    """Create the table as the CDK stack does (tests, and anyone without the stack).
    On-demand billing; waits until the table is active."""
    client.create_table(
        TableName=table_name,
        KeySchema=layout.key_schema(),
        AttributeDefinitions=layout.attribute_definitions(),
        GlobalSecondaryIndexes=layout.global_secondary_indexes(),
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(
        TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
