"""Request and response bodies of the HTTP API.

Requests are validated by these models (unknown fields are refused, so a typo is a 400
and not a silently ignored option). Answers are the records of ``scanfleet.records`` and
``ScanSummary`` of the service, dumped with ``model_dump(mode="json")``; the SDK parses the
same models, so the schema exists once.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from scanfleet.records import ScanRecord, ScanStatus, TrialRecord

MAX_INT = 2**53 - 1  # the largest integer every JSON reader keeps exact
WorkerId = Annotated[str, Field(min_length=1, max_length=200)]
Attempt = Annotated[int, Field(ge=1, le=MAX_INT, description="the attempt the worker holds")]
Step = Annotated[int, Field(ge=0, le=MAX_INT)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateScanBody(_Body):
    name: str = Field(min_length=1, max_length=200)
    config: dict[str, Any] = Field(description="the scan config (docs/config.md) as an object")
    script_content: str | None = Field(
        None,
        max_length=5_000_000,
        description="the text of the config's `script`, uploaded with the scan (run inputs)",
    )


class StatusBody(_Body):
    status: Literal[ScanStatus.RUNNING, ScanStatus.COMPLETED]


class ExtendBody(_Body):
    max_run: int = Field(ge=1, le=MAX_INT)


class AddTrialBody(_Body):
    params: dict[str, Any]
    tags: dict[str, str] = Field(default_factory=dict)


class ClaimBody(_Body):
    worker_id: WorkerId
    lease_seconds: float | None = Field(None, gt=0, le=7 * 24 * 3600)


class HeartbeatBody(_Body):
    worker_id: WorkerId
    attempt: Attempt


class ReportBody(_Body):
    metric: str = Field(min_length=1, max_length=200)
    step: Step
    value: float


class CheckpointBody(_Body):
    step: Step
    uri: str = Field(min_length=1, max_length=2048)


class CompleteBody(_Body):
    """Exactly one of ``values`` (every metric by name) or ``value`` (the scan's metric)."""

    values: dict[str, float] | None = None
    value: float | None = None
    attempt: Attempt | None = None

    @model_validator(mode="after")
    def _one_of_values_or_value(self) -> CompleteBody:
        if (self.values is None) == (self.value is None):
            raise ValueError("give either 'values' or 'value'")
        return self

    def result(self) -> dict[str, float] | float:
        if self.values is not None:
            return self.values
        assert self.value is not None  # the validator guarantees one of them
        return self.value


class PruneBody(_Body):
    attempt: Attempt | None = None


class FailBody(_Body):
    reason: str = Field(min_length=1, max_length=4000)
    attempt: Attempt | None = None
    preempted: bool = Field(False, description="a Spot notice or a lost machine, not the script")
    retry: bool = Field(True, description="false: fail for good, whatever the budget")


class SeedsBody(_Body):
    n: int = Field(ge=1, le=1000, description="seeds to run the best parameters with")


class TagsBody(_Body):
    tags: dict[str, str] = Field(min_length=1, description="merged into the trial's tags")


class ScanList(BaseModel):
    scans: list[ScanRecord]


class TrialList(BaseModel):
    trials: list[TrialRecord]
    next_after: int | None = Field(
        None, description="more trials follow: ask again with after=next_after; None: the last page"
    )


PAGE_LIMIT = 1000  # trials per page of a listing (a page stays far below Lambda's 6 MB)


# A page of curves holds at most CURVE_PAGE_LIMIT trials (the default; the caller may ask up
# to PAGE_LIMIT) and ends before CURVE_PAGE_POINTS values. The widest value in JSON,
# '"9007199254740991": -1.2345678901234567e-308, ', is 46 bytes (48 once API Gateway's proxy
# escapes it), so a page stays under 2.5 MB of Lambda's 6 MB cap; only a single curve longer
# than the point cap, alone on its page, is bigger (a curve is never split).
CURVE_PAGE_LIMIT = 100
CURVE_PAGE_POINTS = 50_000


class IntermediateValues(BaseModel):
    metric: str
    trials: dict[str, dict[int, float]] = Field(description="{trial_id: {step: value}}")
    next_after: int | None = Field(
        None, description="more curves follow: ask again with after=next_after; None: the last page"
    )


class Health(BaseModel):
    status: str


class ErrorDetail(BaseModel):
    code: str = Field(description="stable, for programs to match on")
    message: str = Field(description="for people")
    details: Any = Field(None, description="e.g. [{path, message}] of a rejected body")


class ErrorBody(BaseModel):
    """The one shape of every error the API answers."""

    error: ErrorDetail


_ERRORS = {
    400: "invalid_request (the body or query, with field paths) or a domain rule",
    401: "unauthorized: no identity",
    404: "not_found: no such scan or trial for this caller",
    409: "conflict: the trial or scan is not in a state that allows it",
    410: "scan_finished: nothing more will be handed out",
}


def answers(
    model: type[BaseModel],
    *errors: int,
    created: str | None = None,
    empty: str | None = None,
) -> dict[int, Any]:
    """The OpenAPI ``responses`` of a route: its answer model, and the errors it can give
    besides 400 and 401 (which every route can). ``created``: the route answers 201 when
    it created the thing, 200 (described by ``created``) when it existed already.
    ``empty``: the route may answer 204 without a body (described by ``empty``)."""
    content = {"application/json": {"model": model}}
    out: dict[int, Any] = {200: {"description": created or "OK", "content": content}}
    if created:
        out[201] = {"description": "created", "content": content}
    if empty:
        out[204] = {"description": empty}
    for code in sorted({400, 401, *errors}):
        out[code] = {
            "description": _ERRORS.get(code, "error"),
            "content": {"application/json": {"model": ErrorBody}},
        }
    return out


def dump(model: BaseModel) -> dict[str, Any]:
    """A record as it goes on the wire."""
    return model.model_dump(mode="json")
