"""The mistakes a new user makes, and what they see (docs/troubleshooting.md quotes these
messages): a crashing script, a metric named differently in the script and the config
(with and without ``complete()``), a command whose script is not there, a mistyped key.
The real CLI in a temp folder."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GRID = """strategy: grid
metric: {name: loss, goal: minimize}
parameters: {lr: {values: [0.1, 0.01]}}
command: python train.py
retries: {max_errors: 0}
"""
REPORTS_OTHER_METRICS = """import scanfleet
trial = scanfleet.current_trial()
for epoch in range(3):
    trial.report("val_loss", 1.0 / (epoch + 1), step=epoch)
    trial.report("val_acc", 0.5 + epoch / 10, step=epoch)
"""
MISMATCH = "reported val_loss, val_acc; the scan's metric is loss"


def scanfleet(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SCANFLEET_POLL_INTERVAL": "0.1"}
    return subprocess.run(
        [sys.executable, "-m", "scanfleet.cli", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def project(tmp_path: Path, script: str, config: str = GRID) -> Path:
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "scan.yaml").write_text(config)
    (folder / "train.py").write_text(script)
    return folder


def local_run(tmp_path: Path, folder: Path) -> subprocess.CompletedProcess[str]:
    return scanfleet("local", "run", str(folder / "scan.yaml"), "--workers", "1", "--plain",
                     cwd=tmp_path)  # fmt: skip


def csv_rows(tmp_path: Path) -> list[dict[str, str]]:
    with (tmp_path / "scanfleet-results" / "proj" / "trials.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def test_a_crashing_script_says_why_and_where_its_log_is(tmp_path: Path) -> None:
    folder = project(tmp_path, "import scanfleet\nscanfleet.current_trial()\n1 / 0\n")
    done = local_run(tmp_path, folder)
    assert done.returncode == 1, done.stdout + done.stderr  # no trial completed
    logs = "scanfleet-results/proj/logs/"
    reason = (
        "exit code 1; last output: ... ZeroDivisionError: division by zero (error budget spent)"
    )
    failed = re.findall(rf"^trial (\d) failed: (.*) \(log: ({logs}\S+\.log)\)$", done.stderr, re.M)
    assert sorted(n for n, _, _ in failed) == ["0", "1"] and {r for _, r, _ in failed} == {reason}
    assert "ZeroDivisionError" in (tmp_path / failed[0][2]).read_text()  # the log it names
    assert f"2 trial(s) failed:\n  2x {reason}\n     e.g. trial 0: {logs}" in done.stdout
    rows = csv_rows(tmp_path)
    assert all(r["failure_reason"].endswith("ZeroDivisionError: division by zero (error budget "
                                            "spent)") for r in rows)  # fmt: skip


def test_workers_that_give_up_on_a_crashing_script_say_why(tmp_path: Path) -> None:
    config = GRID.replace("[0.1, 0.01]", "[1, 2, 3, 4, 5, 6, 7]").replace(
        "retries: {max_errors: 0}\n", ""
    )  # retried errors: the worker stops after 5 fast failures in a row
    folder = project(tmp_path, "import scanfleet\nscanfleet.current_trial()\n1 / 0\n", config)
    done = local_run(tmp_path, folder)
    assert done.returncode == 1, done.stdout + done.stderr
    told = r"^trial \d failed(, retrying \(error \d\))?: exit code 1; last output: \.\.\. Zero"
    assert re.search(told, done.stderr, re.M)  # each failure as it is seen
    gave_up = done.stderr[done.stderr.index("all workers exited") :].splitlines()
    assert gave_up[0] == (
        "all workers exited before the scan finished: their trials kept failing; the last reasons:"
    )
    assert "ZeroDivisionError: division by zero" in gave_up[1]
    assert gave_up[-1] == "the workers' logs: scanfleet-results/proj/worker-*.log"
    worker_log = (tmp_path / "scanfleet-results" / "proj" / "worker-0.log").read_text()
    assert "5 trials in a row failed fast; stopping. The last reasons:" in worker_log


def test_a_metric_named_otherwise_fails_the_trial_naming_both_and_warns(tmp_path: Path) -> None:
    folder = project(tmp_path, REPORTS_OTHER_METRICS)
    done = local_run(tmp_path, folder)
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(rf"^trial 0 failed: {MISMATCH} \(log: ", done.stderr, re.M)
    assert f"2 trial(s) failed:\n  2x {MISMATCH}\n" in done.stdout
    worker_log = (tmp_path / "scanfleet-results" / "proj" / "worker-0.log").read_text()
    warning = f"{MISMATCH}: pruning watches loss only and prunes nothing"
    assert worker_log.count(warning) == 1  # the first such run only
    assert [r["failure_reason"] for r in csv_rows(tmp_path)] == [MISMATCH, MISMATCH]


def test_complete_without_the_scans_metric_fails_the_trial_naming_both(tmp_path: Path) -> None:
    script = REPORTS_OTHER_METRICS + 'trial.complete({"val_loss": 0.3, "val_acc": 0.7})\n'
    done = local_run(tmp_path, project(tmp_path, script))
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(rf"^trial 1 failed: {MISMATCH} \(log: ", done.stderr, re.M)


@pytest.mark.parametrize(
    "ending",
    ['trial.report("loss", 0.2, step=3)\n', 'trial.complete({"loss": 0.2})\n'],
    ids=["worker-completes", "script-completes"],
)
def test_extra_metrics_beside_the_scans_are_columns_of_the_results(
    tmp_path: Path, ending: str
) -> None:
    script = REPORTS_OTHER_METRICS + ending
    done = local_run(tmp_path, project(tmp_path, script))
    assert done.returncode == 0, done.stdout + done.stderr
    rows = csv_rows(tmp_path)
    assert [(r["value.loss"], r["value.val_acc"], r["value.val_loss"]) for r in rows] == [
        ("0.2", "0.7", "0.3333333333333333")
    ] * 2
    assert "failed:" not in done.stdout and done.stderr == ""


def test_a_command_whose_script_is_not_there_is_refused_before_anything_runs(
    tmp_path: Path,
) -> None:
    folder = project(tmp_path, "print('hi')\n", GRID.replace("train.py", "trian.py"))
    message = (
        "invalid scan config (1 problem):\n  - command: script not found: trian.py"
        f" (looked for {folder / 'trian.py'}); did you mean 'train.py'?"
    )
    for command in (["validate"], ["local", "run"]):
        done = scanfleet(*command, str(folder / "scan.yaml"), cwd=tmp_path)
        assert done.returncode == 2 and message in done.stderr, done.stderr
    assert not (tmp_path / "scanfleet-results").exists()


def test_a_mistyped_key_is_named_with_the_key_it_resembles(tmp_path: Path) -> None:
    folder = project(tmp_path, "", GRID.replace("metric:", "metirc:"))
    done = scanfleet("validate", str(folder / "scan.yaml"), cwd=tmp_path)
    assert done.returncode == 2
    assert (
        "invalid scan config (2 problems):\n  - metric: required: the metric to optimise and its"
        " goal: {name, goal} (with 'metrics': the first of them unless given)\n"
        "  - metirc: unknown key 'metirc'; did you mean 'metric'?"
    ) in done.stderr
