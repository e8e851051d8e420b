"""The state folder of local mode (``.scanfleet``: the SQLite database, uploaded scripts,
tokens, checkpoints) is private to its user: the folder and every folder in it 0700,
every file 0600, on every path that opens it (``local run``, ``local serve``, the
embedded API), and an existing folder from an older version is tightened at start."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from scanfleet.local.server import DB_FILE, INPUTS_DIR

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
CHECKPOINTS_DIR = "checkpoints"  # where local workers keep checkpoints (runtime.checkpoints)


def prepare_state_dir(state_dir: str | Path) -> Path:
    """Create ``state_dir`` (0700) or tighten it and everything in it; create its folders
    for uploaded scripts and checkpoints 0700, and the database file 0600 before SQLite
    opens it, so that its -wal and -shm files, which SQLite creates with the database's
    mode, are 0600 too. Symbolic links are left alone. What a worker writes later lies
    in these private folders and is tightened at the next start."""
    path = Path(state_dir)
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    os.chmod(path, PRIVATE_DIR)
    for folder, dirs, files in os.walk(path):  # does not follow links into other folders
        for name in dirs:
            _tighten(Path(folder) / name, PRIVATE_DIR)
        for name in files:
            _tighten(Path(folder) / name, PRIVATE_FILE)
    for name in (INPUTS_DIR, CHECKPOINTS_DIR):  # made 0700 here, not 0755 by their writers
        (path / name).mkdir(exist_ok=True, mode=PRIVATE_DIR)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path / DB_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    return path


def _tighten(path: Path, mode: int) -> None:
    with contextlib.suppress(OSError):  # gone meanwhile, or not ours: nothing to tighten
        if not stat.S_ISLNK(path.lstat().st_mode):
            os.chmod(path, mode)
