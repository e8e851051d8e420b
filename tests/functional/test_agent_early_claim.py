"""The agent claims its next trial while it records the last outcome, where the next
suggestion cannot depend on it (issue 15 item 3), against the real local server."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest
from scanfleet.client import Client
from scanfleet.config import load_config
from scanfleet.records import TrialState
from scanfleet.runtime.agent import Agent
from scanfleet.runtime.early_claim import claim_may_overlap

SCRIPT = "import sys\nprint('loss=' + sys.argv[1].split('=')[1])\n"  # the regex completes it
BASE = {
    "command": "python train.py",
    "max_run": 6,
    "metric": {"name": "loss", "goal": "minimize", "regex": "loss=([-+0-9.eE]+)"},
    "parameters": {"x": {"distribution": "uniform", "min": 0, "max": 1}},
}


@pytest.mark.parametrize(
    ("changes", "overlaps"),
    [
        ({"strategy": "random"}, True),
        ({"strategy": "grid", "parameters": {"x": {"values": [1, 2]}}}, True),
        ({"strategy": "optuna"}, False),
        ({"strategy": "random", "completion": {"target": 0.1}}, False),
        ({"strategy": "random", "seeds": {"n": 3}}, False),
    ],
)
def test_only_outcome_free_strategies_claim_early(changes: dict, overlaps: bool) -> None:
    assert claim_may_overlap(load_config({**BASE, **changes})) is overlaps


def run_agent(agent: Agent) -> None:
    worker = threading.Thread(target=agent.run)  # not the main thread: no signal handlers
    worker.start()
    worker.join(timeout=90)
    assert not worker.is_alive()


def test_trials_settled_by_the_worker_each_run_once(client: Client, tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(SCRIPT)
    scan = client.create_scan("early", {**BASE, "strategy": "random"})
    agent = Agent(client, scan.id, logs_dir=tmp_path / "logs", workdir=tmp_path)
    agent.poll_interval = 0.05
    run_agent(agent)
    trials = [t.record for t in scan.trials()]
    assert Counter(t.state for t in trials) == Counter({TrialState.COMPLETED: 6})
    assert all(t.attempt == 1 for t in trials)
    assert all(t.values["loss"] == pytest.approx(t.params["x"]) for t in trials)


def test_a_worker_that_stops_gives_its_early_claim_back(client: Client, tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(SCRIPT)
    scan = client.create_scan("early-stop", {**BASE, "strategy": "random"})
    agent = Agent(client, scan.id, logs_dir=tmp_path / "logs", workdir=tmp_path)
    agent.poll_interval = 0.05
    (tmp_path / "train.py").write_text("raise SystemExit(3)\n")
    run_agent(agent)
    states = Counter(t.record.state for t in scan.trials())
    assert agent.trials_run == agent.flap_window  # failed fast each time: it stopped
    assert states[TrialState.RUNNING] == 0  # the trial claimed early is not held
