"""The Pareto front against the definition (no other trial at least as good on every
metric and better on one), on small integer values so ties and duplicates are common."""

from __future__ import annotations

import random

import pytest
from scanfleet.config import load_config
from scanfleet.records import TrialRecord, TrialState
from scanfleet.service._results import TAG_SEED_OF, pareto_front


@pytest.mark.parametrize("goals", [["minimize"], ["maximize", "minimize"],
                                   ["minimize", "maximize", "minimize"]])  # fmt: skip
def test_the_front_is_exactly_the_undominated_trials(goals: list[str]) -> None:
    metrics = [{"name": f"m{i}", "goal": g} for i, g in enumerate(goals)]
    config = load_config({"strategy": "optuna", "parameters": {"x": {"min": 0, "max": 1}},
                          "metrics": metrics})  # fmt: skip
    signs = [1 if g == "minimize" else -1 for g in goals]
    for case in range(200):
        rng = random.Random(case)
        trials = [
            TrialRecord(scan_id="s", trial_id=f"s-{i}", number=i, params={},
                        state=TrialState.COMPLETED,
                        values={f"m{j}": float(rng.randint(0, 4)) for j in range(len(goals))})
            for i in range(rng.randint(1, 25))
        ]  # fmt: skip

        def point(t: TrialRecord) -> list[float]:
            return [s * t.values[f"m{j}"] for j, s in enumerate(signs)]

        def dominates(a: list[float], b: list[float]) -> bool:
            return all(x <= y for x, y in zip(a, b, strict=True)) and a != b

        expected = [t for t in trials if not any(dominates(point(o), point(t)) for o in trials)]
        assert pareto_front(trials, config) == expected


def test_seed_runs_and_trials_missing_a_metric_stay_off_the_front() -> None:
    config = load_config({"strategy": "optuna", "parameters": {"x": {"min": 0, "max": 1}},
                          "metrics": [{"name": "a"}, {"name": "b"}]})  # fmt: skip
    best = TrialRecord(scan_id="s", trial_id="s-0", number=0, params={},
                       values={"a": 1.0, "b": 1.0})  # fmt: skip
    seed = best.model_copy(update={"trial_id": "s-1", "number": 1, "values": {"a": 0.0, "b": 0.0},
                                   "tags": {TAG_SEED_OF: "s-0"}})  # fmt: skip
    partial = best.model_copy(update={"trial_id": "s-2", "number": 2, "values": {"a": 0.0}})
    assert pareto_front([best, seed, partial], config) == [best]
