"""Request and response bodies of the HTTP API (the SDK parses the same records)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from scanfleet.records import PruneDecision, ScanRecord, TrialRecord, TrialState


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateScanBody(_Body):
    name: str = Field(min_length=1, max_length=200)
    config: dict[str, Any]


class ExtendBody(_Body):
    max_run: int = Field(ge=1)


class AddTrialBody(_Body):
    params: dict[str, Any]
    tags: dict[str, str] = Field(default_factory=dict)


class ClaimBody(_Body):
    worker_id: str = Field(min_length=1, max_length=200)
    lease_seconds: float | None = Field(None, gt=0, le=7 * 24 * 3600)


class HeartbeatBody(_Body):
    worker_id: str = Field(min_length=1)
    attempt: int = Field(ge=1)


class ReportBody(_Body):
    metric: str = Field(min_length=1)
    step: int = Field(ge=0)
    value: float


class CheckpointBody(_Body):
    step: int = Field(ge=0)
    uri: str = Field(min_length=1)


class CompleteBody(_Body):
    values: dict[str, float] | None = None
    value: float | None = None
    attempt: int | None = Field(None, ge=1)


class PruneBody(_Body):
    attempt: int | None = Field(None, ge=1)


class FailBody(_Body):
    reason: str = Field(min_length=1, max_length=4000)
    attempt: int | None = Field(None, ge=1)
    preempted: bool = False
    retry: bool = True


class ScanList(BaseModel):
    scans: list[ScanRecord]


class TrialList(BaseModel):
    trials: list[TrialRecord]


class ScanSummaryBody(BaseModel):
    scan: ScanRecord
    counts: dict[TrialState, int]
    best_trial: TrialRecord | None
    planned_trials: int


__all__ = ["PruneDecision"]
