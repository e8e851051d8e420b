"""The embedded store: one SQLite file, safe for many threads and many processes.

Every read-modify-write runs as one ``BEGIN IMMEDIATE`` transaction: SQLite's write lock
makes each contract method one atomic step across threads and processes, and the whole
transaction is retried when the lock cannot be had within the busy timeout. WAL mode lets
readers go on while a writer holds the lock. Each thread (and each process: a forked
child never reuses its parent's connection) has its own connection.

Rows keep the record as JSON (``_codec``) plus, as columns, what is queried: a scan's
owner, status, client token, creation time and change sequence; a trial's scan, number,
state, lease and the change sequence of its last change (``trials_changed_since``).
Intermediate values are rows of their own, keyed by (trial, metric, step).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any, TypeVar

from scanfleet.records import (
    ScanRecord,
    ScanStatus,
    TrialRecord,
    TrialState,
)
from scanfleet.store import _rules
from scanfleet.store._base import (
    InsertResult,
    ScanExistsError,
    ScanNotFoundError,
    TrialChanges,
    TrialNotFoundError,
)
from scanfleet.store._codec import dump, float_text, load
from scanfleet.store._sqlite_integrity import (
    StoreDamagedError,
    end_session,
    open_session,
    wal_is_missing,
)
from scanfleet.store._transitions import TransitionStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scans (
    scan_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    status TEXT NOT NULL,
    client_token TEXT,
    created_at REAL NOT NULL,
    record TEXT NOT NULL,
    change_seq INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS scans_by_token ON scans(owner, client_token)
    WHERE client_token IS NOT NULL;
CREATE INDEX IF NOT EXISTS scans_by_owner ON scans(owner, created_at);
CREATE TABLE IF NOT EXISTS trials (
    trial_id TEXT PRIMARY KEY,
    scan_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    state TEXT NOT NULL,
    lease_expires_at REAL,
    record TEXT NOT NULL,
    seq INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS trials_by_number ON trials(scan_id, number);
CREATE INDEX IF NOT EXISTS trials_by_state ON trials(scan_id, state, number);
CREATE INDEX IF NOT EXISTS running_by_lease ON trials(lease_expires_at)
    WHERE state = 'RUNNING';
CREATE TABLE IF NOT EXISTS curves (
    trial_id TEXT NOT NULL,
    metric TEXT NOT NULL,
    step INTEGER NOT NULL,
    value TEXT NOT NULL,  -- repr(float): exact, NaN and -0.0 included
    scan_id TEXT NOT NULL,
    PRIMARY KEY (trial_id, metric, step)
);
CREATE INDEX IF NOT EXISTS curves_by_scan ON curves(scan_id, metric);
"""
# files made before the change sequence get its columns (then its index, in both cases)
_ADDED_COLUMNS = (
    ("scans", "change_seq", "INTEGER NOT NULL DEFAULT 0"),
    ("trials", "seq", "INTEGER NOT NULL DEFAULT 0"),
)
_SEQ_INDEX = "CREATE INDEX IF NOT EXISTS trials_by_seq ON trials(scan_id, seq)"

_T = TypeVar("_T")
_LOCKED = ("database is locked", "database table is locked", "busy")


class SQLiteTrialStore(TransitionStore):
    """The embedded default. ``path`` (and its folder) is created on first use.

    Args:
        path: the database file; every store, thread and process opening it shares it.
        busy_timeout_s: how long one statement waits for another writer's lock before
            the transaction is retried.
        page_size: how many trials ``iter_trials`` reads per query.
        accept_loss: open a file that lost committed writes (its WAL missing or damaged
            after a crash) instead of refusing it (``_sqlite_integrity``).

    Raises:
        StoreDamagedError: the file lost writes or fails ``PRAGMA quick_check``.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout_s: float = 10.0,
        page_size: int = 500,
        accept_loss: bool = False,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.page_size = page_size
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        wal_was_missing = wal_is_missing(self.path)  # before the first connection makes one
        try:
            _retry_locked(lambda: self._conn().executescript(_SCHEMA))
            self._atomic(_add_missing_columns)
            self._session_id = _retry_locked(
                lambda: open_session(
                    self._conn(),
                    self.path,
                    wal_was_missing=wal_was_missing,
                    accept_loss=accept_loss,
                )
            )
        except StoreDamagedError:
            self.close()  # the file is left as it was found (the empty WAL made goes too)
            raise
        self._end_session = weakref.finalize(
            self, end_session, self.path, self._session_id, os.getpid(), 1.0
        )  # at exit or when the store is collected: a short wait, never a hang

    def close_cleanly(self) -> None:
        """A clean shutdown: checkpoint the WAL into the database file, record that this
        store closed cleanly, close this thread's connection (``Raises`` nothing)."""
        if self._end_session.detach() is not None:
            end_session(self.path, self._session_id, os.getpid(), self._busy_timeout_s)
        self.close()

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # ---- connections and transactions ----------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout_s,
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=False,
            )
            _retry_locked(lambda: conn.execute("PRAGMA journal_mode=WAL"))
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_s * 1000)}")
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    def _atomic(self, body: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``body`` as one IMMEDIATE transaction; commit, or roll back and re-raise.
        A transaction that could not get the lock is retried whole."""

        def attempt() -> _T:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = body(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return result

        return _retry_locked(attempt)

    def _read(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[Any]:
        return _retry_locked(lambda: self._conn().execute(sql, args).fetchall())

    # ---- scans -------------------------------------------------------------------------

    def create_scan(self, scan: ScanRecord) -> tuple[ScanRecord, bool]:
        def create(conn: sqlite3.Connection) -> tuple[ScanRecord, bool]:
            if scan.client_token is not None:
                row = conn.execute(
                    "SELECT record FROM scans WHERE owner = ? AND client_token = ?",
                    (scan.owner, scan.client_token),
                ).fetchone()
                if row is not None:
                    return load(ScanRecord, row[0]), False
            if conn.execute("SELECT 1 FROM scans WHERE scan_id = ?", (scan.scan_id,)).fetchone():
                raise ScanExistsError(
                    f"a scan {scan.scan_id} exists already", details={"scan_id": scan.scan_id}
                )
            conn.execute(
                "INSERT INTO scans (scan_id, owner, status, client_token, created_at, record)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    scan.scan_id,
                    scan.owner,
                    scan.status.value,
                    scan.client_token,
                    scan.created_at,
                    dump(scan),
                ),
            )
            return scan, True

        return self._atomic(create)

    def get_scan(self, scan_id: str) -> ScanRecord:
        rows = self._read("SELECT record FROM scans WHERE scan_id = ?", (scan_id,))
        if not rows:
            raise _scan_not_found(scan_id)
        return load(ScanRecord, rows[0][0])

    def list_scans(
        self,
        owner: str,
        *,
        status: ScanStatus | None = None,
        tag: tuple[str, str] | None = None,
    ) -> list[ScanRecord]:
        sql = "SELECT record FROM scans WHERE owner = ?"
        args: list[Any] = [owner]
        if status is not None:
            sql += " AND status = ?"
            args.append(status.value)
        rows = self._read(sql + " ORDER BY created_at DESC, scan_id DESC", args)
        scans = [load(ScanRecord, r[0]) for r in rows]
        if tag is not None:
            scans = [s for s in scans if s.tags.get(tag[0]) == tag[1]]
        return scans

    def scans_listed_under(self, prefix: str) -> list[tuple[str, str]]:
        rows = self._read(
            "SELECT scan_id, owner FROM scans WHERE substr(owner, 1, ?) = ? ORDER BY scan_id",
            (len(prefix), prefix),
        )
        return [(str(scan_id), str(owner)) for scan_id, owner in rows]

    def relist_scan(self, scan_id: str, *, listed_as: str, list_as: str) -> bool:
        """The ``owner`` column is the listing key (the record keeps the stored owner); it
        also keys the scan's client token, which then belongs to ``list_as``. A scan of
        ``list_as`` holding the same client token already (tokens are per-request random
        keys) keeps this one where it is: False."""

        def move(conn: sqlite3.Connection) -> bool:
            try:
                cursor = conn.execute(
                    "UPDATE scans SET owner = ? WHERE scan_id = ? AND owner = ?",
                    (list_as, scan_id, listed_as),
                )
            except sqlite3.IntegrityError:
                return False
            return cursor.rowcount == 1

        return self._atomic(move)

    def set_scan_status(
        self,
        scan_id: str,
        status: ScanStatus,
        *,
        reason: str | None = None,
        expected: ScanStatus | None = ScanStatus.RUNNING,
        now: float,
    ) -> bool:
        def change(scan: ScanRecord) -> ScanRecord | None:
            if expected is not None and scan.status is not expected:
                return None
            return scan.model_copy(update=_rules.status_update(status, reason, now))

        return self._change_scan(scan_id, change) is not None

    def delete_scan(self, scan_id: str) -> ScanRecord:
        def delete(conn: sqlite3.Connection) -> ScanRecord:
            scan = _scan_in(conn, scan_id)
            for table in ("scans", "trials", "curves"):
                conn.execute(f"DELETE FROM {table} WHERE scan_id = ?", (scan_id,))
            return scan

        return self._atomic(delete)

    def set_max_run(self, scan_id: str, max_run: int) -> ScanRecord:
        changed = self._change_scan(scan_id, lambda s: s.model_copy(update={"max_run": max_run}))
        assert changed is not None
        return changed

    def skip_cursor(self, scan_id: str, expected_cursor: int) -> bool:
        def change(scan: ScanRecord) -> ScanRecord | None:
            if scan.cursor != expected_cursor:
                return None
            return scan.model_copy(update={"cursor": scan.cursor + 1})

        return self._change_scan(scan_id, change) is not None

    # ---- trials ------------------------------------------------------------------------

    def insert_trial(
        self,
        trial: TrialRecord,
        *,
        expected_cursor: int | None = None,
        max_trials: int | None = None,
    ) -> InsertResult:
        def insert(conn: sqlite3.Connection) -> InsertResult:
            scan = _scan_in(conn, trial.scan_id)
            exists = conn.execute(
                "SELECT 1 FROM trials WHERE trial_id = ?", (trial.trial_id,)
            ).fetchone()
            refusal = _rules.insert_refusal(
                scan,
                exists=exists is not None,
                expected_cursor=expected_cursor,
                max_trials=max_trials,
            )
            if refusal is not None:
                return refusal
            numbered = trial.model_copy(update={"number": scan.trial_count})
            conn.execute(
                "INSERT INTO trials (scan_id, number, state, lease_expires_at, record, trial_id,"
                " seq) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (*_trial_row(numbered), _next_seq(conn, trial.scan_id)),
            )
            update: dict[str, Any] = {"trial_count": scan.trial_count + 1}
            if expected_cursor is not None:
                update["cursor"] = scan.cursor + 1
            _put_scan(conn, scan.model_copy(update=update))
            return InsertResult.CREATED

        return self._atomic(insert)

    def get_trial(self, trial_id: str) -> TrialRecord:
        rows = self._read("SELECT record FROM trials WHERE trial_id = ?", (trial_id,))
        if not rows:
            raise _trial_not_found(trial_id)
        return load(TrialRecord, rows[0][0])

    def iter_trials(
        self, scan_id: str, *, states: frozenset[TrialState] | None = None, after: int = -1
    ) -> Iterator[TrialRecord]:
        state_sql, state_args = _states_clause(states)
        last = after
        while True:
            rows = self._read(
                "SELECT record, number FROM trials WHERE scan_id = ? AND number > ?"
                f"{state_sql} ORDER BY number LIMIT ?",
                (scan_id, last, *state_args, self.page_size),
            )
            for record, _ in rows:
                yield load(TrialRecord, record)
            if len(rows) < self.page_size:
                return
            last = rows[-1][1]

    def trials_changed_since(self, scan_id: str, seq: int | None) -> TrialChanges:
        """One read transaction: the scan's sequence and the trials stamped above ``seq``
        are one snapshot (the ``trials_by_seq`` index finds them)."""

        def changes() -> TrialChanges:
            conn = self._conn()
            conn.execute("BEGIN")
            try:
                row = conn.execute(
                    "SELECT change_seq FROM scans WHERE scan_id = ?", (scan_id,)
                ).fetchone()
                if row is None:
                    return TrialChanges(seq=seq or 0, trials=[])
                rows = conn.execute(
                    "SELECT record FROM trials WHERE scan_id = ? AND seq > ? ORDER BY number",
                    (scan_id, -1 if seq is None else seq),
                ).fetchall()
            finally:
                conn.execute("COMMIT")
            trials = [load(TrialRecord, r[0]) for r in rows]
            return TrialChanges(seq=max(int(row[0]), seq or 0), trials=trials)

        return _retry_locked(changes)

    def claim_queued(
        self, scan_id: str, worker_id: str, *, lease_seconds: float, now: float
    ) -> TrialRecord | None:
        def claim(conn: sqlite3.Connection) -> TrialRecord | None:
            row = conn.execute(
                "SELECT record FROM trials WHERE scan_id = ? AND state = ? ORDER BY number LIMIT 1",
                (scan_id, TrialState.QUEUED.value),
            ).fetchone()
            if row is None:
                return None
            got = _rules.claimed(load(TrialRecord, row[0]), worker_id, lease_seconds, now)
            assert got is not None  # it was QUEUED inside this transaction
            _put_trial(conn, got, seq=_next_seq(conn, scan_id))
            return got

        return self._atomic(claim)

    def record_intermediate(self, trial_id: str, metric: str, step: int, value: float) -> None:
        def record(conn: sqlite3.Connection) -> None:
            trial = _trial_in(conn, trial_id)
            changed = _rules.reported(trial, step)
            conn.execute(
                "INSERT OR REPLACE INTO curves (trial_id, metric, step, value, scan_id)"
                " VALUES (?, ?, ?, ?, ?)",
                (trial_id, metric, step, float_text(value), trial.scan_id),
            )
            if changed is not trial:
                _put_trial(conn, changed)

        self._atomic(record)

    def intermediate_values(
        self, scan_id: str, metric: str, *, trial_ids: Collection[str] | None = None
    ) -> dict[str, dict[int, float]]:
        out: dict[str, dict[int, float]] = {}
        scan, only, args = "scan_id", "", [scan_id, metric]
        if trial_ids is not None:
            args += sorted(trial_ids)
            only = f" AND trial_id IN ({', '.join('?' * len(trial_ids))})"
            # "+": read the trials' curves by primary key, not the whole scan's by its index
            scan = "+scan_id"
        rows = self._read(
            f"SELECT trial_id, step, value FROM curves WHERE {scan} = ? AND metric = ?{only}"
            " ORDER BY trial_id, step",
            args,
        )
        for trial_id, step, value in rows:
            out.setdefault(trial_id, {})[step] = float(value)
        return out

    def expired_leases(self, scan_id: str, now: float) -> list[TrialRecord]:
        rows = self._read(
            "SELECT record FROM trials WHERE scan_id = ? AND state = ? AND lease_expires_at < ?"
            " ORDER BY number",
            (scan_id, TrialState.RUNNING.value, now),
        )
        return [load(TrialRecord, r[0]) for r in rows]

    def stale_trials(self, now: float) -> list[TrialRecord]:
        """Reads the ``running_by_lease`` partial index (RUNNING trials only): the state is
        written into the SQL so that SQLite may use it, and the few rows found are sorted
        here (an ORDER BY would have SQLite walk every trial by number instead)."""
        rows = self._read(
            f"SELECT record FROM trials WHERE state = '{TrialState.RUNNING.value}'"
            " AND lease_expires_at < ?",
            (now,),
        )
        stale = [load(TrialRecord, r[0]) for r in rows]
        return sorted(stale, key=lambda t: (t.scan_id, t.number))

    def count_scans_by_status(self) -> dict[ScanStatus, int]:
        counts = dict.fromkeys(ScanStatus, 0)
        for status, count in self._read("SELECT status, COUNT(*) FROM scans GROUP BY status"):
            counts[ScanStatus(status)] = count
        return counts

    def counts(self, scan_id: str) -> dict[TrialState, int]:
        def count(conn: sqlite3.Connection) -> dict[TrialState, int]:
            _scan_in(conn, scan_id)
            out = {state: 0 for state in TrialState}
            rows = conn.execute(
                "SELECT state, COUNT(*) FROM trials WHERE scan_id = ? GROUP BY state", (scan_id,)
            )
            for state, n in rows:
                out[TrialState(state)] = n
            return out

        # one snapshot: a deferred (read) transaction
        def snapshot() -> dict[TrialState, int]:
            conn = self._conn()
            conn.execute("BEGIN")
            try:
                return count(conn)
            finally:
                conn.execute("COMMIT")

        return _retry_locked(snapshot)

    # ---- read, change, write -----------------------------------------------------------

    def _change_scan(
        self, scan_id: str, change: Callable[[ScanRecord], ScanRecord | None]
    ) -> ScanRecord | None:
        def apply(conn: sqlite3.Connection) -> ScanRecord | None:
            changed = change(_scan_in(conn, scan_id))
            if changed is not None:
                _put_scan(conn, changed)
            return changed

        return self._atomic(apply)

    def _change_trial(
        self, trial_id: str, change: Callable[[TrialRecord], TrialRecord | None]
    ) -> TrialRecord | None:
        """Apply one of ``_rules``' transitions to the trial inside one transaction."""

        def apply(conn: sqlite3.Connection) -> TrialRecord | None:
            trial = _trial_in(conn, trial_id)
            changed = change(trial)
            if changed is not None and changed is not trial:
                moved = _rules.moves_sequence(trial, changed)
                _put_trial(conn, changed, seq=_next_seq(conn, trial.scan_id) if moved else None)
            return changed

        return self._atomic(apply)


# ---- rows <-> records ------------------------------------------------------------------


def _scan_in(conn: sqlite3.Connection, scan_id: str) -> ScanRecord:
    row = conn.execute("SELECT record FROM scans WHERE scan_id = ?", (scan_id,)).fetchone()
    if row is None:
        raise _scan_not_found(scan_id)
    return load(ScanRecord, row[0])


def _put_scan(conn: sqlite3.Connection, scan: ScanRecord) -> None:
    conn.execute(
        "UPDATE scans SET status = ?, record = ? WHERE scan_id = ?",
        (scan.status.value, dump(scan), scan.scan_id),
    )


def _trial_in(conn: sqlite3.Connection, trial_id: str) -> TrialRecord:
    row = conn.execute("SELECT record FROM trials WHERE trial_id = ?", (trial_id,)).fetchone()
    if row is None:
        raise _trial_not_found(trial_id)
    return load(TrialRecord, row[0])


def _trial_row(trial: TrialRecord) -> tuple[Any, ...]:
    return (
        trial.scan_id,
        trial.number,
        trial.state.value,
        trial.lease_expires_at,
        dump(trial),
        trial.trial_id,
    )


def _put_trial(conn: sqlite3.Connection, trial: TrialRecord, *, seq: int | None = None) -> None:
    """Write the trial's row; with ``seq``, stamp it with that change sequence."""
    sql = "UPDATE trials SET scan_id = ?, number = ?, state = ?, lease_expires_at = ?, record = ?"
    row = _trial_row(trial)
    if seq is not None:
        conn.execute(f"{sql}, seq = ? WHERE trial_id = ?", (*row[:-1], seq, row[-1]))
    else:
        conn.execute(f"{sql} WHERE trial_id = ?", row)


def _next_seq(conn: sqlite3.Connection, scan_id: str) -> int:
    """Move the scan's change sequence up by one (inside the caller's transaction)."""
    row = conn.execute(
        "UPDATE scans SET change_seq = change_seq + 1 WHERE scan_id = ? RETURNING change_seq",
        (scan_id,),
    ).fetchone()
    if row is None:
        raise _scan_not_found(scan_id)
    return int(row[0])


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    for table, column, decl in _ADDED_COLUMNS:
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
    conn.execute(_SEQ_INDEX)


def _scan_not_found(scan_id: str) -> ScanNotFoundError:
    return ScanNotFoundError(f"no scan {scan_id}", details={"scan_id": scan_id})


def _trial_not_found(trial_id: str) -> TrialNotFoundError:
    return TrialNotFoundError(f"no trial {trial_id}", details={"trial_id": trial_id})


def _states_clause(states: frozenset[TrialState] | None) -> tuple[str, list[str]]:
    if states is None:
        return "", []
    if not states:
        return " AND 0", []
    marks = ", ".join("?" for _ in states)
    return f" AND state IN ({marks})", sorted(s.value for s in states)


def _retry_locked(call: Callable[[], _T], attempts: int = 100) -> _T:
    """Each statement already waits ``busy_timeout`` for the lock; past that (or when
    SQLite refuses to wait, as it may when two connections upgrade at once), back off
    and run the whole call again."""
    for i in range(attempts):
        try:
            return call()
        except sqlite3.OperationalError as exc:
            if not any(m in str(exc) for m in _LOCKED) or i == attempts - 1:
                raise
            time.sleep(min(0.01 * (i + 1), 0.5))
    raise AssertionError("unreachable")
