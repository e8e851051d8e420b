"""``scanfleet worker`` started anywhere (README section 2): a command's script beside the
config travels with the scan, relative ``--logs``/``--workdir`` are taken from where the
command was typed, and a script that cannot be found says where it was looked for —
in the trial's failure reason and in the worker's last words."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from scanfleet.client import Client
from scanfleet.records import TrialState

SCANFLEET = [sys.executable, "-m", "scanfleet.cli"]

TRAIN = """
import scanfleet
trial = scanfleet.current_trial()
trial.report("loss", (trial.params["x"] - 1) ** 2, 0)
trial.complete((trial.params["x"] - 1) ** 2)
"""

CONFIG = (
    "command: python train.py\nstrategy: grid\nmetric: {name: loss}\n"
    "parameters: {x: {values: [0, 1, 2]}}\n"
)


def worker(api: list[str], scan: str, cwd: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SCANFLEET_POLL_INTERVAL": "0.05"}
    return subprocess.run(
        [*SCANFLEET, "worker", *api, "--scan", scan, *flags],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "examples" / "quickstart"
    folder.mkdir(parents=True)
    (folder / "train.py").write_text(TRAIN)
    (folder / "scan.yaml").write_text(CONFIG)
    return folder


def test_a_commands_script_beside_the_config_runs_from_any_folder(
    client: Client, api: list[str], project: Path, tmp_path: Path
) -> None:
    scan = client.create_scan("anywhere", project / "scan.yaml")
    assert scan.config.command == ["python", "train.py"]
    assert scan.config.script is not None and scan.config.script.startswith("file://")

    done = worker(api, "anywhere", tmp_path)  # the checkout's root, as the README has it

    assert done.returncode == 0, done.stderr
    states = {t.params["x"]: t.state for t in client.get_scan(scan.id).trials()}
    assert states == {0: TrialState.COMPLETED, 1: TrialState.COMPLETED, 2: TrialState.COMPLETED}
    assert len(list((tmp_path / "scanfleet-logs").glob("*.log"))) == 3


def test_relative_logs_and_workdir_are_taken_from_where_the_command_was_typed(
    client: Client, api: list[str], project: Path, tmp_path: Path
) -> None:
    scan = client.create_scan("typed-here", project / "scan.yaml")

    done = worker(api, scan.id, tmp_path, "--workdir", "examples/quickstart", "--logs", "out")

    assert done.returncode == 0, done.stderr
    assert {t.state for t in client.get_scan(scan.id).trials()} == {TrialState.COMPLETED}
    assert len(list((tmp_path / "out").glob("*.log"))) == 3
    assert not (project / "out").exists()


def test_a_missing_script_names_the_path_and_folder_and_the_worker_repeats_why_it_stopped(
    client: Client, api: list[str], tmp_path: Path
) -> None:
    config = {
        "command": "python trian.py",  # a typo: no such file anywhere
        "strategy": "random",
        "max_run": 10,
        "metric": {"name": "loss"},
        "parameters": {"x": {"min": 0, "max": 1}},
    }
    scan = client.create_scan("typo", config)

    done = worker(api, "typo", tmp_path)

    looked = (
        f"script not found: trian.py (looked for {tmp_path / 'trian.py'}, "
        f"from the worker's folder {tmp_path}; "
    )
    assert done.returncode != 0
    assert "5 trials in a row failed fast; stopping. The last reasons:" in done.stderr
    assert looked in done.stderr
    failed = client.get_scan(scan.id).trials(TrialState.FAILED)
    assert failed and all(looked in (t.record.failure_reason or "") for t in failed)
