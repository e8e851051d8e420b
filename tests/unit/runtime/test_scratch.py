"""Scratch folders of workers: a worker that starts removes those of workers whose process
is gone (killed, or its pid reused by another process), and no other."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from scanfleet.runtime import scratch

LIVE = "import time; time.sleep(60)"


def claimed_by_a_child(folder: Path, then: str = "") -> subprocess.Popen[bytes]:
    """A real process that claims ``folder``, writes a file in it, then runs ``then``."""
    code = (
        "from pathlib import Path; from scanfleet.runtime import scratch; "
        f"folder = Path({str(folder)!r}); scratch.claim(folder); "
        "(folder / 'ckpt').write_text('x'); print('ok', flush=True)\n" + then
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert child.stdout is not None and child.stdout.readline() == b"ok\n"
    return child


def wait_until_zombie(pid: int) -> None:
    give_up = time.monotonic() + 10
    while scratch.process_start(pid) != -1:
        assert time.monotonic() < give_up, f"{pid} did not exit"
        time.sleep(0.01)


def test_only_the_folders_of_gone_workers_are_swept(tmp_path: Path) -> None:
    dead = claimed_by_a_child(tmp_path / "dead")
    assert dead.wait(timeout=10) == 0  # exited and reaped: its pid is free
    zombie = claimed_by_a_child(tmp_path / "zombie")  # exits, but is not reaped yet
    live = claimed_by_a_child(tmp_path / "live", then=LIVE)
    (tmp_path / "starting").mkdir()  # a worker creating its folder: no owner file yet
    scratch.claim(tmp_path / "mine")
    try:
        wait_until_zombie(zombie.pid)
        removed = scratch.sweep(tmp_path)
        assert sorted(p.name for p in removed) == ["dead", "zombie"]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["live", "mine", "starting"]
        assert (tmp_path / "live" / "ckpt").read_text() == "x"
    finally:
        live.kill()
        live.wait()
        zombie.wait()
    assert [p.name for p in scratch.sweep(tmp_path)] == ["live"]  # killed: now it goes


def test_a_reused_pid_does_not_keep_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    folder.mkdir()
    started = scratch.process_start(os.getpid())
    assert started is not None
    owner = {"pid": os.getpid(), "started": started - 1}
    (folder / scratch.OWNER_FILE).write_text(json.dumps(owner))
    assert not scratch.owner_alive(folder)  # this pid runs, but it is another process now
    assert scratch.sweep(tmp_path) == [folder] and not folder.exists()


def test_release_removes_only_the_callers_own_folder(tmp_path: Path) -> None:
    scratch.claim(tmp_path / "mine")
    other = claimed_by_a_child(tmp_path / "other", then=LIVE)
    try:
        scratch.release(tmp_path / "other")
        scratch.release(tmp_path / "mine")
        assert [p.name for p in tmp_path.iterdir()] == ["other"]
    finally:
        other.kill()
        other.wait()
