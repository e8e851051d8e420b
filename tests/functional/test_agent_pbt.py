"""An agent running population-based training against the real local server: each
member's script is told, through ``current_trial().stop_step``, the step its lineage
trains to, and a non-PBT trial is told nothing."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from scanfleet.client import Client
from scanfleet.records import TrialState
from scanfleet.runtime.agent import Agent

TRAIN = """
import json, os, pathlib, scanfleet
trial = scanfleet.current_trial()
out = pathlib.Path(os.environ["STOP_STEPS_DIR"]) / f"{trial.id}.json"
out.write_text(json.dumps({"stop_step": trial.stop_step}))
trial.report("loss", trial.params["lr"], step=trial.stop_step or 1)
"""


def run_agent(client: Client, scan_id: str, project: Path) -> None:
    agent = Agent(client, scan_id, logs_dir=project / "logs", workdir=project)
    agent.poll_interval = 0.05
    agent.extra_env = {"STOP_STEPS_DIR": str(project / "out")}
    worker = threading.Thread(target=agent.run)  # not the main thread: no signal handlers
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive()


def test_each_member_is_told_the_stop_step_of_its_lineage(client: Client, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "train.py").write_text(TRAIN)
    pbt = client.create_scan("pbt", {
        "strategy": "pbt", "command": "python train.py", "metric": {"name": "loss"},
        "parameters": {"lr": {"distribution": "log_uniform", "min": 0.01, "max": 1.0}},
        "pbt": {"population_size": 2, "generation_steps": 3, "max_generations": 2, "seed": 1},
    })  # fmt: skip
    grid = client.create_scan("grid", {
        "strategy": "grid", "command": "python train.py", "metric": {"name": "loss"},
        "parameters": {"lr": {"values": [0.5]}},
    })  # fmt: skip
    run_agent(client, pbt.id, tmp_path)
    run_agent(client, grid.id, tmp_path)

    told = {p.stem: json.loads(p.read_text())["stop_step"] for p in (tmp_path / "out").iterdir()}
    trials = client.get_scan(pbt.id).trials()
    assert len(trials) == 4 and all(t.state is TrialState.COMPLETED for t in trials)
    for trial in trials:
        lineage = trial.record.lineage
        assert lineage is not None
        assert told[trial.id] == lineage.stop_step == 3 * (lineage.generation + 1)
    (grid_trial,) = client.get_scan(grid.id).trials()
    assert told[grid_trial.id] is None
