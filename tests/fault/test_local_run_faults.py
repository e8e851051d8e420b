"""The whole local run killed (SIGKILL: no goodbye) and started again: every trial
completes exactly once, and each loses at most the steps since its last checkpoint."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import yaml
from scanfleet import names

from tests.fault.conftest import EVERY, STEPS_SCRIPT, Ledger, scan_config

STEPS = 20
SIZES = [1, 2, 3, 4, 5, 6]


def test_a_killed_local_run_restarts_with_nothing_lost_and_nothing_run_twice(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "steps.py").write_text(STEPS_SCRIPT)
    config = scan_config(steps=STEPS)
    config["parameters"]["size"] = {"values": SIZES}
    (project / "scan.yaml").write_text(yaml.safe_dump(config))
    ledger = Ledger(tmp_path / "ledger.txt")
    env = dict(os.environ)
    env.update(
        {
            names.ENV_POLL_INTERVAL: "0.1",
            names.ENV_METADATA_URL: names.METADATA_OFF,
            names.ENV_CHECKPOINT_DEADLINE: "2",
            "STEP_LEDGER": str(ledger.path),
            "STEP_DELAY": "0.03",
        }
    )
    argv = [sys.executable, "-m", "scanfleet.cli", "local", "run", str(project / "scan.yaml"),
            "--workers", "2", "--plain"]  # fmt: skip
    first = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)  # fmt: skip
    ledger.wait_for(lambda: len({t for t, _, _ in ledger.lines()}) >= 3)  # mid-scan
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    time.sleep(0.5)

    again = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=120)  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    assert "resumed" in again.stdout
    with (tmp_path / "scanfleet-results" / "project" / "trials.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(SIZES) and {r["state"] for r in rows} == {"COMPLETED"}
    assert Counter(r["trial_id"] for r in rows).most_common(1)[0][1] == 1
    assert {float(r["value.steps"]) for r in rows} == {STEPS}
    per_trial = Counter(t for t, _, _ in ledger.lines())
    assert len(per_trial) == len(SIZES)
    assert all(STEPS <= n <= STEPS + EVERY for n in per_trial.values()), per_trial
    interrupted = [t for t in per_trial if len({a for u, a, _ in ledger.lines() if u == t}) > 1]
    assert interrupted, "the kill should have caught trials mid-run"
