"""The Oscar and Schedy examples run as a user runs them (their own local API), and a
second Oscar run resumes the experiment of the first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(script: Path, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANFLEET_")}
    done = subprocess.run(
        [sys.executable, str(script)], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_oscar_loop_resumes_its_experiment_and_stops_at_max_run(tmp_path: Path) -> None:
    runs = [run(EXAMPLES / "oscar_loop" / "square.py", tmp_path) for _ in range(4)]
    assert [r.count("loss=") for r in runs[:3]] == [11, 11, 11]  # 10 jobs + the best line
    assert "max_run (30) reached; set 'resume': False" in runs[3]


def test_the_schedy_example_runs_its_experiments_and_cleans_up(tmp_path: Path) -> None:
    out = run(EXAMPLES / "schedy" / "manual_and_random.py", tmp_path)
    assert "manual: 6 jobs by 3 workers" in out and "best {'alpha': 0.3, 'beta': 0.6}" in out
    assert "random: 12 jobs run until NoJobError" in out
    assert "experiments left: ['Random']" in out
    again = run(EXAMPLES / "schedy" / "manual_and_random.py", tmp_path)  # starts over
    assert "manual: 6 jobs" in again
