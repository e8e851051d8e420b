"""``TrialCalls``: what a running trial's script says to the API, over plain JSON.

The same routes, bodies and guards as ``scanfleet.client.Trial`` (``POST
/trials/{id}/reports|complete|checkpoints|tags``; ``complete`` carries the attempt, so an
attempt whose lease ran out gets ``LeaseLostError`` instead of overwriting another), sent
through the one ``Transport`` (idempotency keys, retries on 408/429/5xx/``store_busy``),
with answers left as dicts: no pydantic on a training script's path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from scanfleet.errors import ConflictError
from scanfleet.transport.sending import Transport

TYPE_CHECKING = False  # typing is not imported at run time: a script's path
if TYPE_CHECKING:
    from typing import Any

COMPLETED = "COMPLETED"  # scanfleet.records.TrialState.COMPLETED, as the API writes it (a test
# holds them equal)


def user_agent() -> str:
    """``scanfleet-python/<version>``, as the full SDK sends it."""
    from scanfleet import __version__

    return f"scanfleet-python/{__version__}"


class TrialCalls:
    """The API calls of the trial ``trial_id``, claimed as ``attempt``."""

    def __init__(self, transport: Transport, trial_id: str, *, attempt: int) -> None:
        self.transport = transport
        self.trial_id = trial_id
        self.attempt = attempt
        self.last_decision: dict[str, Any] | None = None

    def _post(self, action: str, body: dict[str, Any]) -> Any:
        return self.transport.request("POST", f"/trials/{self.trial_id}/{action}", body).body

    def get(self) -> dict[str, Any]:
        """The trial's record, as the API answers it."""
        return dict(self.transport.request("GET", f"/trials/{self.trial_id}").body or {})

    def report(self, name: str, value: float, step: int) -> bool:
        """Store an intermediate value; True when the pruner says to stop now."""
        body = {"metric": name, "step": int(step), "value": float(value)}
        self.last_decision = dict(self._post("reports", body) or {})
        return bool(self.last_decision.get("prune"))

    def complete(self, value: float | dict[str, float]) -> dict[str, Any]:
        """Finish with the scan's metric (a number) or several metrics (a dict).

        Raises:
            BadRequestError: the metric is missing or not a finite number.
            ConflictError: ``trial_finished`` or ``lease_lost``.
        """
        if isinstance(value, Mapping):
            sent = {name: float(v) for name, v in value.items()}
            body: dict[str, Any] = {"values": sent}

            def done(t: Mapping[str, Any]) -> bool:
                values = t.get("values") or {}
                return _completed_by_us(t, self.attempt) and all(
                    values.get(k) == v for k, v in sent.items()
                )
        else:
            number = float(value)
            body = {"value": number}

            def done(t: Mapping[str, Any]) -> bool:
                values = (t.get("values") or {}).values()
                return _completed_by_us(t, self.attempt) and number in values

        return self._finish("complete", {**body, "attempt": self.attempt}, done)

    def checkpoint(self, step: int, uri: str) -> dict[str, Any]:
        """Record that a checkpoint of ``step`` is at ``uri``; the trial's record."""
        return dict(self._post("checkpoints", {"step": int(step), "uri": uri}) or {})

    def tag(self, tags: dict[str, str] | None = None, **more: str) -> dict[str, Any]:
        """Merge tags into the trial; the trial's record."""
        merged = {str(k): str(v) for k, v in {**(tags or {}), **more}.items()}
        return dict(self._post("tags", {"tags": merged}) or {})

    def _finish(
        self, action: str, body: dict[str, Any], done: Callable[[Mapping[str, Any]], bool]
    ) -> dict[str, Any]:
        """A retried end whose first attempt reached the server (its answer lost) meets a
        409: when the trial is now where we sent it, the call succeeded."""
        try:
            return dict(self._post(action, body) or {})
        except ConflictError as error:
            if error.attempts <= 1:
                raise
            record = self.get()
            if not done(record):
                raise
            return record


def _completed_by_us(trial: Mapping[str, Any], attempt: int) -> bool:
    return trial.get("state") == COMPLETED and trial.get("attempt") == attempt
