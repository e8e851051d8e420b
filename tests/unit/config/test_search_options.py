"""The config of the search features: several metrics, pbt, seeds, earlier scans,
completion criteria. Every mistake names its field path."""

from __future__ import annotations

from typing import Any

import pytest
from scanfleet.config import ConfigError, load_config

SPACE = {"x": {"min": 0, "max": 1}, "c": {"values": ["a", "b"]}, "k": {"value": 3}}


def config(**extra: Any) -> dict[str, Any]:
    return {"strategy": "optuna", "metric": {"name": "loss"}, "parameters": SPACE, **extra}


def problems(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        load_config(data)
    return {p.path: p.message for p in caught.value.problems}


def test_metrics_alone_make_the_first_one_the_metric() -> None:
    data = config(metrics=[{"name": "err"}, {"name": "fps", "goal": "maximize"}])
    del data["metric"]
    loaded = load_config(data)
    assert loaded.metric.name == "err" and loaded.multi_objective
    assert [(m.name, m.goal.value) for m in loaded.objectives()] == [
        ("err", "minimize"),
        ("fps", "maximize"),
    ]
    assert "metrics (Pareto front): err (minimize), fps (maximize)" in loaded.summary()


def test_several_metrics_refuse_what_cannot_take_them() -> None:
    found = problems(
        config(
            metric={"name": "other"},
            metrics=[{"name": "a"}, {"name": "a"}, {"name": "b"}],
            early_stopping={"median": {}},
            optuna={"sampler": "cmaes"},
        )
    )
    assert set(found) == {"metrics.1.name", "metric.name", "early_stopping", "optuna.sampler"}
    assert "tpe, nsga2, random" in found["optuna.sampler"]
    pbt = problems({**config(metrics=[{"name": "a"}, {"name": "b"}]), "strategy": "pbt"})
    assert "metrics" in pbt


def test_pbt_defaults_and_its_mistakes() -> None:
    loaded = load_config({**config(), "strategy": "pbt"})
    assert loaded.pbt is not None and loaded.pbt.population_size == 8
    found = problems(
        {**config(), "strategy": "pbt", "max_run": 10, "seeds": 3,
         "pbt": {"population_size": 4, "max_generations": 3, "truncation": 0.7,
                 "perturb_factors": [1.2, 0], "explore": {"c": "perturb", "k": "resample",
                                                         "xx": "perturb"}}}
    )  # fmt: skip
    assert set(found) >= {"pbt.truncation", "pbt.perturb_factors"}
    found = problems(
        {**config(), "strategy": "pbt", "max_run": 10, "seeds": 3,
         "pbt": {"population_size": 4, "max_generations": 3,
                 "explore": {"c": "perturb", "k": "resample", "xx": "perturb"}}}
    )  # fmt: skip
    assert set(found) == {"pbt.explore.c", "pbt.explore.k", "pbt.explore.xx", "max_run", "seeds"}
    assert "12" in found["max_run"] and "did you mean 'x'" in found["pbt.explore.xx"]
    assert problems(config(pbt={}))["pbt"] == "pbt settings need strategy pbt (got 'optuna')"


def test_seeds_earlier_scans_and_completion_options() -> None:
    loaded = load_config(
        config(seeds=5, reuse_from="sc1", warm_start_from=["sc2", "sc3"],
               completion={"max_wall_hours": 0.5, "max_gpu_hours": 12})
    )  # fmt: skip
    assert loaded.seeds is not None and (loaded.seeds.n, loaded.seeds.param) == (5, "seed")
    assert loaded.reuse_from == ["sc1"] and loaded.warm_start_from == ["sc2", "sc3"]
    text = loaded.summary()
    assert "seeds: the best parameters again with 5 values of 'seed'" in text
    assert "max_wall_hours 0.5" in text and "warm start from: sc2, sc3" in text
    found = problems(
        {**config(seeds={"n": 1}, completion={"max_gpu_hours": 0}), "strategy": "grid",
         "parameters": {"c": {"values": [1]}}, "warm_start_from": "sc1"}
    )  # fmt: skip
    assert set(found) == {"seeds.n", "completion.max_gpu_hours", "warm_start_from"}
