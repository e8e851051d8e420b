"""The stateless rebuild: a study built from stored trials is what Optuna itself would
hold, and suggestions stay inside the space."""

from __future__ import annotations

from typing import Any

import optuna
from scanfleet.config import load_config
from scanfleet.records import ScanRecord, TrialRecord, TrialState, trial_id_for
from scanfleet.search import build_study, strategy_for

CONFIG: dict[str, Any] = {
    "strategy": "optuna",
    "metric": {"name": "loss", "goal": "minimize"},
    "optuna": {"seed": 4, "n_startup_trials": 3},
    "parameters": {
        "lr": {"distribution": "log_uniform", "min": 1e-5, "max": 1e-1},
        "layers": {"distribution": "int_uniform", "min": 1, "max": 9, "step": 2},
        "dropout": {"distribution": "discrete_uniform", "min": 0, "max": 0.5, "q": 0.1},
        "act": {"values": ["relu", "gelu"]},
        "seed": {"value": 7},
        "mix": {"distribution": "uniform", "min": -1, "max": 1},
    },
}


def stored(config: Any, n: int) -> list[TrialRecord]:
    states = [TrialState.COMPLETED, TrialState.PRUNED, TrialState.FAILED, TrialState.RUNNING]
    trials = []
    for i in range(n):
        params = {"lr": 1e-3 * (i + 1), "layers": 1 + 2 * (i % 5), "dropout": 0.1 * (i % 6),
                  "act": "relu", "seed": 7, "mix": -1 + i / n}  # fmt: skip
        state = states[i % 4]
        trials.append(
            TrialRecord(
                scan_id="sc1",
                trial_id=trial_id_for("sc1", params),
                number=i,
                params=params,
                state=state,
                values={"loss": float(i)} if state is TrialState.COMPLETED else {},
            )
        )
    return trials


def test_the_rebuilt_study_matches_what_add_trials_makes() -> None:
    config = load_config(CONFIG)
    trials = stored(config, 12)
    curves = {trials[1].trial_id: {1: 5.0, 2: 4.0}}
    rebuilt = build_study(config, trials, curves).get_trials(deepcopy=False)
    reference = optuna.create_study()
    reference.add_trials(build_study(config, trials, curves).get_trials())
    for ours, theirs in zip(rebuilt, reference.get_trials(), strict=True):
        assert (ours.number, ours.state, ours.params, ours.values) == (
            theirs.number,
            theirs.state,
            theirs.params,
            theirs.values,
        )
        assert ours.intermediate_values == theirs.intermediate_values
    states = [t.state for t in rebuilt]
    assert states[:4] == [
        optuna.trial.TrialState.COMPLETE,
        optuna.trial.TrialState.PRUNED,
        optuna.trial.TrialState.FAIL,
        optuna.trial.TrialState.RUNNING,
    ]
    assert rebuilt[1].values == [4.0]  # a pruned trial's value is its last report


def test_suggestions_stay_in_the_space_with_native_types() -> None:
    config = load_config(CONFIG)
    strategy = strategy_for(config)
    history = stored(config, 12)
    scan = ScanRecord(scan_id="sc1", name="s", config=CONFIG, max_run=100, trial_count=12)
    for retry in range(10):
        suggestion = strategy.suggest(scan, history, retry=retry)
        assert suggestion is not None
        p = suggestion.params
        assert 1e-5 <= p["lr"] <= 1e-1 and isinstance(p["lr"], float)
        assert p["layers"] in (1, 3, 5, 7, 9) and isinstance(p["layers"], int)
        assert round(p["dropout"] * 10, 6) == round(p["dropout"] * 10) and 0 <= p["dropout"] <= 0.5
        assert p["act"] in ("relu", "gelu") and p["seed"] == 7


def test_suggestions_are_reproducible_and_vary_with_the_trial_count() -> None:
    config = load_config(CONFIG)
    strategy = strategy_for(config)
    history = stored(config, 12)
    scan = ScanRecord(scan_id="sc1", name="s", config=CONFIG, max_run=100, trial_count=12)
    first = strategy.suggest(scan, history)
    again = strategy.suggest(scan, history)
    later = strategy.suggest(scan.model_copy(update={"trial_count": 13}), history)
    assert first == again
    assert later is not None and first is not None and later.params != first.params


def test_a_finite_space_is_exhausted_by_count() -> None:
    config = load_config({**CONFIG, "parameters": {"act": {"values": ["relu", "gelu"]}}})
    strategy = strategy_for(config)
    assert strategy.size() == 2
    scan = ScanRecord(scan_id="sc1", name="s", config=CONFIG, max_run=100, trial_count=2)
    assert strategy.suggest(scan, []) is None
