"""The scan config: Picsellia's document accepted; every invalid config rejected with one
ConfigError naming each problem's field path."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from scanfleet.config import (
    CategoricalParam,
    ConfigError,
    ConstantParam,
    ExecutionType,
    Goal,
    LogUniformParam,
    Strategy,
    load_config,
)
from scanfleet.search import GridStrategy

PICSELLIA_EXAMPLE: dict[str, Any] = {
    "script": "",
    "execution": {"type": "agents"},
    "strategy": "grid",
    "metric": {"name": "Loss-total_loss", "goal": "minimize"},
    "parameters": {
        "batch_size": {"values": [2, 4, 8]},
        "learning_rate": {"values": [1e-3, 1e-4, 1e-5]},
        "steps": {"value": 1000},
        "annotation_type": {"value": "rectangle"},
    },
    "base_model": "picsell/ssd-mobilenet-v2-640-fpnlite",
    "dataset": "SampleDataset/first",
}


def optuna_base(**changes: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "strategy": "optuna",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"lr": {"distribution": "log_uniform", "min": 1e-5, "max": 1e-1}},
    }
    config.update(changes)
    return config


def with_param(spec: dict[str, Any], strategy: str = "optuna") -> dict[str, Any]:
    return optuna_base(strategy=strategy, parameters={"p": spec})


def test_the_picsellia_example_gives_a_3x3_grid_with_the_constants_in_every_cell() -> None:
    config = load_config(copy.deepcopy(PICSELLIA_EXAMPLE))
    assert config.strategy is Strategy.GRID
    assert config.execution.type is ExecutionType.AGENTS
    assert config.max_run == 100
    assert config.metric.goal is Goal.MINIMIZE
    assert config.script is None  # '' means none
    grid = GridStrategy(config)
    cells = list(grid.iter_params())
    assert len(cells) == 9
    assert all(c["steps"] == 1000 and c["annotation_type"] == "rectangle" for c in cells)
    assert {(c["batch_size"], c["learning_rate"]) for c in cells} == {
        (b, lr) for b in (2, 4, 8) for lr in (1e-3, 1e-4, 1e-5)
    }


def test_short_forms_normalise_to_distributions() -> None:
    config = load_config(
        optuna_base(
            parameters={
                "a": {"value": 3},
                "b": {"values": ["relu", "elu"]},
                "c": {"distribution": "log_uniform", "min": 1e-5, "max": 1e-3},
                "d": {"min": 0, "max": 1},  # Oscar's form: uniform
            }
        )
    )
    params = config.parameters
    assert isinstance(params["a"], ConstantParam) and params["a"].value == 3
    assert isinstance(params["b"], CategoricalParam)
    assert isinstance(params["c"], LogUniformParam)
    assert params["d"].distribution == "uniform"


def test_yaml_json_text_and_files_load(tmp_path: Path) -> None:
    path = tmp_path / "scan.yaml"
    path.write_text("strategy: grid\nmetric: {name: loss}\nparameters: {a: {values: [1, 2]}}\n")
    assert load_config(path).strategy is Strategy.GRID
    json_path = tmp_path / "scan.json"
    json_path.write_text(json.dumps(PICSELLIA_EXAMPLE))
    assert load_config(json_path).metric.name == "Loss-total_loss"
    assert load_config(json.dumps(PICSELLIA_EXAMPLE)).dataset == "SampleDataset/first"


def test_requirements_accept_the_three_picsellia_forms() -> None:
    one = load_config(optuna_base(requirements={"package": "tensorflow", "version": "2.3.1"}))
    assert one.requirements and one.requirements[0].pip_spec() == "tensorflow==2.3.1"  # type: ignore[union-attr]
    strings = load_config(optuna_base(requirements=["torch==2.1", "numpy"]))
    assert [r.pip_spec() for r in strings.requirements] == ["torch==2.1", "numpy"]  # type: ignore[union-attr]
    path = load_config(optuna_base(requirements="path/to/requirements.txt"))
    assert path.requirements == "path/to/requirements.txt"


INVALID: list[tuple[str, dict[str, Any], str, str]] = [
    ("unknown strategy", optuna_base(strategy="bayes"), "strategy", "'grid'"),
    ("missing metric", {k: v for k, v in optuna_base().items() if k != "metric"}, "metric",
     "Field required"),
    ("bad goal", optuna_base(metric={"name": "loss", "goal": "lowest"}), "metric.goal",
     "'minimize' or 'maximize'"),
    ("distribution in a grid", with_param({"distribution": "uniform", "min": 0, "max": 1},
                                          strategy="grid"), "parameters.p", "grid"),
    ("min >= max", with_param({"distribution": "uniform", "min": 2, "max": 1}),
     "parameters.p", "less than max"),
    ("log_uniform min <= 0", with_param({"distribution": "log_uniform", "min": 0, "max": 1}),
     "parameters.p", "min > 0"),
    ("int_uniform float bounds", with_param({"distribution": "int_uniform", "min": 1.5,
                                             "max": 4}), "parameters.p", "integer"),
    ("int_uniform step <= 0", with_param({"distribution": "int_uniform", "min": 1, "max": 4,
                                          "step": 0}), "parameters.p.step", "greater than 0"),
    ("discrete_uniform without q", with_param({"distribution": "discrete_uniform", "min": 0,
                                               "max": 1}), "parameters.p.q", "required"),
    ("discrete_uniform q <= 0", with_param({"distribution": "discrete_uniform", "min": 0,
                                            "max": 1, "q": -0.1}), "parameters.p.q",
     "greater than 0"),
    ("value and values", with_param({"value": 1, "values": [1, 2]}), "parameters.p",
     "not both"),
    ("empty values", with_param({"values": []}), "parameters.p.values", "at least 1"),
    ("unknown distribution", with_param({"distribution": "gaussian"}), "parameters.p",
     "log_uniform"),
    ("max_run < 1", optuna_base(max_run=0), "max_run", "greater than or equal to 1"),
    ("max_worker < 1", optuna_base(execution={"type": "remote", "max_worker": 0,
                                             "lease_seconds": 5}, image="x"),
     "execution.max_worker", "greater than or equal to 1"),
    ("remote with nothing to run", optuna_base(execution={"type": "remote"}),
     "execution.type", "image"),
    ("hyperband min_iter > max_iter", optuna_base(early_stopping={"hyperband": {
        "min_iter": 10, "max_iter": 5, "reduction_factor": 3}}), "early_stopping.hyperband",
     "must not exceed max_iter"),
    ("hyperband reduction_factor < 2", optuna_base(early_stopping={"hyperband": {
        "min_iter": 1, "max_iter": 5, "reduction_factor": 1}}),
     "early_stopping.hyperband.reduction_factor", "greater than or equal to 2"),
    ("unknown top-level key", {**optuna_base(), "metrc": {}}, "metrc",
     "did you mean 'metric'?"),
    ("unknown nested key", optuna_base(execution={"type": "agents", "max_workers": 2}),
     "execution.max_workers", "did you mean 'max_worker'?"),
    ("unknown parameter key", with_param({"distribution": "int_uniform", "min": 1,
                                          "max": 9, "stepp": 2}), "parameters.p.stepp",
     "did you mean 'step'?"),
]  # fmt: skip


@pytest.mark.parametrize(
    "config, path, message", [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_configs_name_the_field_path(
    config: dict[str, Any], path: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    err = caught.value
    matching = [p for p in err.problems if p.path == path]
    assert matching, f"no problem at {path!r} in {err.problems}"
    assert any(message in p.message for p in matching), matching
    assert f"{path}: " in str(err)
    assert err.status == 400 and err.code == "invalid_config"


def test_every_problem_is_listed_at_once() -> None:
    config = {
        "strategy": "grd",
        "max_run": 0,
        "metric": {"name": "loss", "goal": "up"},
        "parameters": {"a": {"values": []}},
    }
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    paths = {p.path for p in caught.value.problems}
    assert {"strategy", "max_run", "metric.goal", "parameters.a.values"} <= paths


@pytest.mark.parametrize(
    "source, message",
    [
        ("strategy: [unclosed", "not valid YAML"),
        ("/no/such/scan.yaml", "no such config file"),
        ("- just\n- a list\n", "mapping"),
    ],
)
def test_unreadable_sources_give_a_config_error(source: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(source)
