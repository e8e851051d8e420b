"""LiveStudy: told the trials as they change, it holds what ``build_study`` makes of the
final trials (same trials, numbers, states, values, best trial), with one metric or two."""

from __future__ import annotations

from typing import Any

import optuna
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scanfleet.config import load_config
from scanfleet.records import TrialRecord, TrialState, trial_id_for
from scanfleet.search import LiveStudy, build_study

ONE: dict[str, Any] = {
    "strategy": "optuna",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"x": {"distribution": "uniform", "min": 0, "max": 1}},
}
TWO: dict[str, Any] = {
    **ONE,
    "metrics": [{"name": "loss", "goal": "minimize"}, {"name": "acc", "goal": "maximize"}],
}
FINISHED = (TrialState.COMPLETED, TrialState.PRUNED, TrialState.FAILED)


def a_trial(i: int, state: TrialState, value: float) -> TrialRecord:
    params = {"x": i / 100}
    values = {"loss": value, "acc": -value} if state is not TrialState.FAILED else {}
    return TrialRecord(
        scan_id="sc",
        trial_id=trial_id_for("sc", params),
        number=i,
        params=params,
        state=state,
        values=values if state.is_finished() else {},
    )


def summary(trials: list[optuna.trial.FrozenTrial]) -> list[tuple[Any, ...]]:
    return [(t.number, t.state, t.params, t.values) for t in trials]


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    two=st.booleans(),
    steps=st.lists(
        st.tuples(st.integers(0, 11), st.sampled_from(FINISHED), st.sampled_from([1.0, 2.0, 3.0])),
        min_size=1,
        max_size=20,
    ),
    batch=st.integers(1, 4),
)
@example(  # a tie: the earlier trial completes last, and is the best trial
    two=False,
    steps=[(i, TrialState.COMPLETED, 1.0) for i in (0, 1, 1, 0)],
    batch=1,
).via("a tie for the best value")
def test_a_live_study_told_the_changes_is_the_full_rebuild(
    two: bool, steps: list[tuple[int, TrialState, float]], batch: int
) -> None:
    config = load_config(TWO if two else ONE)
    store: dict[int, TrialRecord] = {}
    live = LiveStudy(config, [], include=lambda t: True)
    changed: list[TrialRecord] = []
    for count, (i, state, value) in enumerate(steps):
        number = min(i, len(store))  # a new trial takes the next number
        current = store.get(number)
        if current is None:
            store[number] = a_trial(number, TrialState.RUNNING, 0)
        elif not current.state.is_finished():  # finished trials never change
            store[number] = a_trial(number, state, value)
        changed.append(store[number])
        if count % batch == 0:  # a catch-up sees each trial's state as it is now
            latest = {t.trial_id: store[t.number] for t in changed}
            assert live.apply(sorted(latest.values(), key=lambda t: t.number))
            changed = []
    assert live.apply([store[n] for n in sorted(store)])
    full = build_study(config, [store[n] for n in sorted(store)])
    assert summary(live.trials()) == summary(full.get_trials(deepcopy=False))
    complete = [t for t in full.get_trials() if t.state is optuna.trial.TrialState.COMPLETE]
    if complete and not two:
        assert live._study.best_trial.number == full.best_trial.number
    if complete and two:
        ours = live._study._storage._studies[0].best_trial_id  # type: ignore[attr-defined]
        assert ours == full._storage._studies[0].best_trial_id  # type: ignore[attr-defined]


def test_a_trial_leaving_the_study_asks_for_a_rebuild() -> None:
    config = load_config(ONE)
    live = LiveStudy(config, [], include=lambda t: "seed_of" not in t.tags)
    trial = a_trial(0, TrialState.COMPLETED, 1.0)
    assert live.apply([trial])
    assert not live.apply([trial.model_copy(update={"tags": {"seed_of": "other"}})])


def test_a_new_trial_out_of_order_asks_for_a_rebuild() -> None:
    live = LiveStudy(load_config(ONE), [], include=lambda t: True)
    assert live.apply([a_trial(3, TrialState.RUNNING, 0)])
    assert not live.apply([a_trial(2, TrialState.RUNNING, 0)])


def test_asking_leaves_the_study_as_it_was() -> None:
    config = load_config(ONE)
    live = LiveStudy(config, [], include=lambda t: True)
    live.apply([a_trial(i, TrialState.COMPLETED, float(i)) for i in range(5)])
    before = summary(live.trials())
    for seed in range(3):
        params, _ = live.ask(optuna.samplers.TPESampler(seed=seed, n_startup_trials=2))
        assert 0 <= params["x"] <= 1
    assert summary(live.trials()) == before
    assert live.apply([a_trial(5, TrialState.RUNNING, 0)])
    assert [t.number for t in live.trials()] == list(range(6))
