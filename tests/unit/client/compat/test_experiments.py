"""How an Oscar experiment dict and a Schedy experiment become scan configs."""

from __future__ import annotations

import pytest
from scanfleet.client.compat.oscar import experiment_config
from scanfleet.client.compat.schedy import Experiment, RandomSearch
from scanfleet.config import ConfigError, load_config


def test_an_oscar_experiment_is_an_optuna_scan_minimising_loss() -> None:
    name, config, resume = experiment_config(
        {"name": "Square", "parameters": {"x": {"min": -10, "max": 10}}}
    )
    assert (name, resume) == ("Square", True)
    scan = load_config(config)
    assert scan.strategy.value == "optuna" and scan.execution.type.value == "manual"
    assert (scan.metric.name, scan.metric.goal.value) == ("loss", "minimize")
    assert scan.parameters["x"].model_dump()["distribution"] == "uniform"


def test_oscar_options_and_scan_keys_are_kept() -> None:
    _, config, resume = experiment_config(
        {
            "name": "Square",
            "description": "simple",
            "parameters": {"x": {"values": [1, 2]}},
            "resume": False,
            "max_run": 7,
            "tags": {"team": "vision"},
        }
    )
    assert resume is False and config["max_run"] == 7
    assert config["tags"] == {"team": "vision", "description": "simple"}


def test_an_invalid_oscar_experiment_names_every_field() -> None:
    with pytest.raises(ConfigError) as bad:
        experiment_config({"name": "", "description": 3})
    assert {p.path for p in bad.value.problems} == {"name", "parameters", "description"}
    with pytest.raises(ConfigError) as space:
        experiment_config({"name": "S", "parameters": {"x": {"min": 1}}})
    assert space.value.problems[0].path.startswith("parameters.x")
    with pytest.raises(ConfigError):
        experiment_config(["not", "a", "dict"])  # type: ignore[arg-type]


def test_schedy_experiments_are_queue_or_random_scans() -> None:
    manual = load_config(Experiment("M").scan_config())
    assert manual.strategy.value == "queue" and manual.parameters == {}
    space = {"lr": {"distribution": "log_uniform", "min": 1e-5, "max": 1e-1}}
    random = load_config(RandomSearch("R", space, result_name="acc", objective="max").scan_config())
    assert random.strategy.value == "random" and random.metric.goal.value == "maximize"
    assert random.metric.name == "acc" and list(random.parameters) == ["lr"]
    with pytest.raises(ValueError, match="status must be RUNNING or DONE"):
        Experiment("M", status="PAUSED")
    with pytest.raises(ValueError, match="objective must be"):
        Experiment("M", objective="up")
    with pytest.raises(RuntimeError, match="not in a database"):
        Experiment("M").next_job()
