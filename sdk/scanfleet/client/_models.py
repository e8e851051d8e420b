"""Response bodies the SDK parses beyond the records of ``scanfleet.records``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from scanfleet.records import ScanRecord, TrialRecord, TrialState


class ScanSummary(BaseModel):
    """``GET /scans/{id}`` and friends: a scan, its counts per state, its best trial."""

    model_config = ConfigDict(extra="ignore")

    scan: ScanRecord
    counts: dict[TrialState, int] = Field(default_factory=dict)
    best_trial: TrialRecord | None = None
    planned_trials: int | None = None  # max_run, or fewer when the grid has fewer cells


class ScanList(BaseModel):
    model_config = ConfigDict(extra="ignore")

    scans: list[ScanRecord]


class TrialList(BaseModel):
    model_config = ConfigDict(extra="ignore")

    trials: list[TrialRecord]
