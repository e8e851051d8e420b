"""Samplers a remote scan cannot run (the Lambda layer has no cmaes, scipy or torch) are
refused at validation, naming the field and the samplers that work; other execution types
and strategies keep them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from scanfleet.config import ConfigError, load_config

CLOUD_SAMPLERS = ("tpe", "random", "nsga2")


def optuna_scan(sampler: str, execution: str = "remote") -> dict[str, Any]:
    return {
        "strategy": "optuna",
        "command": "python train.py",
        "metric": {"name": "loss"},
        "execution": {"type": execution, "max_worker": 2},
        "optuna": {"sampler": sampler},
        "parameters": {"lr": {"distribution": "log_uniform", "min": 1e-4, "max": 1e-1}},
    }


@pytest.mark.parametrize("sampler", ["cmaes", "qmc", "gp"])
def test_a_remote_scan_refuses_a_sampler_the_cloud_cannot_run(sampler: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(optuna_scan(sampler))
    (problem,) = raised.value.problems
    assert problem.path == "optuna.sampler"
    assert f"'{sampler}' cannot choose the trials of a remote scan" in problem.message
    assert "use tpe, random, nsga2" in problem.message


@pytest.mark.parametrize("sampler", CLOUD_SAMPLERS)
def test_a_remote_scan_takes_the_samplers_the_cloud_runs(sampler: str) -> None:
    assert load_config(optuna_scan(sampler)).optuna.sampler == sampler


@pytest.mark.parametrize("execution", ["agents", "manual"])
def test_other_execution_types_keep_every_sampler(execution: str) -> None:
    assert load_config(optuna_scan("cmaes", execution)).optuna.sampler == "cmaes"


def test_validate_says_why_and_what_to_use_instead(tmp_path: Path) -> None:
    import yaml

    path = tmp_path / "scan.yaml"
    path.write_text(yaml.safe_dump(optuna_scan("gp")))
    done = subprocess.run(
        [sys.executable, "-m", "scanfleet.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "optuna.sampler" in done.stderr and "no torch and scipy" in done.stderr
    assert "use tpe, random, nsga2" in done.stderr
    assert "Traceback" not in done.stderr
