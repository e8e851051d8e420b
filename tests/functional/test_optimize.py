"""``scanfleet.optimize``: a scan of a Python function in this process (issue 15 item 4),
against the embedded local service (SQLite in a state folder) or a real local server."""

from __future__ import annotations

import csv
import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import scanfleet
from scanfleet.local.server import LocalServer
from scanfleet.records import TrialState
from scanfleet.wire import ScanSummary

HYPERBAND = {
    "strategy": "optuna",
    "max_run": 18,
    "metric": {"name": "loss", "goal": "minimize"},
    "optuna": {"seed": 3, "n_startup_trials": 4},
    "early_stopping": {"hyperband": {"min_iter": 1, "max_iter": 9, "reduction_factor": 3}},
    "parameters": {"x": {"distribution": "uniform", "min": -5, "max": 5}},
}
RANDOM = {
    "strategy": "random",
    "max_run": 24,
    "metric": {"name": "loss", "goal": "minimize"},
    "optuna": {"seed": 1},
    "parameters": {"x": {"distribution": "uniform", "min": -5, "max": 5}},
}


def curve(trial: Any) -> float | None:
    """A learning curve whose floor is (x - 2)^2: bad x are pruned early."""
    x = trial.params["x"]
    loss = 0.0
    for step in range(1, 10):
        loss = (x - 2) ** 2 + 4 / step
        if trial.report("loss", loss, step):
            return None
    return loss


def counts(summary: ScanSummary) -> Counter[TrialState]:
    return Counter({state: n for state, n in summary.counts.items() if n})


def test_a_tpe_hyperband_scan_prunes_writes_its_results_and_resumes_by_name(
    tmp_path: Path,
) -> None:
    state, out = tmp_path / "state", tmp_path / "results"
    summary = scanfleet.optimize(curve, HYPERBAND, name="quad", state=state, out_dir=out)
    done = counts(summary)
    assert done[TrialState.PRUNED] > 0 and done[TrialState.COMPLETED] > 0
    assert sum(done.values()) == 18 and summary.scan.status.is_finished()
    assert summary.best_trial is not None
    assert abs(summary.best_trial.params["x"] - 2) < 2
    folder = out / "quad"
    with (folder / "trials.csv").open(newline="") as f:
        assert len(list(csv.DictReader(f))) == 18
    best = json.loads((folder / "best.json").read_text())
    assert best["best_trial"]["trial_id"] == summary.best_trial.trial_id
    assert (folder / "report.html").stat().st_size > 0

    calls: list[Any] = []
    again = scanfleet.optimize(calls.append, HYPERBAND, name="quad", state=state, out_dir=out)
    assert calls == []  # the same name and config: the finished scan, nothing run again
    assert again.scan.scan_id == summary.scan.scan_id


def test_a_stopped_scan_resumes_where_it_was(tmp_path: Path) -> None:
    state = tmp_path / "state"
    ran: list[str] = []

    def stop_after_five(trial: Any) -> float:
        if len(ran) == 5:
            raise KeyboardInterrupt
        ran.append(trial.id)
        return (trial.params["x"] - 2) ** 2

    with pytest.raises(KeyboardInterrupt):
        scanfleet.optimize(stop_after_five, RANDOM, name="stopped", state=state, out_dir=None)
    resumed: list[str] = []

    def rest(trial: Any) -> float:
        resumed.append(trial.id)
        return (trial.params["x"] - 2) ** 2

    summary = scanfleet.optimize(rest, RANDOM, name="stopped", state=state, out_dir=None)
    assert counts(summary) == Counter({TrialState.COMPLETED: 24})
    assert len(ran) == 5 and len(resumed) == 19 and not set(ran) & set(resumed)


def test_four_jobs_race_for_claims_and_never_run_a_trial_twice(tmp_path: Path) -> None:
    seen: list[str] = []
    lock = threading.Lock()
    threads: set[str] = set()

    def objective(trial: Any) -> float:
        with lock:
            seen.append(trial.id)
            threads.add(threading.current_thread().name)
        return trial.params["x"] ** 2

    summary = scanfleet.optimize(
        objective, RANDOM, name="race", n_jobs=4, state=tmp_path / "s", out_dir=None
    )
    assert counts(summary) == Counter({TrialState.COMPLETED: 24})
    assert len(seen) == 24 and len(set(seen)) == 24
    assert len(threads) > 1


def test_an_objective_that_raises_fails_its_trial_with_the_reason(tmp_path: Path) -> None:
    config = {**RANDOM, "max_run": 3, "retries": {"max_errors": 0}}

    def objective(trial: Any) -> float:
        raise ValueError(f"diverged at x={trial.params['x']:.2f}")

    state = tmp_path / "s"
    summary = scanfleet.optimize(objective, config, name="boom", state=state, out_dir=None)
    assert counts(summary) == Counter({TrialState.FAILED: 3})
    from scanfleet.local._optimize_backends import EmbeddedBackend

    backend = EmbeddedBackend(state)
    backend.scan_id = summary.scan.scan_id
    reasons = [t.failure_reason or "" for t in backend.trials()]
    backend.close()
    assert all("the objective raised ValueError: diverged at x=" in r for r in reasons)
    assert all("Traceback" in r for r in reasons)


def test_a_result_that_is_no_number_fails_the_trial_for_good(tmp_path: Path) -> None:
    config = {**RANDOM, "max_run": 2}
    summary = scanfleet.optimize(
        lambda trial: "nan-ish", config, name="text", state=tmp_path / "s", out_dir=None
    )
    assert counts(summary) == Counter({TrialState.FAILED: 2})


def test_a_remote_api_keeps_the_scan_when_url_is_given(
    local_api: LocalServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SCANFLEET_TOKEN", local_api.tokens.default_token)
    summary = scanfleet.optimize(
        curve, HYPERBAND, name="remote", n_jobs=2, url=local_api.url, out_dir=tmp_path
    )
    assert sum(counts(summary).values()) == 18
    assert counts(summary)[TrialState.PRUNED] > 0
    scans = local_api.service.list_scans(owner=_owner(local_api))
    assert [s.name for s in scans] == ["remote"]
    assert (tmp_path / "remote" / "trials.csv").exists()


def _owner(api: LocalServer) -> str:
    from scanfleet.local.auth import owner_id

    return owner_id(api.tokens.default_token)


KILLED = """
import os, signal, sys
import scanfleet
done = []
def objective(trial):
    if len(done) == 3:
        os.kill(os.getpid(), signal.SIGKILL)  # a crash mid-trial: its trial stays RUNNING
    done.append(trial.id)
    return trial.params["x"] ** 2
scanfleet.optimize(objective, {config!r}, name="killed", state=sys.argv[1], out_dir=None)
"""


def test_trials_of_a_killed_optimize_process_go_back_to_the_queue_at_once(
    tmp_path: Path,
) -> None:
    import subprocess
    import sys
    import time

    state = tmp_path / "s"
    config = {**RANDOM, "execution": {"lease_seconds": 3600}}  # no waiting for the lease
    code = KILLED.format(config=config)
    killed = subprocess.run([sys.executable, "-c", code, str(state)], timeout=120, check=False)
    assert killed.returncode == -9
    start = time.monotonic()
    summary = scanfleet.optimize(lambda t: 1.0, config, name="killed", state=state, out_dir=None)
    assert counts(summary) == Counter({TrialState.COMPLETED: 24})
    assert time.monotonic() - start < 60
