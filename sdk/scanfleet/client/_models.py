"""Response bodies the SDK parses beyond the records of ``scanfleet.records``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from scanfleet.records import ScanRecord, SeedSummary, TrialRecord, TrialState


class ScanSummary(BaseModel):
    """``GET /scans/{id}`` and friends: a scan, its counts per state, its best trial."""

    model_config = ConfigDict(extra="ignore")

    scan: ScanRecord
    counts: dict[TrialState, int] = Field(default_factory=dict)
    best_trial: TrialRecord | None = None
    planned_trials: int | None = None  # max_run, or fewer when the grid has fewer cells
    best_trials: list[TrialRecord] = Field(default_factory=list)  # the Pareto front
    seeds: SeedSummary | None = None  # the seed runs of the best trial


class ScanList(BaseModel):
    model_config = ConfigDict(extra="ignore")

    scans: list[ScanRecord]


class TrialList(BaseModel):
    """One page of ``GET /scans/{id}/trials``; ``next_after``: the cursor of the next page."""

    model_config = ConfigDict(extra="ignore")

    trials: list[TrialRecord]
    next_after: int | None = None


class IntermediateValues(BaseModel):
    """One page of ``GET /scans/{id}/intermediate-values``: one metric's curves by trial
    id; ``next_after``: the cursor of the next page."""

    model_config = ConfigDict(extra="ignore")

    metric: str
    trials: dict[str, dict[int, float]] = Field(default_factory=dict)
    next_after: int | None = None
