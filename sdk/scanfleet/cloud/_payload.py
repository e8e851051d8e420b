"""What the state machine passes between its steps: ids and counters, never trial lists,
so every payload stays a few hundred bytes (Step Functions allows 256 KB).

The field names are the JSON keys of the payloads; ``infra/orchestration.py`` builds its
JsonPaths from :class:`Key` (``scanfleet.names.PayloadKey``), so the construct and the
handlers cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from scanfleet.names import LaneAction
from scanfleet.names import PayloadKey as Key


class ExecutionInput(BaseModel):
    """The input of one execution. ``lanes`` None: every lane of the scan (``max_worker``)."""

    model_config = ConfigDict(extra="ignore")

    scan_id: str
    owner: str
    run: str = Field(description="short id shared by the executions of one start or restart")
    generation: int = Field(0, ge=0, description="how many hand-offs led to this execution")
    lanes: list[int] | None = None


class Plan(BaseModel):
    """What the Plan step answers: the lanes this execution runs and their event budget."""

    scan_id: str
    owner: str
    run: str
    generation: int
    lanes: list[int]
    budget: int = Field(description="history events each lane of this execution may use")
    job_definition: str | None = Field(None, description="ARN of the Batch job definition")


class Lane(BaseModel):
    """The state of one lane between its steps."""

    model_config = ConfigDict(extra="ignore")

    scan_id: str
    owner: str
    run: str
    generation: int
    lane: int
    budget: int
    state_machine: str = Field(description="ARN of this state machine (from the context)")
    execution: str = Field(description="name of this execution (from the context)")
    events: int = Field(0, description="history events this lane has used so far")
    action: LaneAction | None = None
    trial_id: str | None = None
    attempt: int | None = None
    job_definition: str | None = None

    @property
    def worker_id(self) -> str:
        """Who holds the lane's trial: the lane of this execution (one trial at a time)."""
        return f"{self.execution}/lane-{self.lane}"

    def next(self, action: LaneAction, **changes: Any) -> Lane:
        cleared: dict[str, Any] = {"trial_id": None, "attempt": None}
        return self.model_copy(update={**cleared, "action": action, **changes})

    def dump(self) -> dict[str, Any]:
        """The payload: the lane's own fields, plus the worker id the Batch job runs as."""
        return {**self.model_dump(mode="json"), Key.WORKER_ID.value: self.worker_id}
