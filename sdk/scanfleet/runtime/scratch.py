"""Each worker's scratch folder (``<temp dir>/scanfleet/<worker id>/``): the checkpoint
folders of the trials it runs, between restoring and uploading them.

A worker removes a trial's folder when the run ends, but a worker killed outright
(SIGKILL, the OOM killer) leaves its folder behind, and checkpoints can be gigabytes. So
each folder holds an owner file naming its process (pid and start time: pids are reused),
and a worker that starts removes the folders whose process is gone. A folder without an
owner file is left alone (it may be one a worker is creating right now).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger("scanfleet.worker")

OWNER_FILE = ".owner.json"


@contextlib.contextmanager
def worker_folder(root: Path, worker_id: str) -> Iterator[Path]:
    """``root/<worker_id>``, this process's scratch folder while the block runs; the
    folders of workers that are gone are removed first."""
    sweep(root)
    folder = root / worker_id
    claim(folder)
    try:
        yield folder
    finally:
        release(folder)


def claim(folder: Path) -> None:
    """Make ``folder`` this process's scratch folder (created if needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f"{OWNER_FILE}.{os.getpid()}.tmp"
    pid = os.getpid()
    staging.write_text(json.dumps({"pid": pid, "started": process_start(pid)}))
    os.replace(staging, folder / OWNER_FILE)


def release(folder: Path) -> None:
    """Remove this process's scratch folder (the worker is done)."""
    if _owner(folder) == (os.getpid(), process_start(os.getpid())):
        shutil.rmtree(folder, ignore_errors=True)


def sweep(root: Path) -> list[Path]:
    """Remove the scratch folders under ``root`` whose owner process is gone.

    Returns:
        The folders removed.
    """
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for folder in root.iterdir():
            if folder.is_dir() and (folder / OWNER_FILE).is_file() and not owner_alive(folder):
                shutil.rmtree(folder, ignore_errors=True)
                log.info("removed the scratch folder of a worker that is gone: %s", folder)
                removed.append(folder)
    return removed


def owner_alive(folder: Path) -> bool:
    """Whether the process named in ``folder``'s owner file still runs (an unreadable
    owner file counts as alive: nothing is removed on a guess)."""
    owner = _owner(folder)
    if owner is None:
        return True
    pid, started = owner
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    return started is None or process_start(pid) in (None, started)


def process_start(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (Linux ``/proc``; None elsewhere).
    A zombie counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":
        return -1
    return int(fields[19])


def _owner(folder: Path) -> tuple[int, int | None] | None:
    try:
        data = json.loads((folder / OWNER_FILE).read_text())
        return int(data["pid"]), data.get("started")
    except (OSError, ValueError, KeyError, TypeError):
        return None
