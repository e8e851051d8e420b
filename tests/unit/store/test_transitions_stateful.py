"""The TrialStore's transitions as random sequences (hypothesis stateful, issue 14): insert,
claim, heartbeat, report, checkpoint, complete, prune, fail, requeue and the reaper's
reclaim of stale leases, on a clock that moves, checked against a model after every
step. Invariants: finished trials never change, a trial has one holder (a stale holder's
heartbeat or end is refused), the counts agree with the trials, ``max_run`` is never
exceeded. Run on SQLite, and on DynamoDB under moto with fewer examples."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from scanfleet.records import Checkpoint, RequeueReason, TrialRecord, TrialState
from scanfleet.store import (
    InsertResult,
    LeaseLostError,
    SQLiteTrialStore,
    TrialFinishedError,
    TrialStore,
)

from tests.unit.store.contract import NOW, a_scan, a_trial

MAX_RUN = 4
LEASE = 30.0
WORKERS = ("w1", "w2")  # two: a re-claim by the same worker is common
FINISHED = (TrialState.COMPLETED, TrialState.PRUNED, TrialState.FAILED)


@dataclass
class Model:
    """What the store should hold of one trial."""

    number: int
    state: TrialState = TrialState.QUEUED
    worker: str | None = None
    attempt: int = 0
    lease: float | None = None
    checkpoint_step: int | None = None
    requeues: int = 0


class StoreTransitions(RuleBasedStateMachine):
    """One scan, up to ``MAX_RUN`` trials; ``make_store`` builds a fresh empty store."""

    make_store: ClassVar[Callable[[], tuple[TrialStore, Callable[[], None]]]]

    def __init__(self) -> None:
        super().__init__()
        self.store, self._close = self.make_store()
        self.scan = a_scan(max_run=MAX_RUN)
        self.store.create_scan(self.scan)
        self.now = NOW
        self.trials: dict[str, Model] = {}
        self.frozen: dict[str, dict[str, Any]] = {}  # finished trials as they ended

    def teardown(self) -> None:
        self._close()

    # ---- helpers ---------------------------------------------------------------------

    def _id(self, i: int) -> str:
        return a_trial(self.scan, i).trial_id

    def _pick(self, data: st.DataObject) -> str:
        by_number = sorted(self.trials, key=lambda t: self.trials[t].number)  # ids are random
        return data.draw(st.sampled_from(by_number), label="trial")

    def _holder(self, data: st.DataObject, model: Model) -> tuple[str, int]:
        """The holder's (worker, attempt), or a stale or foreign one."""
        who = data.draw(st.sampled_from(["holder", "old-attempt", "other-worker"]))
        worker = model.worker or "w1"
        if who == "old-attempt":
            return worker, model.attempt - 1
        if who == "other-worker":
            return next(w for w in WORKERS if w != worker), model.attempt
        return worker, model.attempt

    def _holds(self, model: Model, worker: str, attempt: int) -> bool:
        return (
            model.state is TrialState.RUNNING
            and (model.worker, model.attempt) == (worker, attempt)
            and model.lease is not None
            and model.lease >= self.now
        )

    # ---- rules -----------------------------------------------------------------------

    @rule(i=st.integers(0, MAX_RUN + 1))
    def insert(self, i: int) -> None:
        trial = a_trial(self.scan, i, number=len(self.trials))
        result = self.store.insert_trial(trial, max_trials=MAX_RUN)
        if trial.trial_id in self.trials:
            assert result is InsertResult.DUPLICATE
        elif len(self.trials) >= MAX_RUN:
            assert result is InsertResult.LIMIT_REACHED
        else:
            assert result is InsertResult.CREATED
            self.trials[trial.trial_id] = Model(number=len(self.trials))

    @rule(worker=st.sampled_from(WORKERS))
    def claim(self, worker: str) -> None:
        got = self.store.claim_queued(self.scan.scan_id, worker, lease_seconds=LEASE, now=self.now)
        queued = [(m.number, t) for t, m in self.trials.items() if m.state is TrialState.QUEUED]
        if not queued:
            assert got is None
            return
        trial_id = min(queued)[1]
        assert got is not None and got.trial_id == trial_id
        model = self.trials[trial_id]
        model.state, model.worker, model.attempt = TrialState.RUNNING, worker, model.attempt + 1
        model.lease = self.now + LEASE

    @precondition(lambda self: self.trials)
    @rule(data=st.data())
    def claim_named(self, data: st.DataObject) -> None:
        trial_id = self._pick(data)
        model = self.trials[trial_id]
        try:
            got = self.store.claim_trial(trial_id, "w2", lease_seconds=LEASE, now=self.now)
        except TrialFinishedError:
            assert model.state in FINISHED
            return
        if model.state is not TrialState.QUEUED:
            assert got is None  # a running trial is never claimed twice
            return
        assert got is not None and got.worker_id == "w2"
        model.state, model.worker, model.attempt = TrialState.RUNNING, "w2", model.attempt + 1
        model.lease = self.now + LEASE

    @precondition(lambda self: self.trials)
    @rule(data=st.data())
    def heartbeat(self, data: st.DataObject) -> None:
        trial_id = self._pick(data)
        model = self.trials[trial_id]
        worker, attempt = self._holder(data, model)
        expected = self._holds(model, worker, attempt)
        try:
            self.store.heartbeat(trial_id, worker, attempt, lease_seconds=LEASE, now=self.now)
        except TrialFinishedError:
            assert model.state in FINISHED
        except LeaseLostError:
            assert model.state not in FINISHED and not expected
        else:
            assert expected
            model.lease = self.now + LEASE

    @precondition(lambda self: self.trials)
    @rule(data=st.data(), step=st.integers(0, 20), value=st.floats(-1e3, 1e3))
    def report(self, data: st.DataObject, step: int, value: float) -> None:
        trial_id = self._pick(data)
        try:
            self.store.record_intermediate(trial_id, "loss", step, value)
        except TrialFinishedError:
            assert self.trials[trial_id].state in FINISHED
        else:
            assert self.trials[trial_id].state not in FINISHED

    @precondition(lambda self: self.trials)
    @rule(data=st.data(), step=st.integers(0, 20))
    def checkpoint(self, data: st.DataObject, step: int) -> None:
        trial_id = self._pick(data)
        model = self.trials[trial_id]
        try:
            self.store.record_checkpoint(trial_id, Checkpoint(step=step, uri=f"ckpt/{step}"))
        except TrialFinishedError:
            assert model.state in FINISHED
        else:
            assert model.state not in FINISHED
            model.checkpoint_step = max(step, model.checkpoint_step or 0)

    @precondition(lambda self: self.trials)
    @rule(data=st.data(), state=st.sampled_from(FINISHED), checked=st.booleans())
    def finish(self, data: st.DataObject, state: TrialState, checked: bool) -> None:
        """complete, prune or fail; ``checked``: by the holder's attempt, as a worker does."""
        trial_id = self._pick(data)
        model = self.trials[trial_id]
        attempt = self._holder(data, model)[1] if checked else None
        try:
            record = self.store.finish_trial(
                trial_id, state, now=self.now, values={"loss": 1.0}, expected_attempt=attempt
            )
        except TrialFinishedError:
            assert model.state in FINISHED
        except LeaseLostError:
            assert model.state not in FINISHED and attempt is not None
            assert model.state is not TrialState.RUNNING or model.attempt != attempt
        else:
            assert model.state not in FINISHED
            assert attempt is None or (model.state, model.attempt) == (TrialState.RUNNING, attempt)
            model.state, model.worker, model.lease = state, None, None
            self.frozen[trial_id] = record.model_dump()

    @precondition(lambda self: self.trials)
    @rule(data=st.data(), reason=st.sampled_from(RequeueReason), checked=st.booleans())
    def requeue(self, data: st.DataObject, reason: RequeueReason, checked: bool) -> None:
        trial_id = self._pick(data)
        model = self.trials[trial_id]
        attempt = self._holder(data, model)[1] if checked else None
        try:
            got = self.store.requeue_trial(trial_id, reason, now=self.now, expected_attempt=attempt)
        except TrialFinishedError:
            assert model.state in FINISHED
            return
        movable = model.state is TrialState.RUNNING and attempt in (None, model.attempt)
        assert (got is not None) == movable
        if movable:
            model.state, model.worker, model.lease = TrialState.QUEUED, None, None
            model.requeues += 1

    @rule(seconds=st.sampled_from([1.0, 10.0, LEASE, LEASE + 1]))
    def advance(self, seconds: float) -> None:
        self.now += seconds

    @rule()
    def reclaim_stale(self) -> None:
        """The reaper: every stale lease back to the queue, by its attempt."""
        stale = self.store.stale_trials(self.now)
        expected = {
            t
            for t, m in self.trials.items()
            if m.state is TrialState.RUNNING and m.lease is not None and m.lease < self.now
        }
        assert {t.trial_id for t in stale} == expected
        for trial in stale:
            got = self.store.requeue_trial(
                trial.trial_id,
                RequeueReason.PREEMPTED,
                now=self.now,
                expected_attempt=trial.attempt,
            )
            assert got is not None and got.state is TrialState.QUEUED
            model = self.trials[trial.trial_id]
            model.state, model.worker, model.lease = TrialState.QUEUED, None, None
            model.requeues += 1

    # ---- invariants ------------------------------------------------------------------

    @invariant()
    def trials_are_as_modelled(self) -> None:
        stored = {t.trial_id: t for t in self.store.iter_trials(self.scan.scan_id)}
        assert set(stored) == set(self.trials)
        for trial_id, model in self.trials.items():
            _matches(stored[trial_id], model)

    @invariant()
    def finished_trials_never_change(self) -> None:
        for trial_id, record in self.frozen.items():
            assert self.store.get_trial(trial_id).model_dump() == record

    @invariant()
    def counts_agree_and_max_run_holds(self) -> None:
        counts = self.store.counts(self.scan.scan_id)
        expected = Counter(m.state for m in self.trials.values())
        assert {s: n for s, n in counts.items() if n} == dict(expected)
        scan = self.store.get_scan(self.scan.scan_id)
        assert scan.trial_count == len(self.trials) <= MAX_RUN


def _matches(record: TrialRecord, model: Model) -> None:
    assert (record.state, record.attempt, record.number) == (
        model.state,
        model.attempt,
        model.number,
    )
    if model.state is TrialState.RUNNING:  # one holder: the one the model says
        assert (record.worker_id, record.lease_expires_at) == (model.worker, model.lease)
    elif model.state is TrialState.QUEUED:
        assert record.worker_id is None and record.lease_expires_at is None
    else:  # finished: the last holder stays named, the lease is gone
        assert record.lease_expires_at is None
    assert record.preemptions + record.errors == model.requeues
    step = record.checkpoint.step if record.checkpoint else None
    assert step == model.checkpoint_step


def _sqlite() -> tuple[TrialStore, Callable[[], None]]:
    folder = Path(tempfile.mkdtemp(prefix="transitions-"))
    store = SQLiteTrialStore(folder / "scanfleet.db")

    def close() -> None:
        store.close()
        shutil.rmtree(folder, ignore_errors=True)

    return store, close


class SQLiteTransitions(StoreTransitions):
    make_store = staticmethod(_sqlite)


TestSQLiteTransitions = SQLiteTransitions.TestCase
TestSQLiteTransitions.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.fixture
def dynamodb_transitions(dynamodb_client: Any) -> type[StoreTransitions]:
    from scanfleet.store import DynamoDBTrialStore, create_table

    from tests.unit.store.conftest import TABLE

    def fresh() -> tuple[TrialStore, Callable[[], None]]:
        with contextlib.suppress(dynamodb_client.exceptions.ResourceNotFoundException):
            dynamodb_client.delete_table(TableName=TABLE)
        create_table(dynamodb_client, TABLE)
        return DynamoDBTrialStore(TABLE, client=dynamodb_client, page_size=2), lambda: None

    class DynamoDBTransitions(StoreTransitions):
        make_store = staticmethod(fresh)

    return DynamoDBTransitions


def test_dynamodb_transitions(dynamodb_transitions: type[StoreTransitions]) -> None:
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(
        dynamodb_transitions,
        settings=settings(
            max_examples=4,  # moto copies the table on every transaction: ~1 s an example
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
