"""The embedded store: one SQLite file, safe for many threads and many processes.

Every read-modify-write runs in a ``BEGIN IMMEDIATE`` transaction, so SQLite's database
lock makes each contract method one atomic step across processes. WAL mode lets readers
go on while a writer holds the lock.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from scanfleet.records import (
    Checkpoint,
    PruneDecision,
    RequeueReason,
    ScanRecord,
    ScanStatus,
    TrialRecord,
    TrialState,
)
from scanfleet.store._base import (
    InsertResult,
    LeaseLostError,
    ScanNotFoundError,
    TrialFinishedError,
    TrialNotFoundError,
    TrialStore,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scans (
    scan_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    status TEXT NOT NULL,
    client_token TEXT,
    created_at REAL NOT NULL,
    record TEXT NOT NULL
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
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS trials_by_number ON trials(scan_id, number);
CREATE INDEX IF NOT EXISTS trials_by_state ON trials(scan_id, state, number);
CREATE TABLE IF NOT EXISTS curves (
    trial_id TEXT NOT NULL,
    metric TEXT NOT NULL,
    step INTEGER NOT NULL,
    value REAL NOT NULL,
    scan_id TEXT NOT NULL,
    PRIMARY KEY (trial_id, metric, step)
);
CREATE INDEX IF NOT EXISTS curves_by_scan ON curves(scan_id, metric);
"""

_T = TypeVar("_T")
_PAGE = 500


class SQLiteTrialStore(TrialStore):
    """The embedded default. ``path`` is created (with its folder) on first use."""

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        _retry_locked(lambda: self._conn().executescript(_SCHEMA))

    # ---- connections and transactions ----------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        _retry_locked(lambda: conn.execute("BEGIN IMMEDIATE"))
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # ---- scans -------------------------------------------------------------------------

    def create_scan(self, scan: ScanRecord) -> tuple[ScanRecord, bool]:
        with self._write() as conn:
            if scan.client_token is not None:
                row = conn.execute(
                    "SELECT record FROM scans WHERE owner = ? AND client_token = ?",
                    (scan.owner, scan.client_token),
                ).fetchone()
                if row is not None:
                    return ScanRecord.model_validate_json(row[0]), False
            conn.execute(
                "INSERT INTO scans (scan_id, owner, status, client_token, created_at, record)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    scan.scan_id,
                    scan.owner,
                    scan.status.value,
                    scan.client_token,
                    scan.created_at,
                    scan.model_dump_json(),
                ),
            )
        return scan, True

    def get_scan(self, scan_id: str) -> ScanRecord:
        return self._scan(self._conn(), scan_id)

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
        rows = self._conn().execute(sql + " ORDER BY created_at DESC", args).fetchall()
        scans = [ScanRecord.model_validate_json(r[0]) for r in rows]
        if tag is not None:
            scans = [s for s in scans if s.tags.get(tag[0]) == tag[1]]
        return scans

    def set_scan_status(
        self,
        scan_id: str,
        status: ScanStatus,
        *,
        reason: str | None = None,
        expected: ScanStatus | None = ScanStatus.RUNNING,
        now: float,
    ) -> bool:
        with self._write() as conn:
            scan = self._scan(conn, scan_id)
            if expected is not None and scan.status is not expected:
                return False
            finished_at = now if status.is_finished() else None
            self._put_scan(
                conn,
                scan.model_copy(
                    update={"status": status, "status_reason": reason, "finished_at": finished_at}
                ),
            )
            return True

    def set_max_run(self, scan_id: str, max_run: int) -> ScanRecord:
        with self._write() as conn:
            scan = self._scan(conn, scan_id).model_copy(update={"max_run": max_run})
            self._put_scan(conn, scan)
            return scan

    def skip_cursor(self, scan_id: str, expected_cursor: int) -> bool:
        with self._write() as conn:
            scan = self._scan(conn, scan_id)
            if scan.cursor != expected_cursor:
                return False
            self._put_scan(conn, scan.model_copy(update={"cursor": scan.cursor + 1}))
            return True

    # ---- trials ------------------------------------------------------------------------

    def insert_trial(
        self,
        trial: TrialRecord,
        *,
        expected_cursor: int | None = None,
        max_trials: int | None = None,
    ) -> InsertResult:
        with self._write() as conn:
            scan = self._scan(conn, trial.scan_id)
            exists = conn.execute(
                "SELECT 1 FROM trials WHERE trial_id = ?", (trial.trial_id,)
            ).fetchone()
            if exists:
                return InsertResult.DUPLICATE
            if expected_cursor is not None and scan.cursor != expected_cursor:
                return InsertResult.CURSOR_MOVED
            if max_trials is not None and scan.trial_count >= max_trials:
                return InsertResult.LIMIT_REACHED
            numbered = trial.model_copy(update={"number": scan.trial_count})
            self._put_trial(conn, numbered, insert=True)
            update: dict[str, Any] = {"trial_count": scan.trial_count + 1}
            if expected_cursor is not None:
                update["cursor"] = scan.cursor + 1
            self._put_scan(conn, scan.model_copy(update=update))
            return InsertResult.CREATED

    def get_trial(self, trial_id: str) -> TrialRecord:
        return self._trial(self._conn(), trial_id)

    def iter_trials(
        self, scan_id: str, *, states: frozenset[TrialState] | None = None
    ) -> Iterator[TrialRecord]:
        state_sql, state_args = _states_clause(states)
        last = -1
        while True:
            rows = (
                self._conn()
                .execute(
                    f"SELECT record, number FROM trials WHERE scan_id = ? AND number > ?{state_sql}"
                    " ORDER BY number LIMIT ?",
                    (scan_id, last, *state_args, _PAGE),
                )
                .fetchall()
            )
            for record, _ in rows:
                yield TrialRecord.model_validate_json(record)
            if len(rows) < _PAGE:
                return
            last = rows[-1][1]

    def claim_queued(
        self, scan_id: str, worker_id: str, *, lease_seconds: float, now: float
    ) -> TrialRecord | None:
        with self._write() as conn:
            row = conn.execute(
                "SELECT record FROM trials WHERE scan_id = ? AND state = ? ORDER BY number LIMIT 1",
                (scan_id, TrialState.QUEUED.value),
            ).fetchone()
            if row is None:
                return None
            trial = TrialRecord.model_validate_json(row[0])
            claimed = _claimed(trial, worker_id, lease_seconds, now)
            self._put_trial(conn, claimed)
            return claimed

    def claim_trial(
        self, trial_id: str, worker_id: str, *, lease_seconds: float, now: float
    ) -> TrialRecord | None:
        with self._write() as conn:
            trial = self._trial(conn, trial_id)
            _raise_if_finished(trial)
            if trial.state is not TrialState.QUEUED:
                return None
            claimed = _claimed(trial, worker_id, lease_seconds, now)
            self._put_trial(conn, claimed)
            return claimed

    def heartbeat(
        self, trial_id: str, worker_id: str, attempt: int, *, lease_seconds: float, now: float
    ) -> TrialRecord:
        with self._write() as conn:
            trial = self._trial(conn, trial_id)
            _raise_if_finished(trial)
            _check_holder(trial, worker_id, attempt, now)
            beat = trial.model_copy(update={"lease_expires_at": now + lease_seconds})
            self._put_trial(conn, beat)
            return beat

    def record_intermediate(self, trial_id: str, metric: str, step: int, value: float) -> None:
        with self._write() as conn:
            trial = self._trial(conn, trial_id)
            _raise_if_finished(trial)
            conn.execute(
                "INSERT OR REPLACE INTO curves (trial_id, metric, step, value, scan_id)"
                " VALUES (?, ?, ?, ?, ?)",
                (trial_id, metric, step, value, trial.scan_id),
            )
            if trial.last_step is None or step > trial.last_step:
                self._put_trial(conn, trial.model_copy(update={"last_step": step}))

    def intermediate_values(self, scan_id: str, metric: str) -> dict[str, dict[int, float]]:
        out: dict[str, dict[int, float]] = {}
        rows = self._conn().execute(
            "SELECT trial_id, step, value FROM curves WHERE scan_id = ? AND metric = ?",
            (scan_id, metric),
        )
        for trial_id, step, value in rows:
            out.setdefault(trial_id, {})[step] = value
        return out

    def set_prune_decision(self, trial_id: str, decision: PruneDecision) -> None:
        self._update_unfinished(
            trial_id, lambda t: t.model_copy(update={"prune_decision": decision})
        )

    def record_checkpoint(self, trial_id: str, checkpoint: Checkpoint) -> TrialRecord:
        def keep_latest(trial: TrialRecord) -> TrialRecord:
            if trial.checkpoint is not None and checkpoint.step < trial.checkpoint.step:
                return trial
            return trial.model_copy(update={"checkpoint": checkpoint})

        return self._update_unfinished(trial_id, keep_latest)

    def finish_trial(
        self,
        trial_id: str,
        state: TrialState,
        *,
        now: float,
        values: dict[str, float] | None = None,
        reason: str | None = None,
        expected_attempt: int | None = None,
    ) -> TrialRecord:
        if not state.is_finished():
            raise ValueError(f"{state} is not a finished state")
        with self._write() as conn:
            trial = self._trial(conn, trial_id)
            _raise_if_finished(trial)
            if expected_attempt is not None and (
                trial.state is not TrialState.RUNNING or trial.attempt != expected_attempt
            ):
                raise LeaseLostError(
                    f"trial {trial_id} is no longer held by attempt {expected_attempt}"
                )
            finished = trial.model_copy(
                update={
                    "state": state,
                    "values": dict(values or {}),
                    "failure_reason": reason,
                    "finished_at": now,
                    "duration_s": trial.duration_s + _running_time(trial, now),
                    "worker_id": trial.worker_id,
                    "lease_expires_at": None,
                }
            )
            self._put_trial(conn, finished)
            return finished

    def requeue_trial(
        self,
        trial_id: str,
        reason: RequeueReason,
        *,
        now: float,
        expected_attempt: int | None = None,
        message: str | None = None,
    ) -> TrialRecord | None:
        with self._write() as conn:
            trial = self._trial(conn, trial_id)
            _raise_if_finished(trial)
            if trial.state is not TrialState.RUNNING or (
                expected_attempt is not None and trial.attempt != expected_attempt
            ):
                return None
            counter = "preemptions" if reason is RequeueReason.PREEMPTED else "errors"
            requeued = trial.model_copy(
                update={
                    "state": TrialState.QUEUED,
                    counter: getattr(trial, counter) + 1,
                    "duration_s": trial.duration_s + _running_time(trial, now),
                    "worker_id": None,
                    "lease_expires_at": None,
                    "failure_reason": message,
                }
            )
            self._put_trial(conn, requeued)
            return requeued

    def expired_leases(self, scan_id: str, now: float) -> list[TrialRecord]:
        rows = (
            self._conn()
            .execute(
                "SELECT record FROM trials WHERE scan_id = ? AND state = ? AND lease_expires_at < ?"
                " ORDER BY number",
                (scan_id, TrialState.RUNNING.value, now),
            )
            .fetchall()
        )
        return [TrialRecord.model_validate_json(r[0]) for r in rows]

    def counts(self, scan_id: str) -> dict[TrialState, int]:
        out = {state: 0 for state in TrialState}
        rows = self._conn().execute(
            "SELECT state, COUNT(*) FROM trials WHERE scan_id = ? GROUP BY state", (scan_id,)
        )
        for state, n in rows:
            out[TrialState(state)] = n
        return out

    def set_trial_tags(self, trial_id: str, tags: dict[str, str]) -> TrialRecord:
        with self._write() as conn:
            trial = self._trial(conn, trial_id)
            tagged = trial.model_copy(update={"tags": {**trial.tags, **tags}})
            self._put_trial(conn, tagged)
            return tagged

    # ---- rows <-> records --------------------------------------------------------------

    def _scan(self, conn: sqlite3.Connection, scan_id: str) -> ScanRecord:
        row = conn.execute("SELECT record FROM scans WHERE scan_id = ?", (scan_id,)).fetchone()
        if row is None:
            raise ScanNotFoundError(f"no scan {scan_id}")
        return ScanRecord.model_validate_json(row[0])

    def _put_scan(self, conn: sqlite3.Connection, scan: ScanRecord) -> None:
        conn.execute(
            "UPDATE scans SET status = ?, record = ? WHERE scan_id = ?",
            (scan.status.value, scan.model_dump_json(), scan.scan_id),
        )

    def _trial(self, conn: sqlite3.Connection, trial_id: str) -> TrialRecord:
        row = conn.execute("SELECT record FROM trials WHERE trial_id = ?", (trial_id,)).fetchone()
        if row is None:
            raise TrialNotFoundError(f"no trial {trial_id}")
        return TrialRecord.model_validate_json(row[0])

    def _put_trial(
        self, conn: sqlite3.Connection, trial: TrialRecord, *, insert: bool = False
    ) -> None:
        values = (
            trial.scan_id,
            trial.number,
            trial.state.value,
            trial.lease_expires_at,
            trial.model_dump_json(),
            trial.trial_id,
        )
        if insert:
            conn.execute(
                "INSERT INTO trials (scan_id, number, state, lease_expires_at, record, trial_id)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                values,
            )
        else:
            conn.execute(
                "UPDATE trials SET scan_id = ?, number = ?, state = ?, lease_expires_at = ?,"
                " record = ? WHERE trial_id = ?",
                values,
            )

    def _update_unfinished(
        self, trial_id: str, change: Callable[[TrialRecord], TrialRecord]
    ) -> TrialRecord:
        with self._write() as conn:
            trial = self._trial(conn, trial_id)
            _raise_if_finished(trial)
            changed = change(trial)
            if changed is not trial:
                self._put_trial(conn, changed)
            return changed


def _claimed(trial: TrialRecord, worker_id: str, lease_seconds: float, now: float) -> TrialRecord:
    return trial.model_copy(
        update={
            "state": TrialState.RUNNING,
            "attempt": trial.attempt + 1,
            "worker_id": worker_id,
            "lease_expires_at": now + lease_seconds,
            "started_at": now,
        }
    )


def _running_time(trial: TrialRecord, now: float) -> float:
    if trial.state is TrialState.RUNNING and trial.started_at is not None:
        return max(0.0, now - trial.started_at)
    return 0.0


def _raise_if_finished(trial: TrialRecord) -> None:
    if trial.state.is_finished():
        raise TrialFinishedError(f"trial {trial.trial_id} is {trial.state.value}")


def _check_holder(trial: TrialRecord, worker_id: str, attempt: int, now: float) -> None:
    if (
        trial.state is not TrialState.RUNNING
        or trial.worker_id != worker_id
        or trial.attempt != attempt
    ):
        raise LeaseLostError(f"trial {trial.trial_id} is not held by {worker_id}#{attempt}")
    if trial.lease_expires_at is not None and trial.lease_expires_at < now:
        raise LeaseLostError(f"the lease of trial {trial.trial_id} expired")


def _states_clause(states: frozenset[TrialState] | None) -> tuple[str, list[str]]:
    if not states:
        return "", []
    marks = ", ".join("?" for _ in states)
    return f" AND state IN ({marks})", [s.value for s in sorted(states)]


def _retry_locked(call: Callable[[], _T], attempts: int = 50) -> _T:
    """BEGIN IMMEDIATE waits ``busy_timeout`` for the lock; past that, back off and retry."""
    for i in range(attempts):
        try:
            return call()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or i == attempts - 1:
                raise
            time.sleep(min(0.05 * (i + 1), 1.0))
    raise AssertionError("unreachable")
