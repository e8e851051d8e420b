"""Run inputs end to end against the real local server: the script uploaded with the scan
is the one trials run (not the file edited since), requirements installed offline once
per worker, a dataset and a base model every trial finds (environment and current_trial)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from scanfleet.client import Client
from scanfleet.records import TrialState
from scanfleet.runtime.agent import Agent

from tests.unit.runtime.tiny_wheel import build_wheel

TRAIN = """
import json, scanfleet, tinypkg
trial = scanfleet.current_trial()
offset = json.loads((trial.dataset / "offset.json").read_text())["offset"]
scale = float(trial.base_model.read_text())
trial.report("loss", trial.params["x"] * tinypkg.VALUE * scale + offset, step=1)
"""


def test_trials_run_the_uploaded_script_with_requirements_and_artifacts(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_wheel(tmp_path / "wheels", value=10)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "wheels"))
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "offset.json").write_text(json.dumps({"offset": 0.5}))
    (project / "model.txt").write_text("2")
    (project / "train.py").write_text(TRAIN)
    (project / "requirements.txt").write_text("tinypkg==1.0\n")
    (project / "scan.yaml").write_text(
        "script: train.py\nrequirements: requirements.txt\n"
        f"dataset: {project / 'data'}\nbase_model: {project / 'model.txt'}\n"
        "strategy: grid\nmetric: {name: loss}\nparameters: {x: {values: [1, 2]}}\n"
    )
    scan = client.create_scan("inputs", project / "scan.yaml")

    stored = Path(scan.config.script.removeprefix("file://"))  # type: ignore[union-attr]
    assert stored.read_text() == TRAIN and stored.is_relative_to(tmp_path / "state" / "inputs")
    (project / "train.py").write_text("raise SystemExit('the local file must not run')\n")
    assert scan.config.requirement_specs() == ["tinypkg==1.0"]

    agent = Agent(client, scan.id, logs_dir=tmp_path / "logs", workdir=project)
    agent.poll_interval = 0.05
    worker = threading.Thread(target=agent.run)  # not the main thread: no signal handlers
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive()

    trials = {t.params["x"]: t for t in client.get_scan(scan.id).trials()}
    assert {x: t.state for x, t in trials.items()} == {
        1: TrialState.COMPLETED,
        2: TrialState.COMPLETED,
    }
    assert trials[1].values == {"loss": 20.5} and trials[2].values == {"loss": 40.5}
    assert len(list((tmp_path / ".inputs-cache" / "requirements").glob("*.lock"))) == 1

    client.get_scan(scan.id).delete()
    assert not stored.exists()
