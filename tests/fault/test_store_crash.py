"""The SQLite store after a crash, on real files: a process writes 200 trials and is killed
with SIGKILL; then its write-ahead log is kept, lost, or damaged. A store that lost writes
is refused, naming the file; one that was closed cleanly is whole in its database file."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from scanfleet.local.auth import owner_id
from scanfleet.store import SQLiteTrialStore
from scanfleet.store._sqlite_integrity import ACCEPT_LOSS_ENV, StoreDamagedError

TRIALS = 200
FRAME = 24 + 4096  # a WAL frame: its header, then one page

# Writes a scan and TRIALS trials, one transaction each, then kills itself (or, with
# "clean", closes the store cleanly and exits).
WRITER = f"""
import os, signal, sys
from scanfleet.records import ScanRecord, TrialRecord, trial_id_for
from scanfleet.store import SQLiteTrialStore
store = SQLiteTrialStore(sys.argv[1])
store.create_scan(ScanRecord(scan_id="s1", name="n", owner="o", config={{}}, max_run=1000,
                             created_at=1.0))
for i in range({TRIALS}):
    params = {{"i": i}}
    trial = TrialRecord(scan_id="s1", trial_id=trial_id_for("s1", params), number=0,
                        params=params, created_at=1.0)
    store.insert_trial(trial, expected_cursor=i)
if sys.argv[2] == "clean":
    store.close_cleanly()
    sys.exit(0)
os.kill(os.getpid(), signal.SIGKILL)
"""


def _write(db: Path, how: str) -> None:
    done = subprocess.run([sys.executable, "-c", WRITER, str(db), how], timeout=120, check=False)
    expected = 0 if how == "clean" else -signal.SIGKILL
    assert done.returncode == expected


@pytest.fixture(scope="module")
def crashed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The database, WAL and SHM of a process killed after writing 200 trials."""
    db = tmp_path_factory.mktemp("crashed") / "scanfleet.db"
    _write(db, "killed")
    assert Path(f"{db}-wal").stat().st_size > 1_000_000  # the trials are (partly) in the WAL
    return db


def _copy(db: Path, to: Path, *suffixes: str) -> Path:
    to.mkdir()
    for suffix in ("", *suffixes):
        shutil.copy(f"{db}{suffix}", f"{to / db.name}{suffix}")
    return to / db.name


def _trials(store: SQLiteTrialStore) -> int:
    return len(store.list_trials("s1"))


def test_a_killed_store_with_its_wal_reopens_with_all_200_trials(
    crashed: Path, tmp_path: Path
) -> None:
    db = _copy(crashed, tmp_path / "kept", "-wal", "-shm")
    assert _trials(SQLiteTrialStore(db)) == TRIALS
    Path(f"{db}-shm").unlink()  # the SHM is an index SQLite rebuilds from the WAL
    assert _trials(SQLiteTrialStore(db)) == TRIALS


def test_a_killed_store_whose_wal_and_shm_are_lost_is_refused_naming_the_file(
    crashed: Path, tmp_path: Path
) -> None:
    db = _copy(crashed, tmp_path / "lost")  # the database file alone
    with pytest.raises(StoreDamagedError) as refused:
        SQLiteTrialStore(db)
    message = refused.value.message
    assert str(db) in message and f"{db}-wal is missing" in message
    assert f"{ACCEPT_LOSS_ENV}=1" in message and "backup" in message
    with pytest.raises(StoreDamagedError):  # refused again: refusing changed nothing
        SQLiteTrialStore(db)
    accepted = SQLiteTrialStore(db, accept_loss=True)
    assert _trials(accepted) < TRIALS  # what the file alone held: the rest is lost


def _damage_a_live_frame(wal: Path) -> None:
    """Overwrite page bytes of a frame in the middle of the WAL's current frames (those
    with the header's salts, from its start)."""
    data = bytearray(wal.read_bytes())
    salts, frames, live = bytes(data[16:24]), (len(data) - 32) // FRAME, 0
    while live < frames and data[32 + live * FRAME + 8 : 32 + live * FRAME + 16] == salts:
        live += 1
    assert live > 10
    at = 32 + (live // 2) * FRAME + 24 + 100
    data[at : at + 2000] = b"\xab" * 2000
    wal.write_bytes(bytes(data))


def test_a_killed_store_with_garbage_in_its_wal_is_refused(crashed: Path, tmp_path: Path) -> None:
    db = _copy(crashed, tmp_path / "garbage", "-wal")
    _damage_a_live_frame(Path(f"{db}-wal"))
    with pytest.raises(StoreDamagedError) as refused:
        SQLiteTrialStore(db)
    assert f"{db}-wal is damaged at frame" in refused.value.message
    assert "committed transactions after it cannot be read" in refused.value.message
    assert _trials(SQLiteTrialStore(db, accept_loss=True)) < TRIALS


def test_a_corrupt_database_file_is_refused(crashed: Path, tmp_path: Path) -> None:
    db = tmp_path / "scanfleet.db"
    _write(db, "clean")
    data = bytearray(db.read_bytes())
    data[4096 * 3 : 4096 * 3 + 3000] = b"\x00" * 3000  # a b-tree page gone
    db.write_bytes(bytes(data))
    with pytest.raises(StoreDamagedError) as refused:
        SQLiteTrialStore(db, accept_loss=True)  # no flag opens a corrupt file
    assert str(db) in refused.value.message and "sqlite3" in refused.value.message


def test_a_clean_close_checkpoints_the_wal_so_the_file_alone_holds_every_trial(
    tmp_path: Path,
) -> None:
    db = tmp_path / "clean" / "scanfleet.db"
    _write(db, "clean")
    wal = Path(f"{db}-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    alone = _copy(db, tmp_path / "alone")
    assert _trials(SQLiteTrialStore(alone)) == TRIALS


def test_local_serve_stopped_with_ctrl_c_leaves_a_whole_database_file(tmp_path: Path) -> None:
    state = tmp_path / "state"
    serve = subprocess.Popen(
        [sys.executable, "-m", "scanfleet.cli", "local", "serve", "--state", str(state)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert serve.stdout is not None
        serve.stdout.readline()
        exports = dict(part.split("=", 1) for part in serve.stdout.readline().split()[1:])
        url, token = exports["SCANFLEET_API_URL"], exports["SCANFLEET_TOKEN"]
        config = {
            "strategy": "grid",
            "metric": {"name": "loss", "goal": "minimize"},
            "parameters": {"a": {"values": [1]}},
        }
        for i in range(60):
            body = json.dumps({"name": f"s{i}", "config": config}).encode()
            request = urllib.request.Request(
                url + "/scans",
                data=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=30) as answer:
                assert answer.status == 201
        time.sleep(0.2)
        serve.send_signal(signal.SIGINT)
        assert serve.wait(timeout=30) == 0
    finally:
        serve.kill()
        serve.wait()
    wal = state / "scanfleet.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    alone = _copy(state / "scanfleet.db", tmp_path / "alone")
    assert len(SQLiteTrialStore(alone).list_scans(owner_id(token))) == 60
