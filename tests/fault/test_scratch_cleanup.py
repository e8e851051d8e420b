"""A worker killed outright leaves its scratch folder (the checkpoint folder of the trial
it ran); the next worker that starts on the machine removes it, and only it."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from scanfleet import names
from scanfleet.records import TrialState
from scanfleet.runtime import scratch

from tests.fault.conftest import EVERY, Harness, scan_config


def test_the_next_worker_removes_the_scratch_folder_of_a_sigkilled_one(
    harness: Harness, tmp_path: Path
) -> None:
    temp = tmp_path / "tmp"  # the workers' temp dir (TMPDIR), ours alone
    temp.mkdir()
    root = temp / "scanfleet"
    scan = harness.create_scan(scan_config())
    first = harness.worker(scan, TMPDIR=str(temp))
    harness.ledger.wait_for(lambda: len(harness.ledger.steps_of(1)) >= EVERY + 2)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    (left,) = root.iterdir()
    assert json.loads((left / scratch.OWNER_FILE).read_text())["pid"] == first.pid
    trial = harness.trial(scan)
    assert any((left / trial.trial_id).iterdir())  # the checkpoint folder it was writing
    creating = root / "a-worker-starting"  # no owner file yet: left alone
    creating.mkdir()

    second = harness.worker(scan, TMPDIR=str(temp))
    harness.ledger.wait_for(lambda: len(harness.ledger.steps_of(2)) >= 1)
    assert not left.exists()
    (running,) = [p for p in root.iterdir() if p != creating]
    assert json.loads((running / scratch.OWNER_FILE).read_text())["pid"] == second.pid
    assert second.wait(timeout=30) == names.ExitCode.OK, harness.worker_log()
    assert harness.trial(scan).state is TrialState.COMPLETED
    assert list(root.iterdir()) == [creating]  # a worker that ends removes its own
