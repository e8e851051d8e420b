"""The TrialStore contract (``scanfleet/store/_base.py``), one suite for every store.

A store's test module subclasses ``TrialStoreContract`` and provides the ``store``
fixture (built with a small page size, so every listing crosses pages). The class
attributes size the races for the store: SQLite takes the full size; DynamoDB under moto
(one request at a time) a smaller one.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any, ClassVar

import pytest
from scanfleet.records import (
    Checkpoint,
    PruneDecision,
    RequeueReason,
    ScanRecord,
    ScanStatus,
    TrialRecord,
    TrialState,
    new_scan_id,
    trial_id_for,
)
from scanfleet.store import (
    InsertResult,
    LeaseLostError,
    ScanExistsError,
    ScanNotFoundError,
    TrialFinishedError,
    TrialNotFoundError,
    TrialStore,
)

from tests.unit.store.contract_changes import ChangeSequenceContract
from tests.unit.store.contract_listing import ListingContract

NOW = 1_700_000_000.0
ZERO_COUNTS = {state: 0 for state in TrialState}


def a_scan(owner: str = "alice", **changes: Any) -> ScanRecord:
    fields: dict[str, Any] = {
        "scan_id": new_scan_id(),
        "name": "s",
        "owner": owner,
        "config": {"strategy": "grid", "lr": {"min": 1e-5, "max": 0.1}},
        "max_run": 100,
        "created_at": NOW,
    }
    fields.update(changes)
    return ScanRecord(**fields)


def a_trial(scan: ScanRecord, i: int, **changes: Any) -> TrialRecord:
    params = {"i": i, "lr": 0.1 * (i + 1)}
    fields: dict[str, Any] = {
        "scan_id": scan.scan_id,
        "trial_id": trial_id_for(scan.scan_id, params),
        "number": 0,
        "params": params,
        "created_at": NOW,
    }
    fields.update(changes)
    return TrialRecord(**fields)


def counts_of(**nonzero: int) -> dict[TrialState, int]:
    return {**ZERO_COUNTS, **{TrialState(k): v for k, v in nonzero.items()}}


def run_threads(n: int, work: Callable[[int], None], timeout: float = 120) -> None:
    """Start ``n`` threads at once (a barrier) and re-raise the first error any hit."""
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            work(i)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    assert not any(t.is_alive() for t in threads), "a racing thread hung"
    if errors:
        raise errors[0]


class TrialStoreContract(ChangeSequenceContract, ListingContract):
    race_threads: ClassVar[int] = 16
    race_trials: ClassVar[int] = 500
    race_cells: ClassVar[int] = 200

    @pytest.fixture
    def store(self) -> TrialStore:
        raise NotImplementedError("a store's test class provides the store fixture")

    @pytest.fixture
    def scan(self, store: TrialStore) -> ScanRecord:
        scan, created = store.create_scan(a_scan())
        assert created
        return scan

    # ---- helpers -----------------------------------------------------------------------

    @staticmethod
    def queued(store: TrialStore, scan: ScanRecord, n: int, start: int = 0) -> list[TrialRecord]:
        trials = [a_trial(scan, i) for i in range(start, start + n)]
        for t in trials:
            assert store.insert_trial(t) is InsertResult.CREATED
        return [store.get_trial(t.trial_id) for t in trials]

    @classmethod
    def running(
        cls, store: TrialStore, scan: ScanRecord, worker: str = "w", *, lease: float = 30
    ) -> TrialRecord:
        cls.queued(store, scan, 1, start=store.get_scan(scan.scan_id).trial_count)
        claimed = store.claim_queued(scan.scan_id, worker, lease_seconds=lease, now=NOW)
        assert claimed is not None
        return claimed

    # ---- scans -------------------------------------------------------------------------

    def test_a_created_scan_reads_back_equal(self, store: TrialStore) -> None:
        scan = a_scan(tags={"team": "vision"}, created_at=NOW + 0.123456789)
        stored, created = store.create_scan(scan)
        assert created and stored == scan
        assert store.get_scan(scan.scan_id) == scan

    def test_create_scan_is_idempotent_per_owner_and_client_token(self, store: TrialStore) -> None:
        first, created = store.create_scan(a_scan(client_token="t1", name="first"))
        again, created_again = store.create_scan(a_scan(client_token="t1", name="again"))
        other, created_other = store.create_scan(a_scan(owner="bob", client_token="t1"))
        assert (created, created_again, created_other) == (True, False, True)
        assert again == first and again.name == "first"
        assert other.scan_id != first.scan_id
        assert [s.scan_id for s in store.list_scans("alice")] == [first.scan_id]

    def test_scans_without_a_client_token_are_each_created(self, store: TrialStore) -> None:
        for _ in range(2):
            assert store.create_scan(a_scan())[1]
        assert len(store.list_scans("alice")) == 2

    def test_creating_a_scan_with_a_taken_id_raises_scan_exists(self, store: TrialStore) -> None:
        scan, _ = store.create_scan(a_scan())
        with pytest.raises(ScanExistsError) as raised:
            store.create_scan(a_scan(scan_id=scan.scan_id, name="other"))
        assert (raised.value.code, raised.value.status) == ("scan_exists", 409)
        with pytest.raises(ScanExistsError):
            store.create_scan(a_scan(scan_id=scan.scan_id, client_token="fresh"))
        assert store.get_scan(scan.scan_id) == scan

    def test_racing_creates_with_one_client_token_make_one_scan(self, store: TrialStore) -> None:
        results: list[tuple[ScanRecord, bool]] = []
        run_threads(8, lambda i: results.append(store.create_scan(a_scan(client_token="tok"))))
        assert sum(created for _, created in results) == 1
        assert len({scan.scan_id for scan, _ in results}) == 1
        assert len(store.list_scans("alice")) == 1

    def test_list_scans_is_the_owners_newest_first(self, store: TrialStore) -> None:
        old, _ = store.create_scan(a_scan(created_at=NOW))
        new, _ = store.create_scan(a_scan(created_at=NOW + 1))
        store.create_scan(a_scan(owner="bob", created_at=NOW + 2))
        assert [s.scan_id for s in store.list_scans("alice")] == [new.scan_id, old.scan_id]
        assert store.list_scans("nobody") == []

    def test_list_scans_filters_by_status_and_tag(self, store: TrialStore) -> None:
        a, _ = store.create_scan(a_scan(tags={"team": "vision", "p": "1"}, created_at=NOW))
        b, _ = store.create_scan(a_scan(tags={"team": "nlp"}, created_at=NOW + 1))
        c, _ = store.create_scan(a_scan(tags={"team": "nlp"}, created_at=NOW + 2))
        store.create_scan(a_scan(owner="bob", tags={"team": "nlp"}))
        store.set_scan_status(b.scan_id, ScanStatus.COMPLETED, now=NOW)

        def ids(**filters: Any) -> list[str]:
            return [s.scan_id for s in store.list_scans("alice", **filters)]

        assert ids(status=ScanStatus.RUNNING) == [c.scan_id, a.scan_id]
        assert ids(status=ScanStatus.COMPLETED) == [b.scan_id]
        assert ids(status=ScanStatus.CANCELLED) == []
        assert ids(tag=("team", "nlp")) == [c.scan_id, b.scan_id]
        assert ids(tag=("team", "nlp"), status=ScanStatus.RUNNING) == [c.scan_id]
        assert ids(tag=("p", "1")) == [a.scan_id]
        assert ids(tag=("team", "audio")) == []

    def test_set_scan_status_is_compare_and_set(self, store: TrialStore, scan: ScanRecord) -> None:
        assert store.set_scan_status(scan.scan_id, ScanStatus.COMPLETED, reason="done", now=NOW)
        assert not store.set_scan_status(scan.scan_id, ScanStatus.CANCELLED, now=NOW + 1)
        stored = store.get_scan(scan.scan_id)
        assert (stored.status, stored.status_reason, stored.finished_at) == (
            ScanStatus.COMPLETED,
            "done",
            NOW,
        )
        assert not store.set_scan_status(
            scan.scan_id, ScanStatus.RUNNING, expected=ScanStatus.FAILED, now=NOW
        )
        assert store.set_scan_status(
            scan.scan_id, ScanStatus.RUNNING, expected=ScanStatus.COMPLETED, now=NOW
        )
        reopened = store.get_scan(scan.scan_id)
        assert (reopened.status, reopened.status_reason, reopened.finished_at) == (
            ScanStatus.RUNNING,
            None,
            None,
        )

    def test_set_scan_status_without_expectation_sets_any_status(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        store.set_scan_status(scan.scan_id, ScanStatus.FAILED, now=NOW)
        assert store.set_scan_status(
            scan.scan_id, ScanStatus.CANCELLED, reason="user", expected=None, now=NOW + 2
        )
        stored = store.get_scan(scan.scan_id)
        assert (stored.status, stored.finished_at) == (ScanStatus.CANCELLED, NOW + 2)

    def test_scan_bookkeeping_keeps_the_rest_of_the_record(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        self.queued(store, scan, 2)
        assert store.set_max_run(scan.scan_id, 250).max_run == 250
        store.set_scan_status(scan.scan_id, ScanStatus.COMPLETED, now=NOW)
        stored = store.get_scan(scan.scan_id)
        assert stored.model_dump(exclude={"status", "finished_at"}) == scan.model_copy(
            update={"max_run": 250, "trial_count": 2}
        ).model_dump(exclude={"status", "finished_at"})

    def test_skip_cursor_is_compare_and_set(self, store: TrialStore, scan: ScanRecord) -> None:
        assert store.skip_cursor(scan.scan_id, 0)
        assert not store.skip_cursor(scan.scan_id, 0)
        assert store.skip_cursor(scan.scan_id, 1)
        stored = store.get_scan(scan.scan_id)
        assert (stored.cursor, stored.trial_count) == (2, 0)

    @pytest.mark.parametrize(
        "call",
        [
            lambda s: s.get_scan("scmissing"),
            lambda s: s.set_scan_status("scmissing", ScanStatus.COMPLETED, now=NOW),
            lambda s: s.set_scan_status("scmissing", ScanStatus.COMPLETED, expected=None, now=NOW),
            lambda s: s.set_max_run("scmissing", 5),
            lambda s: s.skip_cursor("scmissing", 0),
            lambda s: s.counts("scmissing"),
            lambda s: s.insert_trial(a_trial(a_scan(scan_id="scmissing"), 0)),
        ],
        ids=[
            "get_scan",
            "set_scan_status",
            "set_scan_status_any",
            "set_max_run",
            "skip_cursor",
            "counts",
            "insert_trial",
        ],
    )
    def test_an_unknown_scan_raises_scan_not_found(
        self, store: TrialStore, call: Callable[[TrialStore], Any]
    ) -> None:
        with pytest.raises(ScanNotFoundError) as raised:
            call(store)
        assert (raised.value.code, raised.value.status) == ("scan_not_found", 404)

    def test_listings_of_an_unknown_scan_are_empty(self, store: TrialStore) -> None:
        assert list(store.iter_trials("scmissing")) == []
        assert store.expired_leases("scmissing", NOW) == []
        assert store.intermediate_values("scmissing", "loss") == {}

    # ---- inserting ---------------------------------------------------------------------

    def test_insert_numbers_trials_without_gaps_whatever_number_they_carry(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        for i in range(3):
            assert store.insert_trial(a_trial(scan, i, number=40 - i)) is InsertResult.CREATED
        assert [t.number for t in store.iter_trials(scan.scan_id)] == [0, 1, 2]
        assert store.get_scan(scan.scan_id).trial_count == 3
        assert store.counts(scan.scan_id) == counts_of(QUEUED=3)

    def test_an_inserted_trial_reads_back_as_given(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        trial = a_trial(scan, 0, tags={"seed": "1"}, user_attrs={"note": [1, 2.5, None]})
        store.insert_trial(trial)
        assert store.get_trial(trial.trial_id) == trial

    def test_the_same_params_never_make_two_trials(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        (trial,) = self.queued(store, scan, 1)
        again = a_trial(scan, 0, tags={"other": "x"})
        assert again.trial_id == trial.trial_id
        assert store.insert_trial(again) is InsertResult.DUPLICATE
        assert store.insert_trial(again, expected_cursor=0) is InsertResult.DUPLICATE
        assert store.get_trial(trial.trial_id) == trial
        stored = store.get_scan(scan.scan_id)
        assert (stored.trial_count, stored.cursor) == (1, 0)
        assert store.counts(scan.scan_id) == counts_of(QUEUED=1)

    def test_a_finished_trial_is_still_a_duplicate(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        trial = self.running(store, scan)
        done = store.finish_trial(trial.trial_id, TrialState.COMPLETED, now=NOW, values={"l": 1})
        assert store.insert_trial(a_trial(scan, 0)) is InsertResult.DUPLICATE
        assert store.get_trial(trial.trial_id) == done

    def test_insert_respects_max_trials(self, store: TrialStore, scan: ScanRecord) -> None:
        assert store.insert_trial(a_trial(scan, 0), max_trials=2) is InsertResult.CREATED
        assert store.insert_trial(a_trial(scan, 1), max_trials=2) is InsertResult.CREATED
        refused = a_trial(scan, 2)
        assert store.insert_trial(refused, max_trials=2) is InsertResult.LIMIT_REACHED
        assert (
            store.insert_trial(refused, expected_cursor=1, max_trials=2)
            is InsertResult.CURSOR_MOVED
        )
        with pytest.raises(TrialNotFoundError):
            store.get_trial(refused.trial_id)
        stored = store.get_scan(scan.scan_id)
        assert (stored.trial_count, stored.cursor) == (2, 0)
        assert store.insert_trial(refused, max_trials=3) is InsertResult.CREATED

    def test_insert_with_a_cursor_is_compare_and_set(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        assert store.insert_trial(a_trial(scan, 0), expected_cursor=0) is InsertResult.CREATED
        assert store.insert_trial(a_trial(scan, 1), expected_cursor=0) is InsertResult.CURSOR_MOVED
        assert store.insert_trial(a_trial(scan, 1), expected_cursor=5) is InsertResult.CURSOR_MOVED
        assert store.skip_cursor(scan.scan_id, 1)
        assert store.insert_trial(a_trial(scan, 1), expected_cursor=2) is InsertResult.CREATED
        assert store.insert_trial(a_trial(scan, 2)) is InsertResult.CREATED  # no cursor: kept
        stored = store.get_scan(scan.scan_id)
        assert (stored.cursor, stored.trial_count) == (3, 3)
        assert [t.number for t in store.iter_trials(scan.scan_id)] == [0, 1, 2]

    def test_insert_refusals_come_in_the_contracts_order(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        store.insert_trial(a_trial(scan, 0), expected_cursor=0)
        # a duplicate whose cursor moved and whose limit is reached: DUPLICATE
        assert (
            store.insert_trial(a_trial(scan, 0), expected_cursor=0, max_trials=1)
            is InsertResult.DUPLICATE
        )
        # a new trial whose cursor moved and whose limit is reached: CURSOR_MOVED
        assert (
            store.insert_trial(a_trial(scan, 1), expected_cursor=0, max_trials=1)
            is InsertResult.CURSOR_MOVED
        )
        assert (
            store.insert_trial(a_trial(scan, 1), expected_cursor=1, max_trials=1)
            is InsertResult.LIMIT_REACHED
        )

    def test_a_trial_claimed_on_creation_counts_as_running(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        trial = a_trial(
            scan,
            0,
            state=TrialState.RUNNING,
            attempt=1,
            worker_id="w",
            lease_expires_at=NOW + 10,
            started_at=NOW,
        )
        assert store.insert_trial(trial) is InsertResult.CREATED
        assert store.counts(scan.scan_id) == counts_of(RUNNING=1)
        assert store.claim_queued(scan.scan_id, "w2", lease_seconds=5, now=NOW) is None
        assert store.heartbeat(trial.trial_id, "w", 1, lease_seconds=30, now=NOW + 5)
        assert [t.trial_id for t in store.expired_leases(scan.scan_id, NOW + 36)] == [
            trial.trial_id
        ]

    def test_a_trial_inserted_completed_counts_as_completed_and_is_immutable(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        reused = a_trial(
            scan, 0, state=TrialState.COMPLETED, values={"loss": 0.25}, finished_at=NOW
        )
        assert store.insert_trial(reused) is InsertResult.CREATED
        assert store.counts(scan.scan_id) == counts_of(COMPLETED=1)
        assert store.get_trial(reused.trial_id).values == {"loss": 0.25}
        assert store.claim_queued(scan.scan_id, "w", lease_seconds=5, now=NOW) is None
        with pytest.raises(TrialFinishedError):
            store.finish_trial(reused.trial_id, TrialState.FAILED, now=NOW)

    # ---- reading -----------------------------------------------------------------------

    def test_iter_trials_streams_every_trial_by_number(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        trials = self.queued(store, scan, 8)
        streamed = store.iter_trials(scan.scan_id)
        assert next(streamed) == trials[0]
        assert [trials[0], *streamed] == trials
        assert store.list_trials(scan.scan_id) == trials

    def test_iter_trials_filters_by_states(self, store: TrialStore, scan: ScanRecord) -> None:
        trials = self.queued(store, scan, 7)
        for _ in range(3):
            store.claim_queued(scan.scan_id, "w", lease_seconds=30, now=NOW)
        store.finish_trial(trials[1].trial_id, TrialState.COMPLETED, now=NOW, values={"l": 1})
        store.finish_trial(trials[5].trial_id, TrialState.FAILED, now=NOW)

        def numbers(*states: TrialState) -> list[int]:
            return [t.number for t in store.iter_trials(scan.scan_id, states=frozenset(states))]

        assert numbers(TrialState.RUNNING) == [0, 2]
        assert numbers(TrialState.QUEUED) == [3, 4, 6]
        assert numbers(TrialState.COMPLETED, TrialState.FAILED) == [1, 5]
        assert numbers(TrialState.PRUNED) == []
        assert numbers() == []
        assert [t.number for t in store.list_trials(scan.scan_id, states=None)] == list(range(7))

    def test_iter_trials_after_a_number_resumes_a_paginated_listing(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        trials = self.queued(store, scan, 7)
        store.claim_queued(scan.scan_id, "w", lease_seconds=30, now=NOW)
        assert list(store.iter_trials(scan.scan_id, after=4)) == trials[5:]
        assert [t.number for t in store.iter_trials(scan.scan_id, after=-1)] == list(range(7))
        assert list(store.iter_trials(scan.scan_id, after=6)) == []
        queued = store.iter_trials(scan.scan_id, states=frozenset({TrialState.QUEUED}), after=0)
        assert [t.number for t in queued] == [1, 2, 3, 4, 5, 6]

    def test_trials_of_one_scan_stay_out_of_another(self, store: TrialStore) -> None:
        first, _ = store.create_scan(a_scan())
        second, _ = store.create_scan(a_scan())
        self.queued(store, first, 2)
        trial = self.running(store, second, lease=1)
        store.record_intermediate(trial.trial_id, "loss", 1, 0.5)
        assert [t.scan_id for t in store.iter_trials(first.scan_id)] == [first.scan_id] * 2
        assert store.counts(first.scan_id) == counts_of(QUEUED=2)
        assert store.counts(second.scan_id) == counts_of(RUNNING=1)
        assert store.intermediate_values(first.scan_id, "loss") == {}
        assert store.expired_leases(first.scan_id, NOW + 100) == []
        claimed = store.claim_queued(second.scan_id, "w", lease_seconds=5, now=NOW)
        assert claimed is None

    @pytest.mark.parametrize(
        "call",
        [
            lambda s, t: s.get_trial(t),
            lambda s, t: s.claim_trial(t, "w", lease_seconds=5, now=NOW),
            lambda s, t: s.heartbeat(t, "w", 1, lease_seconds=5, now=NOW),
            lambda s, t: s.record_intermediate(t, "loss", 1, 0.5),
            lambda s, t: s.set_prune_decision(t, PruneDecision(step=1, prune=False, reason="")),
            lambda s, t: s.record_checkpoint(t, Checkpoint(step=1, uri="u")),
            lambda s, t: s.finish_trial(t, TrialState.COMPLETED, now=NOW),
            lambda s, t: s.requeue_trial(t, RequeueReason.ERROR, now=NOW),
            lambda s, t: s.set_trial_tags(t, {"a": "b"}),
        ],
        ids=[
            "get_trial",
            "claim_trial",
            "heartbeat",
            "record_intermediate",
            "set_prune_decision",
            "record_checkpoint",
            "finish_trial",
            "requeue_trial",
            "set_trial_tags",
        ],
    )
    def test_an_unknown_trial_raises_trial_not_found(
        self, store: TrialStore, scan: ScanRecord, call: Callable[[TrialStore, str], Any]
    ) -> None:
        for trial_id in (f"{scan.scan_id}-0000000000000000", "scmissing-00", "nodash"):
            with pytest.raises(TrialNotFoundError) as raised:
                call(store, trial_id)
            assert (raised.value.code, raised.value.status) == ("trial_not_found", 404)
        assert store.intermediate_values(scan.scan_id, "loss") == {}

    # ---- claiming and leases -----------------------------------------------------------

    def test_claim_takes_the_oldest_queued_trial_and_sets_the_lease(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        self.queued(store, scan, 3)
        claimed = store.claim_queued(scan.scan_id, "w1", lease_seconds=30, now=NOW)
        assert claimed is not None
        assert (claimed.number, claimed.state, claimed.attempt, claimed.worker_id) == (
            0,
            TrialState.RUNNING,
            1,
            "w1",
        )
        assert (claimed.lease_expires_at, claimed.started_at) == (NOW + 30, NOW)
        assert store.get_trial(claimed.trial_id) == claimed
        second = store.claim_queued(scan.scan_id, "w2", lease_seconds=30, now=NOW)
        assert second is not None and (second.number, second.worker_id) == (1, "w2")
        assert store.counts(scan.scan_id) == counts_of(QUEUED=1, RUNNING=2)

    def test_claim_returns_none_when_nothing_is_queued(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        assert store.claim_queued(scan.scan_id, "w", lease_seconds=30, now=NOW) is None
        self.running(store, scan)
        assert store.claim_queued(scan.scan_id, "w", lease_seconds=30, now=NOW) is None
        assert store.claim_queued("scmissing", "w", lease_seconds=30, now=NOW) is None

    def test_claim_trial_takes_one_named_queued_trial(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        _, trial = self.queued(store, scan, 2)
        claimed = store.claim_trial(trial.trial_id, "w1", lease_seconds=5, now=NOW)
        assert claimed is not None and (claimed.number, claimed.attempt) == (1, 1)
        assert store.claim_trial(trial.trial_id, "w2", lease_seconds=5, now=NOW) is None
        assert store.get_trial(trial.trial_id) == claimed
        store.finish_trial(trial.trial_id, TrialState.COMPLETED, now=NOW, values={"loss": 1})
        with pytest.raises(TrialFinishedError):
            store.claim_trial(trial.trial_id, "w2", lease_seconds=5, now=NOW)
        assert store.counts(scan.scan_id) == counts_of(QUEUED=1, COMPLETED=1)

    def test_heartbeat_extends_the_holders_lease(self, store: TrialStore, scan: ScanRecord) -> None:
        trial = self.running(store, scan, "w1")
        beat = store.heartbeat(trial.trial_id, "w1", 1, lease_seconds=30, now=NOW + 20)
        assert beat.lease_expires_at == NOW + 50
        assert beat == trial.model_copy(update={"lease_expires_at": NOW + 50})
        assert store.get_trial(trial.trial_id) == beat
        assert store.expired_leases(scan.scan_id, NOW + 40) == []

    @pytest.mark.parametrize(
        ("worker", "attempt", "at"),
        [("w2", 1, NOW + 1), ("w1", 2, NOW + 1), ("w1", 0, NOW + 1), ("w1", 1, NOW + 31)],
        ids=["other-worker", "later-attempt", "earlier-attempt", "expired-lease"],
    )
    def test_heartbeat_of_a_lost_lease_raises_and_changes_nothing(
        self, store: TrialStore, scan: ScanRecord, worker: str, attempt: int, at: float
    ) -> None:
        trial = self.running(store, scan, "w1")
        with pytest.raises(LeaseLostError) as raised:
            store.heartbeat(trial.trial_id, worker, attempt, lease_seconds=30, now=at)
        assert (raised.value.code, raised.value.status) == ("lease_lost", 409)
        assert store.get_trial(trial.trial_id) == trial

    def test_heartbeat_of_a_queued_trial_raises_lease_lost(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        trial = self.running(store, scan, "w1")
        store.requeue_trial(trial.trial_id, RequeueReason.PREEMPTED, now=NOW + 1)
        with pytest.raises(LeaseLostError):
            store.heartbeat(trial.trial_id, "w1", 1, lease_seconds=30, now=NOW + 2)

    def test_expired_leases_lists_only_running_trials_past_their_lease(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        late = self.running(store, scan, lease=10)
        beating = self.running(store, scan, lease=10)
        done = self.running(store, scan, lease=10)
        also_late = self.running(store, scan, lease=20)
        self.queued(store, scan, 1, start=10)
        store.heartbeat(beating.trial_id, "w", 1, lease_seconds=100, now=NOW + 5)
        store.finish_trial(done.trial_id, TrialState.COMPLETED, now=NOW + 5, values={"l": 1})
        assert store.expired_leases(scan.scan_id, NOW + 10) == []  # a lease ending now holds
        expired = store.expired_leases(scan.scan_id, NOW + 15)
        assert [t.trial_id for t in expired] == [late.trial_id]
        assert expired[0] == store.get_trial(late.trial_id)
        assert [t.number for t in store.expired_leases(scan.scan_id, NOW + 21)] == [
            late.number,
            also_late.number,
        ]

    def test_stale_trials_are_the_expired_leases_of_every_scan_of_every_owner(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        other, _ = store.create_scan(a_scan(owner="bob"))
        late = self.running(store, scan, lease=10)
        beating = self.running(store, scan, lease=10)
        done = self.running(store, scan, lease=10)
        others_late = self.running(store, other, lease=20)
        others_later = self.running(store, other, lease=12)
        self.queued(store, other, 1, start=5)
        store.heartbeat(beating.trial_id, "w", 1, lease_seconds=100, now=NOW + 5)
        store.finish_trial(done.trial_id, TrialState.COMPLETED, now=NOW + 5, values={"l": 1})

        def keys(*trials: TrialRecord) -> list[tuple[str, int]]:
            return sorted((t.scan_id, t.number) for t in trials)

        assert store.stale_trials(NOW + 10) == []  # a lease ending now still holds
        assert keys(*store.stale_trials(NOW + 12.5)) == keys(late, others_later)
        stale = store.stale_trials(NOW + 21)
        assert [(t.scan_id, t.number) for t in stale] == keys(late, others_late, others_later)
        assert all(t == store.get_trial(t.trial_id) for t in stale)
        assert all(t.state is TrialState.RUNNING for t in stale)
        assert store.stale_trials(NOW + 21) == stale  # it changes nothing

    def test_stale_trials_leave_out_requeued_and_deleted_trials(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        gone, _ = store.create_scan(a_scan(owner="bob"))
        requeued = self.running(store, scan, lease=10)
        self.running(store, gone, lease=10)
        assert len(store.stale_trials(NOW + 11)) == 2
        store.requeue_trial(requeued.trial_id, RequeueReason.PREEMPTED, now=NOW + 11)
        store.delete_scan(gone.scan_id)
        assert store.stale_trials(NOW + 1000) == []

    def test_an_empty_store_has_no_stale_trials_and_no_scans(self, store: TrialStore) -> None:
        assert store.stale_trials(NOW) == []
        assert store.count_scans_by_status() == dict.fromkeys(ScanStatus, 0)

    def test_scans_are_counted_by_status_across_owners(self, store: TrialStore) -> None:
        for owner in ("alice", "bob", "bob"):
            store.create_scan(a_scan(owner=owner))
        cancelled, _ = store.create_scan(a_scan(owner="carol"))
        store.set_scan_status(cancelled.scan_id, ScanStatus.CANCELLED, now=NOW)
        assert store.count_scans_by_status() == {
            ScanStatus.RUNNING: 3,
            ScanStatus.COMPLETED: 0,
            ScanStatus.FAILED: 0,
            ScanStatus.CANCELLED: 1,
        }

    def test_requeue_returns_the_trial_to_the_queue_keeping_its_checkpoint(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        trial = self.running(store, scan)
        store.record_checkpoint(trial.trial_id, Checkpoint(step=7, uri="s3://b/k"))
        again = store.requeue_trial(
            trial.trial_id,
            RequeueReason.PREEMPTED,
            now=NOW + 10,
            expected_attempt=1,
            message="spot",
        )
        assert again is not None and again == store.get_trial(trial.trial_id)
        assert (again.state, again.worker_id, again.lease_expires_at) == (
            TrialState.QUEUED,
            None,
            None,
        )
        assert (again.attempt, again.failure_reason) == (1, "spot")
        assert again.checkpoint == Checkpoint(step=7, uri="s3://b/k")
        assert store.counts(scan.scan_id) == counts_of(QUEUED=1)
        assert store.expired_leases(scan.scan_id, NOW + 1000) == []
        reclaimed = store.claim_queued(scan.scan_id, "w2", lease_seconds=30, now=NOW + 20)
        assert reclaimed is not None
        assert (reclaimed.trial_id, reclaimed.attempt, reclaimed.started_at) == (
            trial.trial_id,
            2,
            NOW + 20,
        )
        assert reclaimed.checkpoint == Checkpoint(step=7, uri="s3://b/k")

    def test_requeue_counts_preemptions_and_errors_apart(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        trial = self.running(store, scan)
        for attempt, reason in enumerate(
            [RequeueReason.PREEMPTED, RequeueReason.ERROR, RequeueReason.PREEMPTED], start=1
        ):
            got = store.requeue_trial(trial.trial_id, reason, now=NOW, expected_attempt=attempt)
            assert got is not None
            assert store.claim_queued(scan.scan_id, "w", lease_seconds=30, now=NOW)
        stored = store.get_trial(trial.trial_id)
        assert (stored.preemptions, stored.errors, stored.attempt) == (2, 1, 4)

    def test_requeue_of_a_trial_not_held_at_that_attempt_returns_none(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        trial = self.running(store, scan)
        assert (
            store.requeue_trial(trial.trial_id, RequeueReason.ERROR, now=NOW, expected_attempt=2)
            is None
        )
        assert store.get_trial(trial.trial_id) == trial
        store.requeue_trial(trial.trial_id, RequeueReason.ERROR, now=NOW)
        queued = store.get_trial(trial.trial_id)
        assert store.requeue_trial(trial.trial_id, RequeueReason.ERROR, now=NOW) is None
        assert store.get_trial(trial.trial_id) == queued
        assert store.counts(scan.scan_id) == counts_of(QUEUED=1)

    def test_duration_adds_up_the_running_time_of_every_attempt(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        trial = self.running(store, scan)  # attempt 1 starts at NOW
        store.requeue_trial(trial.trial_id, RequeueReason.PREEMPTED, now=NOW + 10)
        store.claim_queued(scan.scan_id, "w", lease_seconds=30, now=NOW + 100)
        store.requeue_trial(trial.trial_id, RequeueReason.ERROR, now=NOW + 105)
        store.claim_queued(scan.scan_id, "w", lease_seconds=30, now=NOW + 200)
        done = store.finish_trial(
            trial.trial_id, TrialState.COMPLETED, now=NOW + 207, values={"l": 0.0}
        )
        assert done.duration_s == pytest.approx(22)

    # ---- reports and checkpoints -------------------------------------------------------

    def test_intermediate_values_are_idempotent_per_step_and_the_last_write_wins(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        trial = self.running(store, scan)
        other = self.running(store, scan)
        store.record_intermediate(trial.trial_id, "loss", 1, 0.5)
        store.record_intermediate(trial.trial_id, "loss", 2, 0.4)
        store.record_intermediate(trial.trial_id, "loss", 1, 0.45)
        store.record_intermediate(trial.trial_id, "loss", 1, 0.45)
        store.record_intermediate(other.trial_id, "loss", 0, 0.9)
        assert store.intermediate_values(scan.scan_id, "loss") == {
            trial.trial_id: {1: 0.45, 2: 0.4},
            other.trial_id: {0: 0.9},
        }

    def test_intermediate_values_are_kept_per_metric(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        trial = self.running(store, scan)
        for metric, value in (("loss", 1.0), ("loss#val", 2.0), ("acc", 3.0), ("lo", 4.0)):
            store.record_intermediate(trial.trial_id, metric, 1, value)
        assert store.intermediate_values(scan.scan_id, "loss") == {trial.trial_id: {1: 1.0}}
        assert store.intermediate_values(scan.scan_id, "loss#val") == {trial.trial_id: {1: 2.0}}
        assert store.intermediate_values(scan.scan_id, "f1") == {}

    def test_intermediate_values_of_named_trials_read_only_theirs(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        first, second, third = (self.running(store, scan) for _ in range(3))
        for trial, value in ((first, 0.1), (second, 0.2), (third, 0.3)):
            store.record_intermediate(trial.trial_id, "loss", 4, value)
        store.record_intermediate(second.trial_id, "loss#val", 4, 9.0)
        both = store.intermediate_values(
            scan.scan_id, "loss", trial_ids={first.trial_id, second.trial_id}
        )
        assert both == {first.trial_id: {4: 0.1}, second.trial_id: {4: 0.2}}
        assert store.intermediate_values(scan.scan_id, "loss", trial_ids=[]) == {}
        unknown = store.intermediate_values(scan.scan_id, "loss", trial_ids=[f"{scan.scan_id}-x"])
        assert unknown == {}

    def test_last_step_only_rises(self, store: TrialStore, scan: ScanRecord) -> None:
        trial = self.running(store, scan)
        assert trial.last_step is None
        for step in (3, 10, 4, 10, 0):
            store.record_intermediate(trial.trial_id, "loss", step, 1.0)
        assert store.get_trial(trial.trial_id).last_step == 10

    def test_a_checkpoint_at_a_lower_step_is_ignored(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        trial = self.running(store, scan)
        first = store.record_checkpoint(trial.trial_id, Checkpoint(step=10, uri="a"))
        assert first.checkpoint == Checkpoint(step=10, uri="a")
        kept = store.record_checkpoint(trial.trial_id, Checkpoint(step=5, uri="b"))
        assert kept.checkpoint == Checkpoint(step=10, uri="a") == first.checkpoint
        assert store.get_trial(trial.trial_id) == first
        same_step = store.record_checkpoint(trial.trial_id, Checkpoint(step=10, uri="c"))
        assert same_step.checkpoint == Checkpoint(step=10, uri="c")
        assert store.get_trial(trial.trial_id).checkpoint == Checkpoint(step=10, uri="c")

    def test_prune_decision_is_stored_and_replaced(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        trial = self.running(store, scan)
        store.set_prune_decision(trial.trial_id, PruneDecision(step=3, prune=False, reason="a"))
        decision = PruneDecision(step=4, prune=True, reason="below the median")
        store.set_prune_decision(trial.trial_id, decision)
        assert store.get_trial(trial.trial_id).prune_decision == decision

    def test_floats_round_trip_exactly(self, store: TrialStore, scan: ScanRecord) -> None:
        value = 0.1 + 0.2
        params = {"lr": value, "tiny": 5e-324, "big": 1.7976931348623157e308, "third": 1 / 3}
        trial = a_trial(scan, 0, params=params, trial_id=trial_id_for(scan.scan_id, params))
        store.insert_trial(trial)
        now = NOW + 0.123456789
        claimed = store.claim_trial(trial.trial_id, "w", lease_seconds=1 / 3, now=now)
        assert claimed is not None and claimed.lease_expires_at == now + 1 / 3
        store.record_intermediate(trial.trial_id, "loss", 0, value)
        done = store.finish_trial(
            trial.trial_id,
            TrialState.COMPLETED,
            now=now + 1 / 7,
            values={"loss": value, "tiny": 5e-324},
        )
        stored = store.get_trial(trial.trial_id)
        assert stored == done
        assert stored.params == params and stored.values == {"loss": value, "tiny": 5e-324}
        assert stored.finished_at == now + 1 / 7 and stored.started_at == now
        assert store.intermediate_values(scan.scan_id, "loss")[trial.trial_id][0] == value
        assert next(store.iter_trials(scan.scan_id)) == stored

    def test_nan_and_infinities_round_trip(self, store: TrialStore, scan: ScanRecord) -> None:
        trial = self.running(store, scan)
        for step, value in enumerate([math.nan, math.inf, -math.inf, -0.0]):
            store.record_intermediate(trial.trial_id, "loss", step, value)
        curve = store.intermediate_values(scan.scan_id, "loss")[trial.trial_id]
        assert math.isnan(curve[0]) and curve[1] == math.inf and curve[2] == -math.inf
        assert math.copysign(1, curve[3]) == -1
        store.finish_trial(
            trial.trial_id, TrialState.PRUNED, now=NOW, values={"loss": math.nan, "x": math.inf}
        )
        stored = store.get_trial(trial.trial_id)
        assert math.isnan(stored.values["loss"]) and stored.values["x"] == math.inf
        assert stored.value("loss") is None

    # ---- finishing ---------------------------------------------------------------------

    @pytest.mark.parametrize("state", [TrialState.COMPLETED, TrialState.PRUNED, TrialState.FAILED])
    def test_finish_records_the_outcome_and_clears_the_lease(
        self, store: TrialStore, scan: ScanRecord, state: TrialState
    ) -> None:
        trial = self.running(store, scan)
        done = store.finish_trial(
            trial.trial_id,
            state,
            now=NOW + 12,
            values={"loss": 0.25},
            reason="why",
            expected_attempt=1,
        )
        assert (done.state, done.values, done.failure_reason, done.finished_at) == (
            state,
            {"loss": 0.25},
            "why",
            NOW + 12,
        )
        assert done.duration_s == pytest.approx(12) and done.lease_expires_at is None
        assert store.get_trial(trial.trial_id) == done
        assert store.counts(scan.scan_id) == counts_of(**{state.value: 1})
        assert store.expired_leases(scan.scan_id, NOW + 1000) == []

    def test_a_queued_trial_can_be_finished(self, store: TrialStore, scan: ScanRecord) -> None:
        (trial,) = self.queued(store, scan, 1)
        done = store.finish_trial(trial.trial_id, TrialState.FAILED, now=NOW, reason="cancelled")
        assert (done.state, done.duration_s, done.attempt) == (TrialState.FAILED, 0.0, 0)
        assert store.claim_queued(scan.scan_id, "w", lease_seconds=5, now=NOW) is None
        assert store.counts(scan.scan_id) == counts_of(FAILED=1)

    def test_finish_with_a_stale_attempt_raises_lease_lost_and_changes_nothing(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        trial = self.running(store, scan)
        with pytest.raises(LeaseLostError):
            store.finish_trial(trial.trial_id, TrialState.COMPLETED, now=NOW, expected_attempt=2)
        store.requeue_trial(trial.trial_id, RequeueReason.PREEMPTED, now=NOW)
        queued = store.get_trial(trial.trial_id)
        with pytest.raises(LeaseLostError):  # QUEUED again: attempt 1 no longer holds it
            store.finish_trial(trial.trial_id, TrialState.COMPLETED, now=NOW, expected_attempt=1)
        assert store.get_trial(trial.trial_id) == queued
        assert store.counts(scan.scan_id) == counts_of(QUEUED=1)

    @pytest.mark.parametrize("state", [TrialState.QUEUED, TrialState.RUNNING])
    def test_finishing_into_an_unfinished_state_is_refused(
        self, store: TrialStore, scan: ScanRecord, state: TrialState
    ) -> None:
        trial = self.running(store, scan)
        with pytest.raises(ValueError, match="not a finished state"):
            store.finish_trial(trial.trial_id, state, now=NOW)
        assert store.get_trial(trial.trial_id) == trial

    @pytest.mark.parametrize(
        "change",
        [
            lambda s, t: s.finish_trial(t, TrialState.COMPLETED, now=NOW, values={"l": 2.0}),
            lambda s, t: s.finish_trial(t, TrialState.FAILED, now=NOW, expected_attempt=1),
            lambda s, t: s.requeue_trial(t, RequeueReason.PREEMPTED, now=NOW),
            lambda s, t: s.requeue_trial(t, RequeueReason.ERROR, now=NOW, expected_attempt=1),
            lambda s, t: s.heartbeat(t, "w", 1, lease_seconds=5, now=NOW),
            lambda s, t: s.record_intermediate(t, "l", 9, 1.0),
            lambda s, t: s.record_checkpoint(t, Checkpoint(step=9, uri="x")),
            lambda s, t: s.set_prune_decision(t, PruneDecision(step=1, prune=False, reason="")),
            lambda s, t: s.claim_trial(t, "w2", lease_seconds=5, now=NOW),
        ],
        ids=[
            "finish",
            "finish-at-attempt",
            "requeue",
            "requeue-at-attempt",
            "heartbeat",
            "record_intermediate",
            "record_checkpoint",
            "set_prune_decision",
            "claim_trial",
        ],
    )
    def test_a_finished_trial_refuses_every_change(
        self, store: TrialStore, scan: ScanRecord, change: Callable[[TrialStore, str], Any]
    ) -> None:
        trial = self.running(store, scan)
        store.record_intermediate(trial.trial_id, "l", 1, 0.5)
        done = store.finish_trial(trial.trial_id, TrialState.PRUNED, now=NOW, values={"l": 1.0})
        with pytest.raises(TrialFinishedError) as raised:
            change(store, trial.trial_id)
        assert (raised.value.code, raised.value.status) == ("trial_finished", 409)
        assert store.get_trial(trial.trial_id) == done
        assert store.intermediate_values(scan.scan_id, "l") == {trial.trial_id: {1: 0.5}}
        assert store.counts(scan.scan_id) == counts_of(PRUNED=1)

    def test_tags_are_merged_even_into_finished_trials(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        trial = self.running(store, scan)
        store.set_trial_tags(trial.trial_id, {"a": "1", "b": "2"})
        done = store.finish_trial(trial.trial_id, TrialState.COMPLETED, now=NOW, values={"l": 1})
        tagged = store.set_trial_tags(trial.trial_id, {"b": "3", "c": "4"})
        assert tagged == done.model_copy(update={"tags": {"a": "1", "b": "3", "c": "4"}})
        assert store.get_trial(trial.trial_id) == tagged

    # ---- counts ------------------------------------------------------------------------

    def test_counts_stay_exact_through_every_transition(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        assert store.counts(scan.scan_id) == ZERO_COUNTS
        trials = self.queued(store, scan, 6)
        assert store.counts(scan.scan_id) == counts_of(QUEUED=6)
        for _ in range(4):
            store.claim_queued(scan.scan_id, "w", lease_seconds=30, now=NOW)
        assert store.counts(scan.scan_id) == counts_of(QUEUED=2, RUNNING=4)
        ids = [t.trial_id for t in trials]
        store.finish_trial(ids[0], TrialState.COMPLETED, now=NOW, values={"l": 1})
        store.finish_trial(ids[1], TrialState.PRUNED, now=NOW)
        store.requeue_trial(ids[2], RequeueReason.ERROR, now=NOW)
        store.finish_trial(ids[3], TrialState.FAILED, now=NOW)
        store.finish_trial(ids[4], TrialState.FAILED, now=NOW)  # from QUEUED
        store.set_trial_tags(ids[0], {"x": "y"})
        store.record_intermediate(ids[5], "l", 1, 1.0)
        assert store.counts(scan.scan_id) == counts_of(QUEUED=2, COMPLETED=1, PRUNED=1, FAILED=2)
        observed = Counter(t.state for t in store.iter_trials(scan.scan_id))
        assert store.counts(scan.scan_id) == {**ZERO_COUNTS, **observed}

    # ---- races -------------------------------------------------------------------------

    def test_racing_threads_claim_each_queued_trial_exactly_once(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        n = self.race_trials
        self.queued(store, scan, n)
        claimed: list[list[TrialRecord]] = [[] for _ in range(self.race_threads)]

        def work(i: int) -> None:
            while t := store.claim_queued(scan.scan_id, f"w{i}", lease_seconds=30, now=NOW):
                claimed[i].append(t)

        run_threads(self.race_threads, work)
        every = [t for mine in claimed for t in mine]
        assert len(every) == n
        assert sorted(t.number for t in every) == list(range(n))
        for i, mine in enumerate(claimed):  # each claim came back as the worker's own
            assert all((t.worker_id, t.attempt) == (f"w{i}", 1) for t in mine)
        assert store.counts(scan.scan_id) == counts_of(RUNNING=n)
        holders = {t.trial_id: t.worker_id for t in store.iter_trials(scan.scan_id)}
        assert holders == {t.trial_id: t.worker_id for t in every}

    def test_racing_threads_insert_each_grid_cell_exactly_once(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        n = self.race_cells
        outcomes: Counter[InsertResult] = Counter()
        lock = threading.Lock()

        def work(_: int) -> None:
            while (cursor := store.get_scan(scan.scan_id).cursor) < n:
                result = store.insert_trial(a_trial(scan, cursor), expected_cursor=cursor)
                with lock:
                    outcomes[result] += 1

        run_threads(self.race_threads, work)
        trials = store.list_trials(scan.scan_id)
        assert [t.number for t in trials] == list(range(n))
        assert sorted(t.params["i"] for t in trials) == list(range(n))
        stored = store.get_scan(scan.scan_id)
        assert (stored.trial_count, stored.cursor) == (n, n)
        assert outcomes[InsertResult.CREATED] == n
        assert set(outcomes) <= {
            InsertResult.CREATED,
            InsertResult.CURSOR_MOVED,
            InsertResult.DUPLICATE,
        }
        assert store.counts(scan.scan_id) == counts_of(QUEUED=n)

    def test_racing_threads_insert_no_more_than_max_trials(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        limit = 10
        created: list[int] = []

        def work(i: int) -> None:
            for j in range(3):
                trial = a_trial(scan, 100 * i + j)
                if store.insert_trial(trial, max_trials=limit) is InsertResult.CREATED:
                    created.append(trial.params["i"])

        run_threads(self.race_threads, work)
        assert len(created) == limit
        assert [t.number for t in store.iter_trials(scan.scan_id)] == list(range(limit))
        assert store.get_scan(scan.scan_id).trial_count == limit

    def test_racing_finishers_leave_exactly_one_outcome(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        trial = self.running(store, scan)
        won: list[TrialRecord] = []
        refused: list[Exception] = []

        def work(i: int) -> None:
            try:
                if i % 2:
                    won.append(
                        store.finish_trial(
                            trial.trial_id,
                            TrialState.COMPLETED,
                            now=NOW + i,
                            values={"loss": float(i)},
                            expected_attempt=1,
                        )
                    )
                else:
                    got = store.requeue_trial(
                        trial.trial_id, RequeueReason.PREEMPTED, now=NOW + i, expected_attempt=1
                    )
                    if got is None:
                        raise LeaseLostError("requeue lost")
                    won.append(got)
            except (TrialFinishedError, LeaseLostError) as exc:
                refused.append(exc)

        run_threads(8, work)
        assert len(won) == 1 and len(refused) == 7
        assert store.get_trial(trial.trial_id) == won[0]
        counts = store.counts(scan.scan_id)
        assert sum(counts.values()) == 1 and counts[won[0].state] == 1
