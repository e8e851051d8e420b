"""Crash safety of the SQLite store: what it checks when it opens a file, and what a clean
close leaves behind (docs/security.md, "Data integrity").

The store runs SQLite in WAL mode: a commit is appended to ``<db>-wal`` and copied into the
database file later (a checkpoint). The database file alone is then not the store: lose
the WAL and the last transactions are gone, yet SQLite opens the file without a word.

So each store records a *session* row when it opens, and copies it into the database file
at once (a checkpoint); a clean close deletes the row and checkpoints the whole WAL into the
file (``wal_checkpoint(TRUNCATE)``). When a store opens a file that holds the row of a
session whose process is gone (it was killed, or the machine lost power):

* its WAL must still be there (SQLite replays it); a missing WAL means lost writes;
* the WAL must not hold committed transactions SQLite cannot read (damaged frames, after
  which SQLite silently stops reading);

and every open runs ``PRAGMA quick_check``. A file that fails is refused with
``StoreDamagedError``, naming the file and what to do; ``accept_loss=True`` opens what the
file holds anyway (the lost writes stay lost).
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import struct
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from scanfleet.errors import ScanfleetError

logger = logging.getLogger("scanfleet.store.sqlite")

ACCEPT_LOSS_ENV = "SCANFLEET_ACCEPT_STORE_LOSS"  # read by the local composition root

_SESSIONS = """
CREATE TABLE IF NOT EXISTS store_sessions (
    session_id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    opened_at REAL NOT NULL
)
"""
_WAL_MAGIC = (0x377F0682, 0x377F0683)  # little- or big-endian checksums
_WAL_HEADER = 32
_FRAME_HEADER = 24


class StoreDamagedError(ScanfleetError):
    """The database file lost committed writes (its WAL is missing or damaged) or fails
    SQLite's integrity check: the store refuses to serve a part of it as if it were all."""


def wal_path(db: Path) -> Path:
    return Path(f"{db}-wal")


def wal_is_missing(db: Path) -> bool:
    """No WAL, or an empty one: after a session's first write, only a clean close (which
    forgets the session) leaves the WAL empty."""
    try:
        return wal_path(db).stat().st_size == 0
    except FileNotFoundError:
        return True


def open_session(
    conn: sqlite3.Connection, db: Path, *, wal_was_missing: bool, accept_loss: bool = False
) -> str:
    """Check the file a store opens and record the store's session; returns its id.

    ``wal_was_missing``: whether ``<db>-wal`` was absent or empty before the first
    connection (which creates it).

    Raises:
        StoreDamagedError: the file lost writes (unless ``accept_loss``) or is corrupt.
    """
    try:
        conn.execute(_SESSIONS)
        sessions = conn.execute("SELECT session_id, host, pid FROM store_sessions").fetchall()
        ended = [row[0] for row in sessions if not _alive(row[1], row[2])]
        live = len(sessions) - len(ended)
        problems: list[str] = []
        if ended and wal_was_missing:
            problems.append(
                f"it was not closed cleanly and its write-ahead log {wal_path(db)} is"
                " missing: the writes the log held are lost"
            )
        elif ended and not live:  # no writer is running: the WAL can be read as it is
            problems += _unreadable_commits(conn, db)
        if problems:
            _refuse_or_accept(db, problems, accept_loss)
        _quick_check(conn, db)
        session_id = uuid.uuid4().hex
        conn.execute("BEGIN IMMEDIATE")
        _delete_sessions(conn, ended)
        conn.execute(
            "INSERT INTO store_sessions VALUES (?, ?, ?, ?)",
            (session_id, socket.gethostname(), os.getpid(), time.time()),
        )
        conn.execute("COMMIT")
    except sqlite3.DatabaseError as err:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if _is_lock(err):
            raise
        raise _damaged(db, [f"SQLite cannot read it ({err})"], recoverable=False) from err
    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")  # the row reaches the database file
    return session_id


def end_session(db: Path, session_id: str, pid: int, timeout_s: float) -> None:
    """A clean close: forget this session (and those of processes gone whose writes are
    in the file now), then checkpoint the whole WAL into the database file. Does nothing
    in another process (a forked child inherits the finalizer) or if the file is gone."""
    if os.getpid() != pid or not db.exists():
        return
    try:
        conn = sqlite3.connect(db, timeout=timeout_s, isolation_level=None)
    except sqlite3.Error:
        return
    try:
        conn.execute("BEGIN IMMEDIATE")
        rows = conn.execute("SELECT session_id, host, pid FROM store_sessions").fetchall()
        _delete_sessions(conn, [r[0] for r in rows if r[0] == session_id or not _alive(r[1], r[2])])
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error as err:
        logger.warning("could not record a clean close of %s: %s", db, err)
    finally:
        conn.close()


# ---- checks ---------------------------------------------------------------------------------


def _unreadable_commits(conn: sqlite3.Connection, db: Path) -> list[str]:
    """Committed transactions in the WAL after the frames SQLite could read: SQLite stops
    at the first damaged frame and drops everything after it without a word."""
    wal = wal_path(db)
    _busy, readable, _copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    try:
        data = wal.read_bytes()
    except OSError:
        return []
    if len(data) <= _WAL_HEADER:
        return []
    words = struct.unpack(">8I", data[:_WAL_HEADER])
    magic, page_size, salts = words[0], words[2], words[4:6]
    if magic not in _WAL_MAGIC or _checksum(data[:24], big_endian=bool(magic & 1)) != words[6:]:
        return [f"the header of its write-ahead log {wal} is damaged"]
    frame = _FRAME_HEADER + page_size
    lost = 0
    for index in range(max(readable, 0), (len(data) - _WAL_HEADER) // frame):
        at = _WAL_HEADER + index * frame
        _page, commit, *frame_salts = struct.unpack(">4I", data[at : at + 16])
        if tuple(frame_salts) == salts and commit:  # a commit of this log, past the damage
            lost += 1
    if not lost:
        return []
    return [
        f"its write-ahead log {wal} is damaged at frame {readable + 1}: {lost} committed"
        " transactions after it cannot be read"
    ]


def _checksum(data: bytes, *, big_endian: bool) -> tuple[int, int]:
    """SQLite's WAL checksum (the header's: no running sum before it)."""
    words = struct.unpack(f"{'>' if big_endian else '<'}{len(data) // 4}I", data)
    s0 = s1 = 0
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[i + 1] + s0) & 0xFFFFFFFF
    return s0, s1


def _quick_check(conn: sqlite3.Connection, db: Path) -> None:
    rows = [str(row[0]) for row in conn.execute("PRAGMA quick_check(5)").fetchall()]
    if rows != ["ok"]:
        raise _damaged(db, [f"SQLite's integrity check fails: {'; '.join(rows)}"], False)


def _refuse_or_accept(db: Path, problems: list[str], accept_loss: bool) -> None:
    if not accept_loss:
        raise _damaged(db, problems, recoverable=True)
    logger.warning("opening %s although %s (loss accepted)", db, "; ".join(problems))


def _damaged(db: Path, problems: list[str], recoverable: bool) -> StoreDamagedError:
    advice = (
        f"Put the missing or damaged files back (restore {db.name}, {db.name}-wal and"
        f" {db.name}-shm of that folder from a backup); or, to open what {db.name} holds and"
        f" lose the rest, run once with {ACCEPT_LOSS_ENV}=1"
        if recoverable
        else f"Restore {db.name} from a backup, or rebuild it with `sqlite3 {db} .recover`"
    )
    return StoreDamagedError(
        f"refusing to open the store {db}: {'; '.join(problems)}. {advice}.",
        details={"path": str(db), "problems": problems},
    )


def _delete_sessions(conn: sqlite3.Connection, ids: Sequence[str]) -> None:
    conn.executemany("DELETE FROM store_sessions WHERE session_id = ?", [(i,) for i in ids])


def _alive(host: str, pid: int) -> bool:
    """Whether the process of a session still runs (one on another host counts as gone)."""
    if host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_lock(err: sqlite3.DatabaseError) -> bool:
    text = str(err).lower()
    return "locked" in text or "busy" in text
