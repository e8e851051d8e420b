from __future__ import annotations

import re
import sys

import pytest
from scanfleet.config import load_config
from scanfleet.runtime.current import parse_flags
from scanfleet.runtime.supervisor import build_command, metric_from_line

BASE = {"strategy": "grid", "metric": {"name": "loss"}, "parameters": {"a": {"values": [1]}}}


def test_params_become_flags_and_python_is_this_interpreter() -> None:
    config = load_config({**BASE, "command": "python train.py --fixed 1"})
    argv = build_command(config, {"lr": 0.001, "act": "relu", "deep": True, "sizes": [1, 2]})
    assert argv == [sys.executable, "train.py", "--fixed", "1", "--lr=0.001", "--act=relu",
                    "--deep=true", "--sizes=[1, 2]"]  # fmt: skip


def test_a_script_runs_under_python_and_nothing_to_run_is_an_error() -> None:
    assert build_command(load_config({**BASE, "script": "t.py"}), {"a": 1})[1:] == [
        "t.py",
        "--a=1",
    ]
    with pytest.raises(ValueError, match="neither"):
        build_command(load_config(BASE), {"a": 1})


@pytest.mark.parametrize(
    "pattern, line, value",
    [
        (r"val_loss=([-+0-9.eE]+)", "epoch 3 val_loss=0.125 acc=0.9", 0.125),
        (r"val_loss=([-+0-9.eE]+)", "a val_loss=1 then val_loss=2e-3", 0.002),
        (r"loss: \S+", "loss: 0.5", 0.5),
        (r"val_loss=([-+0-9.eE]+)", "no metric here", None),
    ],
)
def test_the_metric_is_the_last_match_of_the_regex(
    pattern: str, line: str, value: float | None
) -> None:
    assert metric_from_line(re.compile(pattern), line) == value


def test_flags_parse_back_into_params() -> None:
    assert parse_flags(["--lr=0.001", "--act=relu", "--deep=true", "-v", "--n=3"]) == {
        "lr": 0.001,
        "act": "relu",
        "deep": True,
        "n": 3,
    }
