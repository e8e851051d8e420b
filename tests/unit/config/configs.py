"""Configs and an assertion shared by the config tests."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from scanfleet.config import ConfigError, ConfigProblem, load_config

# The example of Picsellia's scan documentation, as the dict it gives.
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


def picsellia_example() -> dict[str, Any]:
    return copy.deepcopy(PICSELLIA_EXAMPLE)


def optuna_config(**changes: Any) -> dict[str, Any]:
    """A small valid optuna config, with top-level keys replaced or added."""
    config: dict[str, Any] = {
        "strategy": "optuna",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"lr": {"distribution": "log_uniform", "min": 1e-5, "max": 1e-1}},
    }
    config.update(changes)
    return config


def with_parameter(spec: Any, strategy: str = "optuna") -> dict[str, Any]:
    """A valid config whose only parameter is ``p`` with ``spec``."""
    return optuna_config(strategy=strategy, parameters={"p": spec})


def rejected(config: Any, path: str, *fragments: str) -> ConfigError:
    """Load ``config``, expect a ConfigError with a problem at ``path`` whose message holds
    every fragment, and that the error's message names the path too."""
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    err = caught.value
    at_path: list[ConfigProblem] = [p for p in err.problems if p.path == path]
    assert at_path, f"no problem at {path!r}: {err.problems}"
    assert any(all(f in p.message for f in fragments) for p in at_path), at_path
    assert f"  - {path}: " in str(err), str(err)
    assert err.code == "invalid_config" and err.status == 400
    assert {"path": path, "message": at_path[0].message} in err.details
    return err
