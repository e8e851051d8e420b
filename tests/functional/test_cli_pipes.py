"""``scanfleet`` ends cleanly when its reader goes away (``| head``: exit 0, nothing on
stderr) and on Ctrl-C (exit 130, one line, no traceback) — run as a user runs it, a real
process writing into a real pipe, over the local state of ``local run``."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from scanfleet.local.auth import TokenStore, owner_id
from scanfleet.local.server import open_local_service

SCANFLEET = [sys.executable, "-m", "scanfleet.cli"]
# 60 trials whose lines are 2 kB each: more than a pipe holds, so the writer is still
# writing when ``head`` has gone
WIDE = {
    "strategy": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"tag": {"values": [f"{i:02d}" + "x" * 2000 for i in range(60)]}},
}


def child_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SCANFLEET_")}


@pytest.fixture
def state(tmp_path: Path) -> tuple[Path, str]:
    """A local state with a scan (its id): 59 finished trials and one still running."""
    state = tmp_path / "state"
    service = open_local_service(state)
    owner = owner_id(TokenStore(state).default_token)
    scan, _ = service.create_scan("wide", WIDE, owner=owner)
    for i in range(60):
        trial = service.claim_next_trial(scan.scan_id, "w", owner=owner)
        assert trial is not None
        if i < 59:
            service.complete(trial.trial_id, float(i), owner=owner)
    return state, scan.scan_id


def test_a_reader_that_closes_the_pipe_ends_the_command_quietly(state: tuple[Path, str]) -> None:
    folder, scan_id = state
    command = shlex.join([*SCANFLEET, "scans", "trials", scan_id, "--state", str(folder)])
    done = subprocess.run(
        ["bash", "-c", f'{command} | head -c1 >/dev/null; echo "exit ${{PIPESTATUS[0]}}" >&2'],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stderr == "exit 0\n"  # no BrokenPipeError, no "Exception ignored"


def test_ctrl_c_exits_130_with_one_line(state: tuple[Path, str], tmp_path: Path) -> None:
    """Ctrl-C reaches every process of the foreground job: here ``scans watch`` and the
    ``tee`` it writes into."""
    folder, scan_id = state
    seen = tmp_path / "seen.txt"
    watch = subprocess.Popen(
        [*SCANFLEET, "scans", "watch", scan_id, "--state", str(folder), "--interval", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # rich draws every frame, as on a terminal (else only the last, when it stops)
        env={**child_env(), "TTY_COMPATIBLE": "1", "TERM": "xterm"},
        process_group=0,  # a process group of its own, like a shell job
    )
    assert watch.stdout is not None
    tee = subprocess.Popen(
        ["tee", str(seen)], stdin=watch.stdout, stdout=subprocess.DEVNULL, process_group=watch.pid
    )
    watch.stdout.close()
    give_up = time.monotonic() + 60
    while not (seen.exists() and seen.stat().st_size) and time.monotonic() < give_up:
        time.sleep(0.1)  # the first frame has gone through the pipe
    assert watch.poll() is None, watch.communicate()
    os.killpg(watch.pid, signal.SIGINT)
    _, err = watch.communicate(timeout=60)
    tee.wait(timeout=10)
    assert (watch.returncode, err.decode()) == (130, "scanfleet: interrupted\n")
