"""What the store keeps: one scan record per scan, one trial record per trial.

Records are plain pydantic models so the API, the SDK and both stores share one schema.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
import time
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

# ---- metric values on the wire --------------------------------------------------------------

_NON_FINITE_TEXT = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def encode_metric_value(value: float) -> float | str:
    """A metric value as strict JSON carries it: NaN, inf and -inf (a diverged run) as the
    strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``; a finite number as itself. The one
    encoding of the API's answers; ``decode_metric_value`` reads it back."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def decode_metric_value(value: Any) -> Any:
    """``encode_metric_value`` undone: the three strings become floats (anything else is
    left to float validation)."""
    if isinstance(value, str) and value in _NON_FINITE_TEXT:
        return _NON_FINITE_TEXT[value]
    return value


MetricValue = Annotated[
    float,
    BeforeValidator(decode_metric_value),
    PlainSerializer(encode_metric_value, return_type=Any, when_used="json"),
]
"""A float that may be NaN or infinite, written to JSON by ``encode_metric_value``."""


class TrialState(StrEnum):
    """``QUEUED → RUNNING → COMPLETED | PRUNED | FAILED``; ``RUNNING → QUEUED`` on requeue."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    PRUNED = "PRUNED"
    FAILED = "FAILED"

    def is_finished(self) -> bool:
        return self in (TrialState.COMPLETED, TrialState.PRUNED, TrialState.FAILED)


class ScanStatus(StrEnum):
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    def is_finished(self) -> bool:
        return self is not ScanStatus.RUNNING


class RequeueReason(StrEnum):
    """Why a running trial went back to the queue; each has its own budget."""

    PREEMPTED = "PREEMPTED"  # Spot notice, SIGTERM, lease lost: not the script's fault
    ERROR = "ERROR"  # the script failed and has retries left


class Checkpoint(BaseModel):
    step: int = Field(ge=0)
    uri: str


class PruneDecision(BaseModel):
    step: int
    prune: bool
    reason: str


class Lineage(BaseModel):
    """Where a population-based-training trial comes from. A trial is one member of the
    population for one generation; it starts from ``parent_checkpoint`` (a copy of it is
    the trial's own ``checkpoint``) and trains until ``stop_step``."""

    generation: int = Field(ge=0)
    member: int = Field(ge=0)
    stop_step: int = Field(ge=0, description="train up to this step, then complete")
    parent_trial_id: str | None = Field(
        None, description="the trial whose checkpoint (and params) this one starts from"
    )
    parent_checkpoint_uri: str | None = Field(None, description="the parent's checkpoint")
    exploited: bool = Field(
        False, description="True: a bottom member that took a top member's checkpoint and params"
    )
    explored: dict[str, str] = Field(
        default_factory=dict, description="parameter: how it moved (`x0.8`, `resampled`)"
    )


class TrialRecord(BaseModel):
    """One trial. Finished trials are immutable."""

    model_config = ConfigDict(extra="ignore")

    scan_id: str
    trial_id: str
    number: int = Field(ge=0, description="order of creation within the scan")
    params: dict[str, Any]
    state: TrialState = TrialState.QUEUED
    attempt: int = Field(0, description="how many times the trial was claimed")
    preemptions: int = 0
    errors: int = 0
    worker_id: str | None = None
    lease_expires_at: float | None = None
    checkpoint: Checkpoint | None = None
    values: dict[str, MetricValue] = Field(
        default_factory=dict,
        description='final metrics (a pruned trial\'s last value may be "NaN" or "[-]Infinity")',
    )
    last_step: int | None = None
    prune_decision: PruneDecision | None = None
    failure_reason: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    user_attrs: dict[str, Any] = Field(default_factory=dict)
    lineage: Lineage | None = None
    created_at: float = Field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    duration_s: float = Field(0.0, description="running time summed over attempts")

    def value(self, metric: str) -> float | None:
        v = self.values.get(metric)
        return None if v is None or math.isnan(v) else v


class ScanRecord(BaseModel):
    """One scan: its validated config (as a dict) and its bookkeeping."""

    model_config = ConfigDict(extra="ignore")

    scan_id: str
    name: str
    owner: str = "local"
    config: dict[str, Any]
    status: ScanStatus = ScanStatus.RUNNING
    status_reason: str | None = None
    max_run: int
    cursor: int = Field(0, description="next position of the strategy (grid cell index)")
    trial_count: int = Field(0, description="trials created so far")
    tags: dict[str, str] = Field(default_factory=dict)
    client_token: str | None = None
    created_at: float = Field(default_factory=time.time)
    finished_at: float | None = None


class Spread(BaseModel):
    """A metric over the seed runs that finished with it."""

    n: int
    mean: float
    std: float = Field(description="sample standard deviation (n - 1); 0 for one run")
    sem: float = Field(description="standard error of the mean: std / sqrt(n)")


class SeedSummary(BaseModel):
    """The best parameters run with several seeds (hypnettorch's seed gathering)."""

    best_trial_id: str
    params: dict[str, object] = Field(description="the best trial's parameters")
    param: str = Field(description="the parameter the seed went in")
    runs: int = Field(description="seed runs queued")
    finished: int = Field(description="seed runs finished")
    spread: Literal["std", "sem"] = Field(description="which spread people asked for")
    metrics: dict[str, Spread] = Field(description="metric: its spread over COMPLETED runs")

    def lines(self) -> list[str]:
        """``loss: 0.412 ± 0.013 (std, n=10)`` per metric."""
        return [
            f"{name}: {s.mean:.6g} ± {getattr(s, self.spread):.6g} ({self.spread}, n={s.n})"
            for name, s in self.metrics.items()
        ]


def new_scan_id() -> str:
    """Short, URL-safe, sortable by nothing; ``sc`` + 10 base-32 characters."""
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
    return "sc" + "".join(secrets.choice(alphabet) for _ in range(10))


def canonical_params(params: dict[str, Any]) -> str:
    """The one serialisation used for identity: sorted keys, no whitespace, floats as repr."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)


def trial_id_for(scan_id: str, params: dict[str, Any], *, slot: str | None = None) -> str:
    """A trial's key: the scan id and a hash of its canonical parameters (experimaestro).

    ``slot`` names a place a trial fills besides its parameters (population-based
    training: a member in a generation, whose parameters may equal another member's)."""
    text = canonical_params(params) if slot is None else f"{canonical_params(params)}\n{slot}"
    digest = hashlib.sha256(f"{scan_id}\n{text}".encode()).hexdigest()
    return f"{scan_id}-{digest[:16]}"


def scan_id_of(trial_id: str) -> str:
    """The scan a trial id belongs to (ids are ``<scan_id>-<hash>``)."""
    scan_id, sep, _ = trial_id.rpartition("-")
    return scan_id if sep else ""


def metric_mismatch(reported: list[str], metrics: list[str]) -> str:
    """Why a trial that reported ``reported`` but not (all of) the scan's ``metrics``
    fails: ``reported val_loss, val_acc; the scan's metric is loss`` — the one wording of
    the service (a ``complete`` without the metric) and the worker (a script that exits
    without completing)."""
    scans = f"metric is {metrics[0]}" if len(metrics) == 1 else f"metrics are {', '.join(metrics)}"
    return f"reported {', '.join(reported)}; the scan's {scans}"
