"""The TrialStore contract, one suite for every store. A store's test module subclasses
``TrialStoreContract`` and provides the ``store`` fixture."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

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
    ScanNotFoundError,
    TrialFinishedError,
    TrialNotFoundError,
    TrialStore,
)

NOW = 1_700_000_000.0


def a_scan(owner: str = "alice", **changes: Any) -> ScanRecord:
    fields: dict[str, Any] = {
        "scan_id": new_scan_id(),
        "name": "s",
        "owner": owner,
        "config": {"strategy": "grid"},
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


class TrialStoreContract:
    @pytest.fixture
    def store(self) -> TrialStore:
        raise NotImplementedError

    @pytest.fixture
    def scan(self, store: TrialStore) -> ScanRecord:
        scan, created = store.create_scan(a_scan())
        assert created
        return scan

    def queued(self, store: TrialStore, scan: ScanRecord, n: int) -> list[TrialRecord]:
        trials = [a_trial(scan, i) for i in range(n)]
        for t in trials:
            assert store.insert_trial(t) is InsertResult.CREATED
        return [store.get_trial(t.trial_id) for t in trials]

    def running(self, store: TrialStore, scan: ScanRecord, worker: str = "w") -> TrialRecord:
        self.queued(store, scan, 1)
        claimed = store.claim_queued(scan.scan_id, worker, lease_seconds=30, now=NOW)
        assert claimed is not None
        return claimed

    # ---- scans -------------------------------------------------------------------------

    def test_scans_round_trip_and_unknown_ids_raise(self, store: TrialStore) -> None:
        scan, _ = store.create_scan(a_scan(tags={"team": "vision"}))
        assert store.get_scan(scan.scan_id) == scan
        with pytest.raises(ScanNotFoundError):
            store.get_scan("sc-missing")

    def test_create_scan_is_idempotent_per_owner_and_client_token(self, store: TrialStore) -> None:
        first, created = store.create_scan(a_scan(client_token="t1"))
        again, created_again = store.create_scan(a_scan(client_token="t1"))
        other, created_other = store.create_scan(a_scan(owner="bob", client_token="t1"))
        assert created and not created_again and created_other
        assert again.scan_id == first.scan_id != other.scan_id
        assert len(store.list_scans("alice")) == 1

    def test_list_scans_filters_by_owner_status_and_tag(self, store: TrialStore) -> None:
        a, _ = store.create_scan(a_scan(tags={"team": "vision"}, created_at=NOW))
        b, _ = store.create_scan(a_scan(tags={"team": "nlp"}, created_at=NOW + 1))
        store.create_scan(a_scan(owner="bob"))
        store.set_scan_status(b.scan_id, ScanStatus.COMPLETED, now=NOW)
        assert [s.scan_id for s in store.list_scans("alice")] == [b.scan_id, a.scan_id]
        assert [s.scan_id for s in store.list_scans("alice", status=ScanStatus.RUNNING)] == [
            a.scan_id
        ]
        assert [s.scan_id for s in store.list_scans("alice", tag=("team", "nlp"))] == [b.scan_id]

    def test_scan_status_is_compare_and_set(self, store: TrialStore, scan: ScanRecord) -> None:
        assert store.set_scan_status(scan.scan_id, ScanStatus.COMPLETED, reason="done", now=NOW)
        assert not store.set_scan_status(scan.scan_id, ScanStatus.CANCELLED, now=NOW)
        stored = store.get_scan(scan.scan_id)
        assert (stored.status, stored.status_reason, stored.finished_at) == (
            ScanStatus.COMPLETED,
            "done",
            NOW,
        )
        assert store.set_scan_status(
            scan.scan_id, ScanStatus.RUNNING, expected=ScanStatus.COMPLETED, now=NOW
        )
        assert store.get_scan(scan.scan_id).finished_at is None

    # ---- inserting ---------------------------------------------------------------------

    def test_insert_numbers_trials_without_gaps_and_counts_them(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        trials = self.queued(store, scan, 3)
        assert [t.number for t in trials] == [0, 1, 2]
        assert store.get_scan(scan.scan_id).trial_count == 3
        assert store.counts(scan.scan_id) == {
            TrialState.QUEUED: 3,
            TrialState.RUNNING: 0,
            TrialState.COMPLETED: 0,
            TrialState.PRUNED: 0,
            TrialState.FAILED: 0,
        }

    def test_the_same_params_never_make_two_trials(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        self.queued(store, scan, 1)
        assert store.insert_trial(a_trial(scan, 0)) is InsertResult.DUPLICATE
        assert store.get_scan(scan.scan_id).trial_count == 1

    def test_insert_respects_max_trials(self, store: TrialStore, scan: ScanRecord) -> None:
        assert store.insert_trial(a_trial(scan, 0), max_trials=1) is InsertResult.CREATED
        assert store.insert_trial(a_trial(scan, 1), max_trials=1) is InsertResult.LIMIT_REACHED
        assert store.get_scan(scan.scan_id).trial_count == 1

    def test_insert_with_cursor_is_compare_and_set(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        assert store.insert_trial(a_trial(scan, 0), expected_cursor=0) is InsertResult.CREATED
        assert store.insert_trial(a_trial(scan, 1), expected_cursor=0) is InsertResult.CURSOR_MOVED
        assert store.skip_cursor(scan.scan_id, 1)
        assert not store.skip_cursor(scan.scan_id, 1)
        assert store.insert_trial(a_trial(scan, 1), expected_cursor=2) is InsertResult.CREATED
        stored = store.get_scan(scan.scan_id)
        assert (stored.cursor, stored.trial_count) == (3, 2)

    def test_insert_into_a_missing_scan_raises(self, store: TrialStore) -> None:
        with pytest.raises(ScanNotFoundError):
            store.insert_trial(a_trial(a_scan(), 0))

    def test_iter_trials_streams_by_number_and_filters_states(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        trials = self.queued(store, scan, 5)
        store.claim_queued(scan.scan_id, "w", lease_seconds=30, now=NOW)
        assert [t.trial_id for t in store.iter_trials(scan.scan_id)] == [t.trial_id for t in trials]
        running = store.list_trials(scan.scan_id, states=frozenset({TrialState.RUNNING}))
        assert [t.number for t in running] == [0]
        with pytest.raises(TrialNotFoundError):
            store.get_trial(f"{scan.scan_id}-0000000000000000")

    # ---- claiming and leases -----------------------------------------------------------

    def test_claim_takes_the_oldest_queued_trial_and_sets_the_lease(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        self.queued(store, scan, 2)
        claimed = store.claim_queued(scan.scan_id, "w1", lease_seconds=30, now=NOW)
        assert claimed is not None
        assert (claimed.number, claimed.state, claimed.attempt, claimed.worker_id) == (
            0,
            TrialState.RUNNING,
            1,
            "w1",
        )
        assert claimed.lease_expires_at == NOW + 30 and claimed.started_at == NOW
        assert store.get_trial(claimed.trial_id) == claimed
        second = store.claim_queued(scan.scan_id, "w2", lease_seconds=30, now=NOW)
        assert second is not None and second.number == 1
        assert store.claim_queued(scan.scan_id, "w3", lease_seconds=30, now=NOW) is None
        assert store.counts(scan.scan_id)[TrialState.RUNNING] == 2

    def test_claim_trial_by_name(self, store: TrialStore, scan: ScanRecord) -> None:
        (trial,) = self.queued(store, scan, 1)
        assert store.claim_trial(trial.trial_id, "w1", lease_seconds=5, now=NOW) is not None
        assert store.claim_trial(trial.trial_id, "w2", lease_seconds=5, now=NOW) is None
        store.finish_trial(trial.trial_id, TrialState.COMPLETED, now=NOW, values={"loss": 1})
        with pytest.raises(TrialFinishedError):
            store.claim_trial(trial.trial_id, "w2", lease_seconds=5, now=NOW)

    def test_heartbeat_extends_only_the_holders_live_lease(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        trial = self.running(store, scan, "w1")
        beat = store.heartbeat(trial.trial_id, "w1", 1, lease_seconds=30, now=NOW + 20)
        assert beat.lease_expires_at == NOW + 50
        with pytest.raises(LeaseLostError):
            store.heartbeat(trial.trial_id, "w2", 1, lease_seconds=30, now=NOW + 21)
        with pytest.raises(LeaseLostError):
            store.heartbeat(trial.trial_id, "w1", 2, lease_seconds=30, now=NOW + 21)
        with pytest.raises(LeaseLostError):
            store.heartbeat(trial.trial_id, "w1", 1, lease_seconds=30, now=NOW + 51)

    def test_expired_leases_lists_running_trials_past_their_lease(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        trial = self.running(store, scan)
        assert store.expired_leases(scan.scan_id, NOW + 29) == []
        assert [t.trial_id for t in store.expired_leases(scan.scan_id, NOW + 31)] == [
            trial.trial_id
        ]

    def test_requeue_keeps_the_checkpoint_and_counts_by_reason(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        trial = self.running(store, scan)
        store.record_checkpoint(trial.trial_id, Checkpoint(step=7, uri="s3://b/k"))
        again = store.requeue_trial(
            trial.trial_id, RequeueReason.PREEMPTED, now=NOW + 10, expected_attempt=1
        )
        assert again is not None
        assert (again.state, again.preemptions, again.errors, again.worker_id) == (
            TrialState.QUEUED,
            1,
            0,
            None,
        )
        assert again.checkpoint == Checkpoint(step=7, uri="s3://b/k")
        assert again.duration_s == pytest.approx(10)
        assert store.requeue_trial(trial.trial_id, RequeueReason.ERROR, now=NOW) is None
        claimed = store.claim_queued(scan.scan_id, "w2", lease_seconds=30, now=NOW + 20)
        assert claimed is not None and claimed.attempt == 2
        failed = store.requeue_trial(
            trial.trial_id, RequeueReason.ERROR, now=NOW + 25, expected_attempt=2
        )
        assert failed is not None and (failed.preemptions, failed.errors) == (1, 1)
        assert failed.duration_s == pytest.approx(15)
        assert (
            store.requeue_trial(trial.trial_id, RequeueReason.ERROR, now=NOW, expected_attempt=9)
            is None
        )

    # ---- reports and checkpoints -------------------------------------------------------

    def test_intermediate_values_are_idempotent_per_step(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        trial = self.running(store, scan)
        store.record_intermediate(trial.trial_id, "loss", 1, 0.5)
        store.record_intermediate(trial.trial_id, "loss", 2, 0.4)
        store.record_intermediate(trial.trial_id, "loss", 1, 0.45)
        store.record_intermediate(trial.trial_id, "acc", 2, 0.9)
        assert store.intermediate_values(scan.scan_id, "loss") == {
            trial.trial_id: {1: 0.45, 2: 0.4}
        }
        assert store.get_trial(trial.trial_id).last_step == 2

    def test_floats_round_trip_exactly(self, store: TrialStore, scan: ScanRecord) -> None:
        trial = self.running(store, scan)
        value = 0.1 + 0.2
        store.record_intermediate(trial.trial_id, "loss", 0, value)
        done = store.finish_trial(
            trial.trial_id, TrialState.COMPLETED, now=NOW, values={"loss": value}
        )
        assert store.get_trial(trial.trial_id).values["loss"] == value == done.values["loss"]
        assert store.intermediate_values(scan.scan_id, "loss")[trial.trial_id][0] == value

    def test_a_checkpoint_at_a_lower_step_is_ignored(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        trial = self.running(store, scan)
        store.record_checkpoint(trial.trial_id, Checkpoint(step=10, uri="a"))
        kept = store.record_checkpoint(trial.trial_id, Checkpoint(step=5, uri="b"))
        assert kept.checkpoint == Checkpoint(step=10, uri="a")

    def test_prune_decision_is_stored(self, store: TrialStore, scan: ScanRecord) -> None:
        trial = self.running(store, scan)
        decision = PruneDecision(step=3, prune=True, reason="median says so")
        store.set_prune_decision(trial.trial_id, decision)
        assert store.get_trial(trial.trial_id).prune_decision == decision

    # ---- finishing ---------------------------------------------------------------------

    def test_finish_records_values_duration_and_counts(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        trial = self.running(store, scan)
        done = store.finish_trial(
            trial.trial_id, TrialState.COMPLETED, now=NOW + 12, values={"loss": 0.25}
        )
        assert (done.state, done.values, done.finished_at) == (
            TrialState.COMPLETED,
            {"loss": 0.25},
            NOW + 12,
        )
        assert done.duration_s == pytest.approx(12) and done.lease_expires_at is None
        counts = store.counts(scan.scan_id)
        assert (counts[TrialState.RUNNING], counts[TrialState.COMPLETED]) == (0, 1)

    def test_finish_with_a_stale_attempt_raises_lease_lost(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        trial = self.running(store, scan)
        with pytest.raises(LeaseLostError):
            store.finish_trial(trial.trial_id, TrialState.COMPLETED, now=NOW, expected_attempt=2)
        assert store.get_trial(trial.trial_id).state is TrialState.RUNNING

    def test_finished_trials_are_immutable(self, store: TrialStore, scan: ScanRecord) -> None:
        trial = self.running(store, scan)
        done = store.finish_trial(trial.trial_id, TrialState.PRUNED, now=NOW, values={"l": 1.0})
        attempts = [
            lambda: store.finish_trial(trial.trial_id, TrialState.COMPLETED, now=NOW),
            lambda: store.requeue_trial(trial.trial_id, RequeueReason.PREEMPTED, now=NOW),
            lambda: store.heartbeat(trial.trial_id, "w", 1, lease_seconds=5, now=NOW),
            lambda: store.record_intermediate(trial.trial_id, "l", 9, 1.0),
            lambda: store.record_checkpoint(trial.trial_id, Checkpoint(step=9, uri="x")),
            lambda: store.set_prune_decision(
                trial.trial_id, PruneDecision(step=1, prune=False, reason="")
            ),
        ]
        for attempt in attempts:
            with pytest.raises(TrialFinishedError):
                attempt()
        assert store.get_trial(trial.trial_id) == done
        assert store.intermediate_values(scan.scan_id, "l") == {}
        tagged = store.set_trial_tags(trial.trial_id, {"note": "kept"})
        assert tagged.tags == {"note": "kept"} and tagged.state is TrialState.PRUNED

    # ---- races -------------------------------------------------------------------------

    def test_racing_threads_claim_each_queued_trial_exactly_once(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        n = 60
        self.queued(store, scan, n)
        claimed: list[str] = []
        lock = threading.Lock()
        barrier = threading.Barrier(8)

        def work(i: int) -> None:
            barrier.wait()
            while t := store.claim_queued(scan.scan_id, f"w{i}", lease_seconds=30, now=NOW):
                with lock:
                    claimed.append(t.trial_id)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert len(claimed) == n and max(Counter(claimed).values()) == 1
        assert store.counts(scan.scan_id)[TrialState.RUNNING] == n

    def test_racing_threads_insert_each_grid_cell_exactly_once(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        n = 40
        barrier = threading.Barrier(8)

        def work() -> None:
            barrier.wait()
            while True:
                cursor = store.get_scan(scan.scan_id).cursor
                if cursor >= n:
                    return
                store.insert_trial(a_trial(scan, cursor), expected_cursor=cursor)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        trials = store.list_trials(scan.scan_id)
        assert sorted(t.params["i"] for t in trials) == list(range(n))
        assert sorted(t.number for t in trials) == list(range(n))
        assert store.get_scan(scan.scan_id).trial_count == n
