"""Pruning reads a trial's own data (issue 12 item 6): a report's decision comes from the
trial's own curve and the scan's pruning inputs the process keeps (caught up from the
trials changed since), and equals the decision of the full read it replaced (kept below
as the reference: Optuna's pruner over a study rebuilt from every stored trial and
curve), over random sequences of claims, reports (out of order, repeated, NaN),
completes, prunes, failures and re-queues, from two API processes on one store, for the
median, successive-halving and Hyperband pruners, minimizing and maximizing."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from optuna.pruners._successive_halving import _completed_rung_key
from scanfleet.config import ScanConfig
from scanfleet.errors import ScanFinishedError, TrialFinishedError
from scanfleet.records import PruneDecision, TrialRecord, TrialState
from scanfleet.search._optuna import build_study
from scanfleet.search._pruning import make_pruner
from scanfleet.service import ScanService
from scanfleet.store import SQLiteTrialStore, TrialStore

OWNER = "alice"
PRUNERS: dict[str, dict[str, Any]] = {
    "median": {"median": {"n_startup_trials": 2, "n_warmup_steps": 1, "interval_steps": 1}},
    "median-interval": {
        "median": {"n_startup_trials": 1, "n_warmup_steps": 0, "interval_steps": 3}
    },
    "halving": {"successive_halving": {"min_iter": 1, "reduction_factor": 2}},
    "hyperband": {"hyperband": {"min_iter": 1, "max_iter": 16, "reduction_factor": 2}},
}
OPS = ("claim", "report", "report", "report", "report", "complete", "prune", "fail", "requeue")


# ---- the reference: the full-read decision that report made before -----------------------


def reference_decision(
    config: ScanConfig,
    trials: Sequence[TrialRecord],
    intermediate: Mapping[str, Mapping[int, float]],
    trial_id: str,
    step: int,
) -> PruneDecision:
    """Prune or continue ``trial_id`` at ``step``: every trial and curve of the scan."""
    pruner, kind = make_pruner(config)
    ordered = sorted(trials, key=lambda t: t.number)
    index = next((i for i, t in enumerate(ordered) if t.trial_id == trial_id), None)
    curve = intermediate.get(trial_id, {})
    if index is None or step not in curve:
        return PruneDecision(step=step, prune=False, reason="no value reported at this step")
    rungs = _rung_attrs(pruner, intermediate, trial_id, step) if kind != "median" else {}
    study = build_study(config, ordered, intermediate, pruner=pruner, system_attrs=rungs)
    current = study.get_trials(deepcopy=False)[index]
    prune = pruner.prune(study, current)
    value = curve[step]
    return PruneDecision(
        step=step, prune=prune, reason=_reason(kind, prune, value, step, study, index)
    )


def _rung_attrs(
    pruner: optuna.pruners.BasePruner,
    intermediate: Mapping[str, Mapping[int, float]],
    trial_id: str,
    step: int,
) -> dict[str, dict[str, Any]]:
    min_resource = getattr(pruner, "_min_resource", None)
    factor = getattr(pruner, "_reduction_factor", None)
    if not isinstance(min_resource, int) or not isinstance(factor, int):
        return {}
    attrs: dict[str, dict[str, Any]] = {}
    for tid, curve in intermediate.items():
        steps = sorted(s for s in curve if tid != trial_id or s < step)
        rung = 0
        while True:
            promotion = min_resource * factor**rung
            reached = next((s for s in steps if s >= promotion), None)
            if reached is None:
                break
            attrs.setdefault(tid, {})[_completed_rung_key(rung)] = curve[reached]
            rung += 1
    return attrs


def _reason(
    kind: str, prune: bool, value: float, step: int, study: optuna.Study, index: int
) -> str:
    verdict = "prune" if prune else "continue"
    if kind == "median":
        peers = [
            t.intermediate_values[step]
            for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            if step in t.intermediate_values
        ]
        if peers:
            peers.sort()
            median = peers[len(peers) // 2]
            return (
                f"median: {value:.6g} at step {step} vs median {median:.6g}"
                f" of {len(peers)} finished trials: {verdict}"
            )
        return f"median: no finished trial reported step {step} yet: {verdict}"
    return f"{kind}: {value:.6g} at step {step}: {verdict}"


# ---- the comparison ------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


def config_of(pruner: str, goal: str) -> dict[str, Any]:
    return {
        "strategy": "random",
        "metric": {"name": "loss", "goal": goal},
        "max_run": 40,
        "optuna": {"seed": 3},
        "parameters": {"x": {"distribution": "uniform", "min": -5, "max": 5}},
        "early_stopping": PRUNERS[pruner],
    }


def report_and_compare(
    service: ScanService, store: TrialStore, trial: TrialRecord, step: int, value: float
) -> PruneDecision:
    decision = service.report(trial.trial_id, "loss", step, value, owner=OWNER)
    scan = store.get_scan(trial.scan_id)
    config = ScanConfig.model_validate(scan.config)
    expected = reference_decision(
        config,
        store.list_trials(scan.scan_id),
        store.intermediate_values(scan.scan_id, "loss"),
        trial.trial_id,
        step,
    )
    assert decision == expected
    return decision


def act(service: ScanService, store: TrialStore, op: str, pick: int, value: float) -> None:
    scan_id = store.list_scans(OWNER)[0].scan_id
    running = store.list_trials(scan_id, states=frozenset({TrialState.RUNNING}))
    if op == "claim" or not running:
        service.claim_next_trial(scan_id, f"w{pick}", owner=OWNER)
        return
    trial = running[pick % len(running)]
    last = trial.last_step if trial.last_step is not None else -1
    if op == "report":
        step = last + 1 + pick % 3 if pick % 5 else max(last - pick % 4, 0)  # out of order too
        report_and_compare(service, store, trial, step, value)
    elif op == "complete":
        service.complete(trial.trial_id, value if value == value else 1.0, owner=OWNER)
    elif op == "prune":
        service.prune(trial.trial_id, owner=OWNER)
    elif op == "fail":
        service.fail(trial.trial_id, "boom", owner=OWNER, retry=False)
    else:  # the worker was preempted: it comes back and reports its steps again
        service.fail(trial.trial_id, "spot", owner=OWNER, preempted=True)


values = st.one_of(
    st.floats(-10, 10, allow_nan=False, width=32),
    st.sampled_from([0.5, 1.0, 2.0]),  # ties
    st.just(float("nan")),
)


@pytest.mark.parametrize("goal", ["minimize", "maximize"])
@pytest.mark.parametrize("pruner", sorted(PRUNERS))
def test_a_report_decides_as_the_full_read_did(pruner: str, goal: str) -> None:
    @settings(
        max_examples=10,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        derandomize=True,
    )
    @given(
        ops=st.lists(
            st.tuples(st.sampled_from(OPS), st.integers(0, 40), values, st.booleans()),
            min_size=10,
            max_size=60,
        )
    )
    def run(ops: list[tuple[str, int, float, bool]]) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            clock = Clock()
            path = Path(tmp) / "scanfleet.db"
            store = SQLiteTrialStore(path)
            one = ScanService(store, now=clock)
            other = ScanService(SQLiteTrialStore(path), now=clock)  # a second API process
            one.create_scan("prune", config_of(pruner, goal), owner=OWNER)
            for op, pick, value, by_other in ops:
                with contextlib.suppress(ScanFinishedError, TrialFinishedError):
                    act(other if by_other else one, store, op, pick, value)

    run()


def test_many_finished_trials_then_a_report_prunes_as_the_full_read(tmp_path: Path) -> None:
    """A process whose first report comes late reads the finished curves once (the whole
    scan's, over READ_WHOLE_SCAN_OVER trials), then decides as the full read."""
    clock = Clock()
    store = SQLiteTrialStore(tmp_path / "scanfleet.db")
    writer = ScanService(store, now=clock)
    scan, _ = writer.create_scan("late", config_of("median", "minimize"), owner=OWNER)
    for n in range(25):
        trial = writer.claim_next_trial(scan.scan_id, "w", owner=OWNER)
        assert trial is not None
        for step in range(4):
            store.record_intermediate(trial.trial_id, "loss", step, n + step / 10)
        writer.complete(trial.trial_id, float(n), owner=OWNER)
    late = ScanService(store, now=clock)  # a fresh process: nothing kept yet
    bad = late.claim_next_trial(scan.scan_id, "w", owner=OWNER)
    assert bad is not None
    report_and_compare(late, store, bad, 0, 50.0)
    decision = report_and_compare(late, store, bad, 1, 99.0)
    assert decision.prune
    assert "of 25 finished trials" in decision.reason
