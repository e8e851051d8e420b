"""The live study (issue 15 item 1): a claim of an Optuna scan catches the scan's cached
study up with the trials changed since the last claim instead of rebuilding it, and its
suggestion is exactly a full rebuild's, over any sequence of claims, completes, prunes,
fails and re-queues, from two API processes on one store; the constant liar still sees
every running trial."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scanfleet.errors import ScanFinishedError
from scanfleet.records import ScanRecord, TrialState
from scanfleet.service import ScanService
from scanfleet.service._results import TAG_SEED_OF
from scanfleet.store import SQLiteTrialStore

OWNER = "alice"
CONFIG: dict[str, Any] = {
    "strategy": "optuna",
    "metric": {"name": "loss", "goal": "minimize"},
    "max_run": 60,
    "optuna": {"seed": 3, "n_startup_trials": 2, "constant_liar": True},
    "parameters": {
        "x": {"distribution": "uniform", "min": -5, "max": 5},
        "n": {"distribution": "int_uniform", "min": 1, "max": 8},
        "act": {"values": ["relu", "gelu", "tanh"]},
    },
}
OPS = ("claim", "claim", "complete", "complete", "prune", "fail", "requeue", "add", "seed")


class Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


def compare(service: ScanService, scan_id: str, retry: int) -> None:
    """The claim path's suggestion (live study, caught up) against a full rebuild's."""
    scan = service.store.get_scan(scan_id)
    strategy = service.context.strategy(scan)
    dispatch = service.dispatch
    live = dispatch._suggest(scan, strategy, retry)
    full = strategy.suggest(scan, dispatch._history(scan, strategy), retry=retry)
    assert live == full
    assert_liar_sees_every_running_trial(service, scan)


def assert_liar_sees_every_running_trial(service: ScanService, scan: ScanRecord) -> None:
    study = service.context.live_studies[scan.scan_id].study
    running = [t.params for t in study.trials() if t.state.name == "RUNNING"]
    unfinished = [
        t.params
        for t in service.store.list_trials(scan.scan_id)
        if t.state in (TrialState.QUEUED, TrialState.RUNNING) and TAG_SEED_OF not in t.tags
    ]
    assert running == unfinished


def act(service: ScanService, scan_id: str, op: str, pick: int, value: float) -> None:
    trials = service.store.list_trials(scan_id)
    running = [t for t in trials if t.state is TrialState.RUNNING]
    finished = [t for t in trials if t.state.is_finished()]
    if op == "claim":
        service.claim_next_trial(scan_id, f"w{pick}", owner=OWNER)
    elif op == "add":
        service.add_trial(scan_id, {"x": value / 2, "n": 1 + pick % 8, "act": "relu"}, owner=OWNER)
    elif op == "seed" and len(finished) > 1:  # a trial leaves the study: rebuilt
        seed_of = finished[(pick + 1) % len(finished)].trial_id
        service.store.set_trial_tags(
            finished[pick % len(finished)].trial_id, {TAG_SEED_OF: seed_of}
        )
    elif running and op != "seed":
        trial = running[pick % len(running)]
        if op == "complete":
            service.complete(trial.trial_id, value, owner=OWNER)
        elif op == "prune":
            if pick % 2:  # a pruned trial's value is its last report
                service.report(trial.trial_id, "loss", 1, value, owner=OWNER)
            service.prune(trial.trial_id, owner=OWNER)
        elif op == "fail":
            service.fail(trial.trial_id, "boom", owner=OWNER, retry=False)
        else:  # requeue: the worker was preempted
            service.fail(trial.trial_id, "spot", owner=OWNER, preempted=True)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(OPS),
            st.integers(0, 40),
            st.floats(-10, 10, allow_nan=False, width=32),
            st.booleans(),
        ),
        min_size=4,
        max_size=14,
    )
)
def test_a_caught_up_study_suggests_what_a_full_rebuild_does(
    ops: list[tuple[str, int, float, bool]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        clock = Clock()
        path = Path(tmp) / "scanfleet.db"
        one = ScanService(SQLiteTrialStore(path), now=clock)
        other = ScanService(SQLiteTrialStore(path), now=clock)  # a second API process
        scan, _ = one.create_scan("live", CONFIG, owner=OWNER)
        for step, (op, pick, value, by_other) in enumerate(ops):
            service = other if by_other else one
            with contextlib.suppress(ScanFinishedError):
                act(service, scan.scan_id, op, pick, value)
            compare(one if step % 2 else other, scan.scan_id, retry=step % 3)


def test_a_warm_claim_reads_only_the_trials_changed_since_the_last(tmp_path: Path) -> None:
    service = ScanService(SQLiteTrialStore(tmp_path / "scanfleet.db"), now=Clock())
    scan, _ = service.create_scan("live", CONFIG, owner=OWNER)
    for i in range(6):
        trial = service.claim_next_trial(scan.scan_id, f"w{i}", owner=OWNER)
        assert trial is not None
        service.complete(trial.trial_id, float(i), owner=OWNER)
    entry = service.context.live_studies[scan.scan_id]
    study, seq = entry.study, entry.seq
    assert seq is not None
    changed = service.store.trials_changed_since(scan.scan_id, seq).trials
    assert len(changed) == 1  # the 6th trial (created and completed since), not all 6
    service.claim_next_trial(scan.scan_id, "w", owner=OWNER)
    assert entry.study is study  # caught up, not rebuilt
    assert len(study.trials()) == 6  # the one claimed now joins at the next claim
    assert entry.seq == seq + 2  # the 6th trial's creation and completion


@pytest.mark.parametrize(
    ("sampler", "needs"),
    [("random", None), ("nsga2", None), ("cmaes", "cmaes"), ("qmc", "scipy")],
)
def test_every_sampler_suggests_on_the_live_study_what_it_does_on_a_rebuild(
    tmp_path: Path, sampler: str, needs: str | None
) -> None:
    if needs:
        pytest.importorskip(needs)
    config = {
        **CONFIG,
        "parameters": {k: v for k, v in CONFIG["parameters"].items() if k != "act"},
        "optuna": {"seed": 5, "sampler": sampler, "n_startup_trials": 2, "population_size": 3},
    }
    service = ScanService(SQLiteTrialStore(tmp_path / "scanfleet.db"), now=Clock())
    scan, _ = service.create_scan("live", config, owner=OWNER)
    for step in range(10):
        trial = service.claim_next_trial(scan.scan_id, f"w{step}", owner=OWNER)
        assert trial is not None
        if step % 3 == 2:
            service.fail(trial.trial_id, "boom", owner=OWNER, retry=False)
        elif step % 3 == 0:
            service.complete(trial.trial_id, float(step % 4), owner=OWNER)
        compare(service, scan.scan_id, retry=step % 2)
