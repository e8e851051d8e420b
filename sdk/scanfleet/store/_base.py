"""The trial store contract. Every store (SQLite, DynamoDB) implements it and passes the
same contract test suite (``tests/unit/store/contract.py``).

Invariants every implementation keeps:

- **Claim is atomic.** A trial is held by at most one worker at a time: ``claim_queued``,
  ``claim_trial`` and ``insert_trial`` of a RUNNING trial are compare-and-set operations.
  Two racing callers never both win.
- **Finished trials are immutable.** ``finish_trial``, ``requeue_trial``, ``heartbeat``,
  ``record_checkpoint`` and ``record_intermediate`` on a COMPLETED, PRUNED or FAILED trial
  raise :class:`TrialFinishedError` and change nothing.
- **Identity.** A trial's id is ``trial_id_for(scan_id, params)``; inserting a trial whose
  id exists changes nothing and reports ``InsertResult.DUPLICATE``.
- **Counters move with the trials.** ``ScanRecord.trial_count`` is incremented in the same
  atomic write that creates the trial, so it never disagrees with the trials stored, and
  never exceeds ``max_trials`` when one is given.
- **Bounded items.** Intermediate values live beside the trial, not inside it, so a trial
  that reports 100,000 steps still fits a 400 KB DynamoDB item.
- **Unknown ids.** A method that names one scan or trial raises :class:`ScanNotFoundError`
  or :class:`TrialNotFoundError` when it does not exist; the listings (``iter_trials``,
  ``list_trials``, ``expired_leases``, ``intermediate_values``) are empty for an unknown
  scan.
- **Stale leases are found without reading history.** ``expired_leases`` (one scan) and
  ``stale_trials`` (every scan) read only RUNNING trials, so the reaper's cost follows
  the number of busy workers, not the number of trials ever run.
- **Exact floats.** Every float given to the store (params, values, intermediate values,
  timestamps) reads back as the same float, NaN and infinities included.
- **A change sequence per scan.** Every write that changes what a search reads of a
  trial (its creation, state, params, values, tags or user attributes: every transition)
  moves the scan's change sequence up by one and stamps the trial with the new value, in
  the same atomic write as the change. ``trials_changed_since(scan_id, seq)`` returns
  every trial changed after ``seq``, so a reader caught up to ``seq`` never misses a
  change at or below it. The per-step writes (``heartbeat``, ``record_checkpoint``,
  ``record_intermediate``, ``set_prune_decision``) leave the sequence alone: they would
  make every report of every worker a write on the one scan record.
- **Crash safety.** Each method is one atomic write (or none): a process killed mid-call
  leaves the store as it was before the call or as it is after it.

Timestamps are epoch seconds (float) passed in by the caller (``now``), so tests control
time and leases never depend on the store's clock.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from enum import StrEnum

from scanfleet.errors import (  # noqa: F401 (the store's modules import them from here)
    LeaseLostError,
    ScanExistsError,
    ScanNotFoundError,
    TrialFinishedError,
    TrialNotFoundError,
)
from scanfleet.records import (
    Checkpoint,
    PruneDecision,
    RequeueReason,
    ScanRecord,
    ScanStatus,
    TrialRecord,
    TrialState,
)


class InsertResult(StrEnum):
    CREATED = "CREATED"
    DUPLICATE = "DUPLICATE"  # a trial with these params exists in the scan
    LIMIT_REACHED = "LIMIT_REACHED"  # trial_count >= max_trials
    CURSOR_MOVED = "CURSOR_MOVED"  # another caller advanced the scan's cursor first


@dataclass(frozen=True)
class TrialChanges:
    """What ``trials_changed_since`` answers: ``trials``, in their current state, by
    ``number``; ``seq``: the change sequence the caller is now caught up to (pass it to
    the next call)."""

    seq: int
    trials: list[TrialRecord]


class TrialStore(ABC):
    """Where scans and trials live. See the module docstring for the invariants."""

    # ---- scans -------------------------------------------------------------------------

    @abstractmethod
    def create_scan(self, scan: ScanRecord) -> tuple[ScanRecord, bool]:
        """Store a new scan.

        Idempotent by ``(scan.owner, scan.client_token)`` when a client token is given:
        a second call with the same pair returns the first scan unchanged.

        Returns:
            The stored scan, and True when it was created by this call.
        Raises:
            ScanExistsError: another scan already has ``scan.scan_id``.
        """

    @abstractmethod
    def get_scan(self, scan_id: str) -> ScanRecord:
        """Raises:
        ScanNotFoundError: no such scan.
        """

    @abstractmethod
    def list_scans(
        self,
        owner: str,
        *,
        status: ScanStatus | None = None,
        tag: tuple[str, str] | None = None,
    ) -> list[ScanRecord]:
        """The scans listed under ``owner`` (a scan's stored owner, unless
        :meth:`relist_scan` moved it), newest first, filtered by status and by one
        ``(key, value)`` tag."""

    @abstractmethod
    def scans_listed_under(self, prefix: str) -> list[tuple[str, str]]:
        """``(scan_id, listed as)`` of every scan, of every owner, whose listing key
        (what :meth:`list_scans` finds it by) starts with ``prefix``: one read of every
        scan's key (never of a trial), for a one-time pass such as the scans stored before
        tenancy (``arn:``)."""

    @abstractmethod
    def relist_scan(self, scan_id: str, *, listed_as: str, list_as: str) -> bool:
        """List the scan under ``list_as`` instead of ``listed_as``: ``list_scans(list_as)``
        finds it, ``list_scans(listed_as)`` no longer does. The record, its ``owner``
        included, stays as stored. Compare-and-set, so a repeated or racing call is
        harmless.

        Returns:
            False, changing nothing, when the scan is not listed under ``listed_as`` (moved
            already, or no such scan).
        """

    @abstractmethod
    def set_scan_status(
        self,
        scan_id: str,
        status: ScanStatus,
        *,
        reason: str | None = None,
        expected: ScanStatus | None = ScanStatus.RUNNING,
        now: float,
    ) -> bool:
        """Compare-and-set the scan status. Sets ``finished_at`` when ``status`` is finished
        (and clears it when it is RUNNING).

        Returns:
            False when the current status is not ``expected`` (None: any status).
        Raises:
            ScanNotFoundError: no such scan.
        """

    @abstractmethod
    def delete_scan(self, scan_id: str) -> ScanRecord:
        """Delete the scan, its trials, their intermediate values and its client token
        (a later ``create_scan`` with that token makes a new scan). The scan goes first:
        once this returns or fails midway, ``get_scan`` raises ScanNotFoundError.

        Returns:
            The scan as it was.
        Raises:
            ScanNotFoundError: no such scan (also when it was deleted before).
        """

    @abstractmethod
    def set_max_run(self, scan_id: str, max_run: int) -> ScanRecord:
        """Change ``max_run`` (``extend``). Raises ScanNotFoundError."""

    @abstractmethod
    def skip_cursor(self, scan_id: str, expected_cursor: int) -> bool:
        """Advance the cursor by one without creating a trial (a grid cell that duplicates
        an existing trial). Returns False when the cursor is no longer ``expected_cursor``.
        Raises ScanNotFoundError."""

    # ---- trials ------------------------------------------------------------------------

    @abstractmethod
    def insert_trial(
        self,
        trial: TrialRecord,
        *,
        expected_cursor: int | None = None,
        max_trials: int | None = None,
    ) -> InsertResult:
        """Create a trial (QUEUED; RUNNING when it is claimed on creation; COMPLETED when it
        takes the result of an identical trial of an earlier scan) and increment
        the scan's ``trial_count`` in one atomic write. With ``expected_cursor`` the scan's
        cursor must equal it and is advanced by one in the same write.

        ``trial.number`` is ignored: the store assigns the scan's ``trial_count`` before the
        write, so numbers are 0, 1, 2, ... without gaps.

        Returns:
            CREATED, or why nothing was written (checked in the order DUPLICATE,
            CURSOR_MOVED, LIMIT_REACHED).
        Raises:
            ScanNotFoundError: no such scan.
        """

    @abstractmethod
    def get_trial(self, trial_id: str) -> TrialRecord:
        """Raises TrialNotFoundError."""

    @abstractmethod
    def iter_trials(
        self, scan_id: str, *, states: frozenset[TrialState] | None = None, after: int = -1
    ) -> Iterator[TrialRecord]:
        """The scan's trials by ``number``, streamed (a 100,000-trial scan is not held in
        memory by the store), in ``states`` (None: every state), from the first one whose
        number is above ``after`` (the cursor of a paginated listing: the last number of
        the previous page)."""

    def list_trials(
        self, scan_id: str, *, states: frozenset[TrialState] | None = None
    ) -> list[TrialRecord]:
        return list(self.iter_trials(scan_id, states=states))

    @abstractmethod
    def trials_changed_since(self, scan_id: str, seq: int | None) -> TrialChanges:
        """The scan's trials changed after change sequence ``seq`` (None: every trial),
        for a reader that keeps its own copy of the scan's trials (the API's live study).

        Every trial changed after ``seq`` and at or below the returned ``seq`` is in
        ``trials``, in a state at least as new as that change; a trial may also come
        back with changes past the returned ``seq`` (it comes back again on the next
        call). A caller that applies each answer and passes its ``seq`` to the next call
        thus holds every trial as it was at or after that ``seq``. The returned ``seq``
        never goes below the ``seq`` given. No trials for an unknown scan.
        """

    @abstractmethod
    def claim_queued(
        self, scan_id: str, worker_id: str, *, lease_seconds: float, now: float
    ) -> TrialRecord | None:
        """Atomically move the oldest QUEUED trial of the scan to RUNNING for ``worker_id``:
        ``attempt + 1``, lease until ``now + lease_seconds``, ``started_at = now``.

        Returns:
            The claimed trial, or None when no trial is QUEUED.
        """

    @abstractmethod
    def claim_trial(
        self, trial_id: str, worker_id: str, *, lease_seconds: float, now: float
    ) -> TrialRecord | None:
        """Claim one named trial, as ``claim_queued`` does. Returns None when it is not
        QUEUED (another worker holds it). Raises TrialNotFoundError, TrialFinishedError."""

    @abstractmethod
    def heartbeat(
        self, trial_id: str, worker_id: str, attempt: int, *, lease_seconds: float, now: float
    ) -> TrialRecord:
        """Extend the lease of a RUNNING trial held by ``(worker_id, attempt)``.

        Raises:
            TrialFinishedError: the trial is finished.
            LeaseLostError: the trial is not RUNNING under this worker and attempt, or its
                lease had already expired at ``now``.
        """

    @abstractmethod
    def record_intermediate(self, trial_id: str, metric: str, step: int, value: float) -> None:
        """Store one intermediate value (idempotent per ``(trial, metric, step)``; the last
        write wins) and raise the trial's ``last_step``. Raises TrialFinishedError."""

    @abstractmethod
    def intermediate_values(
        self, scan_id: str, metric: str, *, trial_ids: Collection[str] | None = None
    ) -> dict[str, dict[int, float]]:
        """``{trial_id: {step: value}}`` for one metric over the scan's trials (only over
        ``trial_ids`` when given: reads just their curves, e.g. the running trials')."""

    @abstractmethod
    def set_prune_decision(self, trial_id: str, decision: PruneDecision) -> None:
        """Record the latest pruning decision on the trial. Raises TrialFinishedError."""

    @abstractmethod
    def record_checkpoint(self, trial_id: str, checkpoint: Checkpoint) -> TrialRecord:
        """Record the trial's latest checkpoint (kept across requeues). A checkpoint at a
        lower step than the stored one is ignored. Raises TrialFinishedError."""

    @abstractmethod
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
        """Move a QUEUED or RUNNING trial to a finished ``state``; adds the running time of
        this attempt to ``duration_s``; clears the lease. With ``expected_attempt``, the
        trial must be RUNNING at that attempt.

        Raises:
            TrialFinishedError: already finished (nothing changes).
            LeaseLostError: ``expected_attempt`` given and not matched.
        """

    @abstractmethod
    def requeue_trial(
        self,
        trial_id: str,
        reason: RequeueReason,
        *,
        now: float,
        expected_attempt: int | None = None,
        message: str | None = None,
    ) -> TrialRecord | None:
        """Move a RUNNING trial back to QUEUED, keeping its checkpoint, adding 1 to
        ``preemptions`` or ``errors`` (by ``reason``) and this attempt's running time to
        ``duration_s``; clears worker and lease.

        Returns:
            The trial, or None when it was not RUNNING at ``expected_attempt`` (someone
            else already requeued or finished it).
        Raises:
            TrialFinishedError: already finished.
        """

    @abstractmethod
    def expired_leases(self, scan_id: str, now: float) -> list[TrialRecord]:
        """RUNNING trials of the scan whose lease expired before ``now`` (a lease that
        ends at ``now`` still holds), by ``number``."""

    @abstractmethod
    def stale_trials(self, now: float) -> list[TrialRecord]:
        """RUNNING trials of every scan, of every owner, whose lease expired before
        ``now``, by ``(scan_id, number)``: the stale-lease reaper's search.

        Reads only the running trials (an index of them), never every trial of every
        scan; each trial returned is read back from the trial itself, so a lease that a
        heartbeat has just extended is not returned. Changes nothing: re-queueing is the
        caller's (``requeue_trial`` with ``expected_attempt``).
        """

    @abstractmethod
    def count_scans_by_status(self) -> dict[ScanStatus, int]:
        """How many scans of every owner are in each status (every status present, zeros
        included): the operator's dashboard. Reads the scans, never their trials."""

    @abstractmethod
    def counts(self, scan_id: str) -> dict[TrialState, int]:
        """Exact number of trials per state (every state present, zeros included).
        Raises ScanNotFoundError."""

    @abstractmethod
    def set_trial_tags(self, trial_id: str, tags: dict[str, str]) -> TrialRecord:
        """Merge tags into a trial (allowed on finished trials: tags are annotations)."""
