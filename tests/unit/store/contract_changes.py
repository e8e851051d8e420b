"""The change sequence of the TrialStore contract (``trials_changed_since``), mixed into
``TrialStoreContract`` so every store runs it."""

from __future__ import annotations

import random
import threading
from typing import ClassVar

from scanfleet.records import (
    PruneDecision,
    RequeueReason,
    ScanRecord,
    TrialRecord,
    TrialState,
    trial_id_for,
)
from scanfleet.store import TrialStore

NOW = 1_700_000_000.0


def _trial(scan: ScanRecord, i: int) -> TrialRecord:
    params = {"i": i}
    return TrialRecord(
        scan_id=scan.scan_id, trial_id=trial_id_for(scan.scan_id, params), number=0, params=params
    )


class Reader:
    """What a caller of ``trials_changed_since`` keeps: a copy of the scan's trials."""

    def __init__(self, store: TrialStore, scan_id: str) -> None:
        self.store, self.scan_id = store, scan_id
        self.seq: int | None = None
        self.trials: dict[str, TrialRecord] = {}

    def catch_up(self) -> list[TrialRecord]:
        changes = self.store.trials_changed_since(self.scan_id, self.seq)
        assert self.seq is None or changes.seq >= self.seq
        assert [t.number for t in changes.trials] == sorted(t.number for t in changes.trials)
        self.seq = changes.seq
        self.trials.update((t.trial_id, t) for t in changes.trials)
        return changes.trials


class ChangeSequenceContract:
    race_threads: ClassVar[int]

    def test_every_transition_moves_the_sequence_and_per_step_writes_do_not(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        reader = Reader(store, scan.scan_id)
        assert reader.catch_up() == [] and reader.seq == 0
        a, b = _trial(scan, 0), _trial(scan, 1)
        store.insert_trial(a)
        store.insert_trial(b)
        assert [t.trial_id for t in reader.catch_up()] == [a.trial_id, b.trial_id]
        assert reader.seq == 2
        claimed = store.claim_queued(scan.scan_id, "w", lease_seconds=30, now=NOW)
        assert claimed is not None and claimed.trial_id == a.trial_id
        assert reader.catch_up() == [claimed] and reader.seq == 3
        store.heartbeat(a.trial_id, "w", 1, lease_seconds=60, now=NOW + 1)
        store.record_intermediate(a.trial_id, "loss", 1, 0.5)
        store.set_prune_decision(a.trial_id, PruneDecision(step=1, prune=False, reason="kept"))
        assert reader.catch_up() == [] and reader.seq == 3  # per-step writes
        store.requeue_trial(a.trial_id, RequeueReason.PREEMPTED, now=NOW + 2)
        store.claim_trial(a.trial_id, "w2", lease_seconds=30, now=NOW + 3)
        done = store.finish_trial(a.trial_id, TrialState.COMPLETED, now=NOW + 4, values={"l": 1})
        assert reader.catch_up() == [done] and reader.seq == 6  # the last state, once
        store.finish_trial(b.trial_id, TrialState.FAILED, now=NOW + 5, reason="x")
        tagged = store.set_trial_tags(a.trial_id, {"k": "v"})
        assert [t.trial_id for t in reader.catch_up()] == [a.trial_id, b.trial_id]
        assert reader.trials[a.trial_id] == tagged and reader.seq == 8
        assert store.trials_changed_since(scan.scan_id, 7).trials == [tagged]
        assert store.trials_changed_since(scan.scan_id, 8).trials == []

    def test_a_reader_from_no_sequence_reads_every_trial(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        for i in range(7):
            store.insert_trial(_trial(scan, i))
        store.finish_trial(_trial(scan, 3).trial_id, TrialState.PRUNED, now=NOW)
        changes = store.trials_changed_since(scan.scan_id, None)
        assert changes.trials == store.list_trials(scan.scan_id) and changes.seq == 8

    def test_an_unknown_scan_has_no_changes(self, store: TrialStore) -> None:
        assert store.trials_changed_since("nope", None).trials == []
        assert store.trials_changed_since("nope", 5).trials == []

    def test_a_reader_racing_writers_ends_with_the_stores_trials(
        self, store: TrialStore, scan: ScanRecord
    ) -> None:
        """Writers insert, claim, requeue and finish while a reader catches up over and
        over: every change gets its own sequence value in its own write, so the reader,
        caught up once more at the end, holds exactly what the store holds."""
        per_thread = 6
        threads = min(self.race_threads, 6)
        reader = Reader(store, scan.scan_id)
        done = threading.Event()

        def read() -> None:
            while not done.is_set():
                reader.catch_up()

        def write(i: int) -> None:
            rng = random.Random(i)
            for j in range(per_thread):
                store.insert_trial(_trial(scan, 100 * i + j))
                got = store.claim_queued(scan.scan_id, f"w{i}", lease_seconds=30, now=NOW)
                if got is None:
                    continue
                if rng.random() < 0.3:
                    store.requeue_trial(got.trial_id, RequeueReason.ERROR, now=NOW)
                else:
                    store.finish_trial(got.trial_id, TrialState.COMPLETED, now=NOW, values={})

        background = threading.Thread(target=read)
        background.start()
        workers = [threading.Thread(target=write, args=(i,)) for i in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=120)
        done.set()
        background.join(timeout=120)
        reader.catch_up()
        assert reader.trials == {t.trial_id: t for t in store.list_trials(scan.scan_id)}
        assert len(reader.trials) == threads * per_thread
