"""The real CLI, `scanfleet local run`, in a temp dir: results, and kill-and-resume."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def scanfleet(*args: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scanfleet.cli", *args],
        cwd=cwd,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["SCANFLEET_POLL_INTERVAL"] = "0.1"
    return env


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_the_picsellia_grid_runs_each_cell_exactly_once(tmp_path: Path) -> None:
    done = scanfleet("local", "run", str(EXAMPLES / "picsellia" / "scan.yaml"),
                     "--workers", "3", "--plain", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    out = tmp_path / "scanfleet-results" / "picsellia"
    trials = rows(out / "trials.csv")
    assert len(trials) == 9
    assert all(r["state"] == "COMPLETED" for r in trials)
    cells = Counter((r["param.batch_size"], r["param.learning_rate"]) for r in trials)
    assert len(cells) == 9 and set(cells.values()) == {1}
    assert {r["param.steps"] for r in trials} == {"1000"}
    best = json.loads((out / "best.json").read_text())
    assert best["status"] == "COMPLETED"
    assert best["best_trial"]["params"]["learning_rate"] == 1e-4
    assert best["best_trial"]["params"]["batch_size"] == 8
    assert len(list((out / "logs").glob("*.log"))) == 9


def test_the_quickstart_finds_the_minimum_region(tmp_path: Path) -> None:
    done = scanfleet("local", "run", str(EXAMPLES / "quickstart" / "scan.yaml"),
                     "--workers", "4", "--plain", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    out = tmp_path / "scanfleet-results" / "quickstart"
    trials = rows(out / "trials.csv")
    assert len(trials) == 30 and all(r["state"] == "COMPLETED" for r in trials)
    best = json.loads((out / "best.json").read_text())["best_trial"]
    assert best["values"]["loss"] < 2.0  # random search alone rarely gets here in 30 trials
    report = (out / "report.html").read_text()
    assert f"report: {out.relative_to(tmp_path) / 'report.html'}" in done.stdout
    assert report.count('class="plotly-graph-div') >= 4 and "<h2>Trials</h2>" in report


def test_regex_and_hyperband_examples_complete(tmp_path: Path) -> None:
    done = scanfleet("local", "run", str(EXAMPLES / "regex" / "scan.yaml"), "--plain",
                     cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    regex_rows = rows(tmp_path / "scanfleet-results" / "regex" / "trials.csv")
    assert len(regex_rows) == 12 and all(r["value.val_loss"] for r in regex_rows)
    done = scanfleet("local", "run", str(EXAMPLES / "hyperband" / "scan.yaml"), "--plain",
                     cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    states = Counter(r["state"] for r in rows(tmp_path / "scanfleet-results" / "hyperband"
                                              / "trials.csv"))  # fmt: skip
    assert states["PRUNED"] >= 1 and states["COMPLETED"] >= 1 and not states["FAILED"]


SLOW_SCAN = """
strategy: grid
command: python slow.py
metric: {name: loss, goal: minimize}
execution: {lease_seconds: 5}
parameters:
  a: {values: [1, 2, 3, 4]}
  b: {values: [1, 2, 3]}
"""
SLOW_SCRIPT = """
import sys, time
import scanfleet
t = scanfleet.current_trial()
time.sleep(0.6)
t.complete(t.params["a"] * 10 + t.params["b"])
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_killed_run_resumes_and_runs_every_trial_exactly_once(
    tmp_path: Path, sig: signal.Signals
) -> None:
    project = tmp_path / "slow"
    project.mkdir()
    (project / "scan.yaml").write_text(SLOW_SCAN)
    (project / "slow.py").write_text(SLOW_SCRIPT)
    out = tmp_path / "scanfleet-results" / "slow" / "trials.csv"
    argv = [sys.executable, "-m", "scanfleet.cli", "local", "run", str(project / "scan.yaml"),
            "--workers", "2", "--plain"]  # fmt: skip
    first = subprocess.Popen(argv, cwd=tmp_path, env=child_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if out.exists() and len(rows(out)) >= 3:
            break
        time.sleep(0.1)
    assert out.exists() and 3 <= len(rows(out)) < 12, "the scan should be mid-way"
    first.send_signal(sig)
    first.wait(timeout=60)
    assert first.returncode != 0
    # workers learn that their parent died (PR_SET_PDEATHSIG) and stop within their retries
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        orphans = subprocess.run(["pgrep", "-f", f"scanfleet.cli worker.*{tmp_path}"],
                                 capture_output=True, text=True)  # fmt: skip
        if not orphans.stdout.strip():
            break
        time.sleep(0.2)
    assert orphans.stdout.strip() == "", "workers outlived the run"

    again = subprocess.run(argv, cwd=tmp_path, env=child_env(), capture_output=True, text=True,
                           timeout=120)  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    assert "resumed" in again.stdout
    final = rows(out)
    assert len(final) == 12
    assert Counter(r["trial_id"] for r in final).most_common(1)[0][1] == 1
    assert all(r["state"] == "COMPLETED" for r in final)
    cells = {(r["param.a"], r["param.b"]) for r in final}
    assert len(cells) == 12


def test_validate_exits_2_listing_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("strategy: grd\nmetric: {name: l, goal: up}\nparameters: {a: {values: []}}\n")
    done = scanfleet("validate", str(bad), cwd=tmp_path)
    assert done.returncode == 2
    for path in ("strategy", "metric.goal", "parameters.a.values"):
        assert f"{path}:" in done.stderr
    assert "Traceback" not in done.stderr
    ok = scanfleet("validate", str(EXAMPLES / "picsellia" / "scan.yaml"), cwd=tmp_path)
    assert ok.returncode == 0 and "9 trials will run" in ok.stdout


EDITABLE_SCAN = """
strategy: grid
script: quick.py
metric: {name: loss, goal: minimize}
parameters:
  a: {values: [1, 2]}
"""
QUICK_SCRIPT = """
import scanfleet
t = scanfleet.current_trial()
t.complete(float(t.params["a"]))
"""


def quick_project(tmp_path: Path) -> Path:
    project = tmp_path / "demo"
    project.mkdir()
    (project / "scan.yaml").write_text(EDITABLE_SCAN)
    (project / "quick.py").write_text(QUICK_SCRIPT)
    return project / "scan.yaml"


def test_an_edited_config_gets_a_new_scan_and_its_own_results_folder(tmp_path: Path) -> None:
    config = quick_project(tmp_path)
    run = ("local", "run", str(config), "--workers", "1", "--plain")
    first = scanfleet(*run, cwd=tmp_path)
    assert first.returncode == 0, first.stderr + first.stdout
    out = tmp_path / "scanfleet-results" / "demo"
    first_scan = (out / ".scan-id").read_text().strip()
    assert len(rows(out / "trials.csv")) == 2

    config.write_text(EDITABLE_SCAN.replace("[1, 2]", "[1, 2, 3]") + "  b: {values: [x]}\n")
    second = scanfleet(*run, cwd=tmp_path)
    assert second.returncode == 0, second.stderr + second.stdout
    new_scan = second.stdout.split("created a new scan ", 1)[1].split()[0]
    assert new_scan != first_scan
    new_out = Path("scanfleet-results") / f"demo-{new_scan}"
    assert (
        f"the config changed since the last run of demo; created a new scan {new_scan}"
        f" (results in {new_out})"
    ) in second.stdout
    old_rows, new_rows = rows(out / "trials.csv"), rows(tmp_path / new_out / "trials.csv")
    assert len(old_rows) == 2 and "param.b" not in old_rows[0]  # untouched
    assert (out / ".scan-id").read_text().strip() == first_scan
    assert len(new_rows) == 3 and {r["param.b"] for r in new_rows} == {"x"}
    assert {r["trial_id"].rsplit("-", 1)[0] for r in new_rows} == {new_scan}

    third = scanfleet(*run, cwd=tmp_path)  # the edited config again: its scan resumes
    assert third.returncode == 0, third.stderr + third.stdout
    assert f"scan {new_scan} (demo): resumed; results in {new_out}" in third.stdout
    assert len(rows(tmp_path / new_out / "trials.csv")) == 3


def test_local_run_keeps_its_state_folder_private(tmp_path: Path) -> None:
    config = quick_project(tmp_path)
    state = tmp_path / ".scanfleet"
    state.mkdir(mode=0o755)
    (state / "notes.txt").write_text("made by an older version")
    os.chmod(state, 0o755)
    os.chmod(state / "notes.txt", 0o644)
    done = scanfleet("local", "run", str(config), "--workers", "1", "--plain", cwd=tmp_path)
    assert done.returncode == 0, done.stderr + done.stdout
    paths = [state, *state.rglob("*")]
    modes = {str(p.relative_to(state)): oct(p.stat().st_mode & 0o777) for p in paths}
    assert any(name.endswith("quick.py") for name in modes)  # the uploaded script
    assert {"scanfleet.db", "tokens.json", "notes.txt"} <= set(modes)
    wrong = {
        name: m
        for name, m in modes.items()
        if m != ("0o700" if (state / name).is_dir() else "0o600")
    }
    assert wrong == {}
