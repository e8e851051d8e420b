"""``Trial``: one trial over the API, as its worker (or a person) sees it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from scanfleet.client._errors import ConflictError
from scanfleet.records import Checkpoint, PruneDecision, TrialRecord, TrialState

if TYPE_CHECKING:
    from scanfleet.client._client import Client


class Trial:
    """A trial and, when it was claimed through this SDK, the lease that goes with it.

    A claimed trial remembers the ``worker_id`` and ``attempt`` of its claim and sends them:
    ``heartbeat()`` extends that lease, and ``complete``/``prune``/``fail`` carry the
    attempt, so a worker whose lease ran out (and whose trial went to someone else) gets
    ``ConflictError(lease_lost)`` instead of overwriting the other attempt. ``refresh()``
    updates ``record`` but never the lease.

    Built from a record alone (``Trial(client, record)``, as the runtime builds the trial
    it runs), a RUNNING record gives its worker and attempt: its end is guarded by that
    attempt. A trial that is not running has no lease: ``heartbeat()`` refuses, and it is
    finished by hand without an attempt guard.
    """

    def __init__(
        self,
        client: Client,
        record: TrialRecord,
        *,
        worker_id: str | None = None,
        attempt: int | None = None,
    ) -> None:
        self._client = client
        self.record = record
        running = record.state is TrialState.RUNNING
        if worker_id is None and running:
            worker_id = record.worker_id
        if attempt is None and (worker_id is not None or running):
            attempt = record.attempt
        self.worker_id = worker_id
        self._lease_attempt = attempt
        self.last_decision: PruneDecision | None = None

    def __repr__(self) -> str:
        return f"Trial(id={self.id!r}, state={self.state.value}, params={self.params!r})"

    # ---- what it is ----------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self.record.trial_id

    @property
    def scan_id(self) -> str:
        return self.record.scan_id

    @property
    def params(self) -> dict[str, Any]:
        return self.record.params

    @property
    def number(self) -> int:
        return self.record.number

    @property
    def attempt(self) -> int:
        """The attempt this trial was claimed as (else the record's latest attempt)."""
        return self._lease_attempt if self._lease_attempt is not None else self.record.attempt

    @property
    def state(self) -> TrialState:
        return self.record.state

    @property
    def values(self) -> dict[str, float]:
        return self.record.values

    @property
    def checkpoint_record(self) -> Checkpoint | None:
        """The last checkpoint (a resumed attempt starts after its step)."""
        return self.record.checkpoint

    # ---- talking to the API ----------------------------------------------------------------

    def _post(self, action: str, body: dict[str, Any]) -> Any:
        return self._client.http.request("POST", f"/trials/{self.id}/{action}", body).body

    def _update(self, data: Any) -> Trial:
        self.record = TrialRecord.model_validate(data)
        return self

    def _guard(self, body: dict[str, Any]) -> dict[str, Any]:
        if self._lease_attempt is not None:
            body["attempt"] = self._lease_attempt
        return body

    def _finish(
        self, action: str, body: dict[str, Any], done: Callable[[TrialRecord], bool]
    ) -> Trial:
        """POST an end of the trial. A retried call whose first attempt reached the server
        (its answer was lost) meets a 409: when the trial is now where we sent it, that is
        our own first attempt, and the call succeeded."""
        try:
            return self._update(self._post(action, self._guard(body)))
        except ConflictError as error:
            if error.attempts <= 1:
                raise
            if not done(self.refresh().record):
                raise
            return self

    def _same_attempt(self, trial: TrialRecord) -> bool:
        return self._lease_attempt is None or trial.attempt == self._lease_attempt

    def refresh(self) -> Trial:
        """Reload the record (not the lease)."""
        return self._update(self._client.http.request("GET", f"/trials/{self.id}").body)

    def report(self, name: str, value: float, step: int) -> bool:
        """Store an intermediate value at ``step``; True when the pruner says to stop now
        (remembered for ``should_prune()``; the reason is in ``last_decision``)."""
        data = self._post("reports", {"metric": name, "step": int(step), "value": float(value)})
        self.last_decision = PruneDecision.model_validate(data)
        return self.last_decision.prune

    def should_prune(self) -> bool:
        """The answer of the last ``report()``."""
        return self.last_decision is not None and self.last_decision.prune

    def heartbeat(self) -> Trial:
        """Extend the lease of this claim.

        Raises:
            ConflictError: ``lease_lost`` (another attempt holds the trial) or
                ``trial_finished`` (e.g. the scan was cancelled): stop working on it.
            ValueError: the trial was not claimed through this SDK.
        """
        if self.worker_id is None or self._lease_attempt is None:
            raise ValueError(f"trial {self.id} was not claimed here: there is no lease to extend")
        body = {"worker_id": self.worker_id, "attempt": self._lease_attempt}
        return self._update(self._post("heartbeat", body))

    @property
    def tags(self) -> dict[str, str]:
        return self.record.tags

    def tag(self, tags: dict[str, str] | None = None, **more: str) -> Trial:
        """Merge tags into the trial (finished trials too): ``trial.tag(note="baseline")``
        or ``trial.tag({"data-version": "3"})``."""
        merged = {str(k): str(v) for k, v in {**(tags or {}), **more}.items()}
        return self._update(self._post("tags", {"tags": merged}))

    def checkpoint(self, step: int, uri: str) -> Trial:
        """Record that a checkpoint of ``step`` is at ``uri`` (a resumed attempt uses it)."""
        return self._update(self._post("checkpoints", {"step": int(step), "uri": uri}))

    def complete(self, value: float | dict[str, float]) -> Trial:
        """Finish with the scan's metric (a number) or several metrics (a dict).

        Raises:
            BadRequestError: the scan's metric is missing or not a finite number.
            ConflictError: ``trial_finished`` or ``lease_lost``.
        """
        if isinstance(value, dict):
            sent = {name: float(v) for name, v in value.items()}
            body: dict[str, Any] = {"values": sent}

            def done(t: TrialRecord) -> bool:
                same = all(t.values.get(k) == v for k, v in sent.items())
                return t.state is TrialState.COMPLETED and same and self._same_attempt(t)
        else:
            number = float(value)
            body = {"value": number}

            def done(t: TrialRecord) -> bool:
                same = number in t.values.values()
                return t.state is TrialState.COMPLETED and same and self._same_attempt(t)

        return self._finish("complete", body, done)

    def prune(self) -> Trial:
        """Finish as PRUNED (its value is the last one it reported)."""
        return self._finish(
            "prune", {}, lambda t: t.state is TrialState.PRUNED and self._same_attempt(t)
        )

    def fail(self, reason: str, *, preempted: bool = False, retry: bool = True) -> Trial:
        """Give the trial up: QUEUED again while its budget allows (``preempted``: the
        preemption budget, else the error budget when ``retry``), else FAILED."""
        body = {"reason": reason, "preempted": preempted, "retry": retry}

        def done(t: TrialRecord) -> bool:
            return t.state in (TrialState.QUEUED, TrialState.FAILED) or (
                t.state is TrialState.RUNNING and t.attempt != self._lease_attempt
            )

        return self._finish("fail", body, done)
