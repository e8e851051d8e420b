"""Fault injection: a real script that counts its steps and checkpoints every K steps,
real ``scanfleet worker`` processes, a real local API over SQLite on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from scanfleet import names
from scanfleet.client import Client, Scan

from tests.fault.imds import FakeMetadata

# Counts steps into a ledger (one line per step executed: trial, attempt, step), keeps its
# step in the checkpoint folder, saves every K steps and when asked, then stops.
STEPS_SCRIPT = """
import json, os, sys, time
from pathlib import Path
import scanfleet
from scanfleet.names import ExitCode

trial = scanfleet.current_trial()
steps, every = int(trial.params["steps"]), int(trial.params["every"])
crash_at = trial.params.get("crash_at")
state = trial.checkpoint_dir / "state.json"
step = json.loads(state.read_text())["step"] if state.exists() else 0
assert step == trial.resume_step, (step, trial.resume_step)
ledger = Path(os.environ["STEP_LEDGER"])
delay = float(os.environ.get("STEP_DELAY", "0.05"))
while step < steps:
    time.sleep(delay)
    with ledger.open("a") as f:
        f.write(f"{trial.id} {trial.attempt} {step}\\n")
    step += 1
    if crash_at is not None and step == crash_at:
        sys.exit(3)
    asked = trial.checkpoint_requested
    if step % every == 0 or asked:
        state.write_text(json.dumps({"step": step}))
        trial.save_checkpoint(step)
    if asked:
        sys.exit(ExitCode.INTERRUPTED)
trial.complete(float(step))
"""

ENTRYPOINT = Path(__file__).resolve().parents[2] / "worker" / "entrypoint.py"
STEPS = 40
EVERY = 5
LEASE_S = 1.5  # short: a killed worker's lease runs out in real time (default)
LONG_LEASE_S = 30.0  # heartbeats every 10 s: never runs out by itself within a test


def scan_config(*, steps: int = STEPS, every: int = EVERY, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"steps": {"value": steps}, "every": {"value": every}}
    params.update({name: {"value": value} for name, value in extra.pop("params", {}).items()})
    return {
        "strategy": "grid",
        "command": "python steps.py",
        "metric": {"name": "steps", "goal": "maximize"},
        "execution": {"lease_seconds": LEASE_S},
        "parameters": params,
        **extra,
    }


def wait_until(
    predicate: Callable[[], bool], timeout: float, what: Callable[[], str] = lambda: ""
) -> None:
    """Poll ``predicate`` until it holds; after ``timeout`` seconds fail, saying ``what()``.
    Deadlines are generous: a loaded machine may take seconds to start a process."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s; {what()}")


@dataclass
class ServiceClock:
    """The local API's clock (``ScanService`` takes ``now`` so tests control leases): the
    wall clock plus what the test moved it on by. Moving it past a lease expires the lease
    when the test says so, not when a slow machine happens to miss a beat."""

    ahead_s: float = 0.0

    def __call__(self) -> float:
        return time.time() + self.ahead_s

    def advance(self, seconds: float) -> None:
        self.ahead_s += seconds


@dataclass
class Ledger:
    path: Path

    def lines(self) -> list[tuple[str, int, int]]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            trial, attempt, step = line.split()
            out.append((trial, int(attempt), int(step)))
        return out

    def steps_of(self, attempt: int | None = None) -> list[int]:
        return [s for _, a, s in self.lines() if attempt is None or a == attempt]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 60) -> None:
        wait_until(predicate, timeout, lambda: f"ledger has {len(self.lines())} steps")

    def repeats(self) -> int:
        counts = Counter((t, s) for t, _, s in self.lines())
        return sum(n - 1 for n in counts.values())


@dataclass
class Harness:
    root: Path
    client: Client
    ledger: Ledger
    env: dict[str, str]
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def create_scan(self, config: dict[str, Any]) -> Scan:
        return self.client.create_scan("fault", config)

    def worker(self, scan: Scan, **env: str) -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-m", "scanfleet.cli", "worker", "--scan", scan.id,
                "--logs", str(self.root / "logs"), "--workdir", str(self.root)]  # fmt: skip
        proc = subprocess.Popen(
            argv,
            env={**self.env, **env},
            stdout=subprocess.DEVNULL,
            stderr=(self.root / f"worker-{len(self.workers)}.log").open("ab"),
        )
        self.workers.append(proc)
        return proc

    def batch_job(
        self, trial_id: str, *, via: str = "module", **env: str
    ) -> subprocess.Popen[bytes]:
        """The Batch entrypoint, as the container runs it (``via="module"``) or from a
        checkout (``via="file"``: worker/entrypoint.py)."""
        target = ["-m", "scanfleet.runtime.batch"] if via == "module" else [str(ENTRYPOINT)]
        job_env = {**self.env, names.ENV_TRIAL_ID: trial_id, "AWS_BATCH_JOB_ID": "job-1"}
        job_env[names.ENV_LOGS_DIR] = str(self.root / "logs")
        proc = subprocess.Popen(
            [sys.executable, *target],
            cwd=self.root,
            env={**job_env, **env},
            stdout=(self.root / f"job-{len(self.workers)}.out").open("ab"),
            stderr=(self.root / f"worker-{len(self.workers)}.log").open("ab"),
        )
        self.workers.append(proc)
        return proc

    def trial(self, scan: Scan) -> Any:
        (trial,) = scan.trials()
        return trial.record

    def worker_log(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.root.glob("worker-*.log")))


@pytest.fixture
def service_clock(local_api: Any) -> ServiceClock:
    """The local API's clock, which the test moves on."""
    clock = ServiceClock()
    local_api.service.context.now = clock
    return clock


@pytest.fixture
def metadata() -> Iterator[FakeMetadata]:
    fake = FakeMetadata()
    yield fake
    fake.close()


@pytest.fixture
def harness(tmp_path: Path, local_api: Any) -> Iterator[Harness]:
    (tmp_path / "steps.py").write_text(STEPS_SCRIPT)
    token = local_api.tokens.default_token
    env = dict(os.environ)
    env.update(
        {
            names.ENV_API_URL: local_api.url,
            names.ENV_TOKEN: token,
            names.ENV_POLL_INTERVAL: "0.1",
            names.ENV_CHECKPOINT_URL: str(tmp_path / "state" / "checkpoints"),  # local_api's
            names.ENV_METADATA_URL: names.METADATA_OFF,
            names.ENV_METADATA_INTERVAL: "0.1",
            "STEP_LEDGER": str(tmp_path / "ledger.txt"),
            "STEP_DELAY": "0.03",
        }
    )
    h = Harness(
        tmp_path, Client(url=local_api.url, token=token), Ledger(tmp_path / "ledger.txt"), env
    )
    yield h
    for proc in h.workers:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
