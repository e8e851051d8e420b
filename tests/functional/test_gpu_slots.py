"""``scanfleet worker --gpus`` against the real local server: 1-GPU trials run two at a
time on a 2-GPU worker, each with its own CUDA_VISIBLE_DEVICES; 2-GPU trials one at a time
with both; a trial bigger than the worker is refused with a clear message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from scanfleet import names
from scanfleet.local.server import LocalServer
from scanfleet.records import TrialState

from tests.functional.conftest import api_client

TRAIN = """
import json, os, sys, time
start = time.time()
time.sleep(0.6)
record = {"devices": os.environ["CUDA_VISIBLE_DEVICES"], "start": start, "end": time.time()}
with open(os.path.join(os.environ["SLOTS_OUT"], f"{os.getpid()}.json"), "w") as f:
    json.dump(record, f)
print("loss=1.0")
"""


def run_worker(
    api: LocalServer, scan_id: str, gpus: str, tmp: Path
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        names.ENV_API_URL: api.url,
        names.ENV_TOKEN: api.tokens.default_token,
        names.ENV_POLL_INTERVAL: "0.05",
        "SLOTS_OUT": str(tmp / "out"),
    }
    env.pop("CUDA_VISIBLE_DEVICES", None)
    argv = [sys.executable, "-m", "scanfleet.cli", "worker", "--scan", scan_id, "--gpus", gpus,
            "--logs", str(tmp / "logs"), "--workdir", str(tmp)]  # fmt: skip
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)


def a_scan(api: LocalServer, tmp: Path, gpus_per_trial: int) -> str:
    (tmp / "out").mkdir(parents=True, exist_ok=True)
    (tmp / "train.py").write_text(TRAIN)
    client = api_client(api)
    config = {
        "script": str(tmp / "train.py"),
        "strategy": "grid",
        "metric": {"name": "loss", "regex": r"loss=([0-9.]+)"},
        "parameters": {"x": {"values": [1, 2, 3, 4]}},
        "resources": {"gpus": gpus_per_trial},
    }
    return client.create_scan("gpus", config).id


def runs(tmp: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in (tmp / "out").glob("*.json")]


def most_at_once(records: list[dict[str, object]]) -> int:
    events = sorted(
        [(float(r["start"]), 1) for r in records] + [(float(r["end"]), -1) for r in records]  # type: ignore[arg-type]
    )
    running = peak = 0
    for _, change in events:
        running += change
        peak = max(peak, running)
    return peak


def test_two_gpus_run_two_one_gpu_trials_at_once_each_on_its_own_device(
    local_api: LocalServer, tmp_path: Path
) -> None:
    scan_id = a_scan(local_api, tmp_path, gpus_per_trial=1)
    done = run_worker(local_api, scan_id, "2", tmp_path)
    assert done.returncode == 0, done.stderr
    records = runs(tmp_path)
    assert len(records) == 4 and {r["devices"] for r in records} == {"0", "1"}
    assert most_at_once(records) == 2
    for a in records:  # two trials that overlap never share a device
        for b in records:
            if a is not b and a["start"] < b["end"] and b["start"] < a["end"]:  # type: ignore[operator]
                assert a["devices"] != b["devices"]
    client = api_client(local_api)
    trials = client.get_scan(scan_id).trials()
    assert [t.state for t in trials] == [TrialState.COMPLETED] * 4
    assert len({t.record.worker_id for t in trials}) == 2


def test_two_gpu_trials_take_both_devices_one_at_a_time(
    local_api: LocalServer, tmp_path: Path
) -> None:
    scan_id = a_scan(local_api, tmp_path, gpus_per_trial=2)
    done = run_worker(local_api, scan_id, "0,1,2", tmp_path)  # one spare GPU stays idle
    assert done.returncode == 0, done.stderr
    records = runs(tmp_path)
    assert {r["devices"] for r in records} == {"0,1"} and most_at_once(records) == 1


def test_a_trial_bigger_than_the_worker_is_refused(local_api: LocalServer, tmp_path: Path) -> None:
    scan_id = a_scan(local_api, tmp_path, gpus_per_trial=4)
    done = run_worker(local_api, scan_id, "2", tmp_path)
    assert done.returncode != 0
    assert "needs 4 GPU(s) (resources.gpus) and this worker has 2" in done.stderr
    assert "Traceback" not in done.stderr and runs(tmp_path) == []
