"""The wire: everything two processes of scanfleet must agree on, defined once.

- the answers of the HTTP API (``ScanSummary``, ``ScanList``, ``TrialList``,
  ``IntermediateValues``, ``ErrorBody``): the API dumps them and the SDK parses them, so
  the schema exists once (requests are the API's own: ``scanfleet.api``);
- the error codes (``ErrorCode``, defined in ``scanfleet.names`` so that the error tree
  and the trial-side SDK need no pydantic): what a program matches on; each code is the
  ``code`` of exactly one class of ``scanfleet.errors``;
- the limits the API enforces (pages, tags, record sizes), so a client can check first;
- the names of ``scanfleet.names`` (environment variables, headers, exit codes, Step
  Functions payload keys, metrics), re-exported here so one import gives the whole wire;
  ``names`` stays their home because infra, the Lambdas and the worker import it.

Bottom floor: imports only ``scanfleet.records`` and ``scanfleet.names``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from scanfleet.names import (
    BATCH_RETRY_EXIT_CODES,
    ENV_API_URL,
    ENV_ATTEMPT,
    ENV_AUTH,
    ENV_BASE_MODEL,
    ENV_BUCKET_NAME,
    ENV_CHECKPOINT_DEADLINE,
    ENV_CHECKPOINT_DIR,
    ENV_CHECKPOINT_NOW_FILE,
    ENV_CHECKPOINT_URL,
    ENV_DATASET,
    ENV_DB_PATH,
    ENV_INPUTS_CACHE,
    ENV_JOB_DEFINITION,
    ENV_JOB_QUEUE,
    ENV_LOGS_DIR,
    ENV_METADATA_INTERVAL,
    ENV_METADATA_URL,
    ENV_PARAMS,
    ENV_POLL_INTERVAL,
    ENV_RESULT_FILE,
    ENV_RESUME_STEP,
    ENV_SCAN_ID,
    ENV_STATE_DIR,
    ENV_STATE_MACHINE_ARN,
    ENV_STOP_STEP,
    ENV_TABLE_NAME,
    ENV_TOKEN,
    ENV_TOKEN_SECRET,
    ENV_TRIAL_ID,
    ENV_WORKER_ID,
    HEADER_AUTHORIZATION,
    HEADER_IDEMPOTENCY_KEY,
    METADATA_OFF,
    METRICS_NAMESPACE,
    METRICS_SERVICE,
    ErrorCode,
    ExitCode,
    LaneAction,
    Metric,
    PayloadKey,
    error_code_of,
    scans_metric,
)
from scanfleet.records import MetricValue, ScanRecord, SeedSummary, TrialRecord, TrialState

# ---- limits the API enforces --------------------------------------------------------------

MAX_INT = 2**53 - 1  # the largest integer every JSON reader keeps exact

PAGE_LIMIT = 1000  # trials per page of a listing (a page stays far below Lambda's 6 MB)

# A page of curves holds at most CURVE_PAGE_LIMIT trials (the default; the caller may ask up
# to PAGE_LIMIT) and ends before CURVE_PAGE_POINTS values. The widest value in JSON,
# '"9007199254740991": -1.2345678901234567e-308, ', is 46 bytes (48 once API Gateway's proxy
# escapes it), so a page stays under 2.5 MB of Lambda's 6 MB cap; only a single curve longer
# than the point cap, alone on its page, is bigger (a curve is never split).
CURVE_PAGE_LIMIT = 100
CURVE_PAGE_POINTS = 50_000

# Tags of a scan (its config's ``tags``) or of a trial. 50 tags of the longest key and value
# are under 60 KB, so tags alone can never push an item towards DynamoDB's 400 KB.
MAX_TAGS = 50
MAX_TAG_KEY_CHARS = 128
MAX_TAG_VALUE_CHARS = 1024
# What a caller puts into one record (a scan's name and config; a trial's params and tags),
# as compact JSON: what is left of DynamoDB's 400 KB item holds the record's own fields
# (state, values, checkpoint, failure reason) and the attribute names.
MAX_RECORD_BYTES = 300_000


# ---- answers of the API --------------------------------------------------------------------


class ScanSummary(BaseModel):
    """A scan with what people ask about it (``GET /scans/{id}`` and every change of a
    scan): counts per state, the best trial, the best trials (the Pareto front of several
    metrics) and the seed runs of the best one. A scan of ``GET /scans`` is summarised
    with its record alone."""

    scan: ScanRecord
    counts: dict[TrialState, int] = Field(default_factory=dict)
    best_trial: TrialRecord | None = None
    planned_trials: int | None = Field(
        None, description="max_run, or fewer when the strategy has fewer; plus seed runs"
    )
    best_trials: list[TrialRecord] = Field(default_factory=list)
    seeds: SeedSummary | None = None


class ScanList(BaseModel):
    """``GET /scans``."""

    scans: list[ScanRecord]


class TrialList(BaseModel):
    """One page of ``GET /scans/{id}/trials`` (and the whole of ``best-trials``)."""

    trials: list[TrialRecord]
    next_after: int | None = Field(
        None, description="more trials follow: ask again with after=next_after; None: the last page"
    )


class IntermediateValues(BaseModel):
    """One page of ``GET /scans/{id}/intermediate-values``: one metric's curves by trial."""

    metric: str
    trials: dict[str, dict[int, MetricValue]] = Field(
        default_factory=dict,
        description='{trial_id: {step: value}}; a value may be "NaN", "Infinity", "-Infinity"',
    )
    next_after: int | None = Field(
        None, description="more curves follow: ask again with after=next_after; None: the last page"
    )


class Health(BaseModel):
    """``GET /health``."""

    status: str


class ErrorDetail(BaseModel):
    code: str = Field(description="stable, for programs to match on (an ErrorCode)")
    message: str = Field(description="for people")
    details: Any = Field(None, description="e.g. [{path, message}] of a rejected body")


class ErrorBody(BaseModel):
    """The one shape of every error the API answers: ``{"error": {code, message, details}}``."""

    error: ErrorDetail


__all__ = [
    "BATCH_RETRY_EXIT_CODES",
    "CURVE_PAGE_LIMIT",
    "CURVE_PAGE_POINTS",
    "ENV_API_URL",
    "ENV_ATTEMPT",
    "ENV_AUTH",
    "ENV_BASE_MODEL",
    "ENV_BUCKET_NAME",
    "ENV_CHECKPOINT_DEADLINE",
    "ENV_CHECKPOINT_DIR",
    "ENV_CHECKPOINT_NOW_FILE",
    "ENV_CHECKPOINT_URL",
    "ENV_DATASET",
    "ENV_DB_PATH",
    "ENV_INPUTS_CACHE",
    "ENV_JOB_DEFINITION",
    "ENV_JOB_QUEUE",
    "ENV_LOGS_DIR",
    "ENV_METADATA_INTERVAL",
    "ENV_METADATA_URL",
    "ENV_PARAMS",
    "ENV_POLL_INTERVAL",
    "ENV_RESULT_FILE",
    "ENV_RESUME_STEP",
    "ENV_SCAN_ID",
    "ENV_STATE_DIR",
    "ENV_STATE_MACHINE_ARN",
    "ENV_STOP_STEP",
    "ENV_TABLE_NAME",
    "ENV_TOKEN",
    "ENV_TOKEN_SECRET",
    "ENV_TRIAL_ID",
    "ENV_WORKER_ID",
    "HEADER_AUTHORIZATION",
    "HEADER_IDEMPOTENCY_KEY",
    "MAX_INT",
    "MAX_RECORD_BYTES",
    "MAX_TAGS",
    "MAX_TAG_KEY_CHARS",
    "MAX_TAG_VALUE_CHARS",
    "METADATA_OFF",
    "METRICS_NAMESPACE",
    "METRICS_SERVICE",
    "PAGE_LIMIT",
    "ErrorBody",
    "ErrorCode",
    "ErrorDetail",
    "ExitCode",
    "Health",
    "IntermediateValues",
    "LaneAction",
    "Metric",
    "PayloadKey",
    "ScanList",
    "ScanSummary",
    "TrialList",
    "error_code_of",
    "scans_metric",
]
