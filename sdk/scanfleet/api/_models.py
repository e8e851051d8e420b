"""Request bodies of the HTTP API, and the limits checked beyond their schema.

Requests are validated by these models (unknown fields are refused, so a typo is a 400
and not a silently ignored option). Answers are the records of ``scanfleet.records`` and
the models of ``scanfleet.wire``, dumped with ``model_dump(mode="json")``; the SDK parses
the same models, so the schema exists once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.json_schema import JsonDict

from scanfleet.config import MAX_RUN
from scanfleet.errors import InvalidRequestError
from scanfleet.records import ScanStatus
from scanfleet.wire import (
    CURVE_PAGE_LIMIT,
    CURVE_PAGE_POINTS,
    MAX_INT,
    MAX_RECORD_BYTES,
    MAX_TAG_KEY_CHARS,
    MAX_TAG_VALUE_CHARS,
    MAX_TAGS,
    PAGE_LIMIT,
    ErrorBody,
    IntermediateValues,
    ScanList,
    ScanSummary,
    TrialList,
)


def _integral(value: Any) -> Any:
    """JSON has one kind of number: ``3.0`` is the integer 3 (JSON Schema agrees), ``3.5``
    is no integer, and a boolean is no number at all (the bodies are strict)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


_INTEGRAL = BeforeValidator(_integral)  # after the Field: its bounds stay in the JSON schema
WorkerId = Annotated[str, Field(min_length=1, max_length=200)]
Attempt = Annotated[
    int, Field(ge=1, le=MAX_INT, description="the attempt the worker holds"), _INTEGRAL
]
Step = Annotated[int, Field(ge=0, le=MAX_INT), _INTEGRAL]


class _Body(BaseModel):
    """Strict: a number is a JSON number and a flag a JSON boolean, as documented; a
    boolean is no step, a numeric string no value (an integer is a valid float)."""

    model_config = ConfigDict(extra="forbid", strict=True)


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
    max_run: Annotated[int, Field(ge=1, le=MAX_RUN), _INTEGRAL]


# What the tag limits (checked by ``tag_problems``, with their own messages) look like in
# the OpenAPI document
_TAGS_SCHEMA: JsonDict = {
    "maxProperties": MAX_TAGS,
    "propertyNames": {"minLength": 1, "maxLength": MAX_TAG_KEY_CHARS},
    "additionalProperties": {"type": "string", "maxLength": MAX_TAG_VALUE_CHARS},
}


class AddTrialBody(_Body):
    params: dict[str, Any]
    tags: dict[str, str] = Field(
        default_factory=dict,
        description=f"at most {MAX_TAGS} (see docs/api.md, Limits)",
        json_schema_extra=_TAGS_SCHEMA,
    )


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

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["values"], "properties": {"values": {"type": "object"}}},
                {"required": ["value"], "properties": {"value": {"type": "number"}}},
            ]
        },
    )

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
    n: Annotated[
        int, Field(ge=1, le=1000, description="seeds to run the best parameters with"), _INTEGRAL
    ]


class TagsBody(_Body):
    tags: dict[str, str] = Field(
        min_length=1,
        description=f"merged into the trial's tags (at most {MAX_TAGS} in all; docs/api.md)",
        json_schema_extra=_TAGS_SCHEMA,
    )


_ERRORS = {
    400: "invalid_request (the body or query, with field paths; a limit) or a domain rule",
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


# ---- limits beyond the schema (docs/api.md, "Limits") --------------------------------------


def invalid_request(problems: list[dict[str, str]]) -> InvalidRequestError:
    """The 400 of a request with these problems, each ``{path, message}``."""
    summary = "; ".join(f"{p['path']}: {p['message']}" for p in problems)
    return InvalidRequestError(summary or "invalid request", details=problems)


def tag_problems(tags: Mapping[str, Any], path: str) -> list[dict[str, str]]:
    """What is wrong with ``tags`` at ``path``: too many of them (checked first, so a
    huge mapping costs one problem), then each key or value too long."""
    if len(tags) > MAX_TAGS:
        return [{"path": path, "message": f"{len(tags)} tags; at most {MAX_TAGS}"}]
    problems = []
    for key, value in tags.items():
        if not key or len(key) > MAX_TAG_KEY_CHARS:
            message = f"a tag key has 1 to {MAX_TAG_KEY_CHARS} characters, got {len(key)}"
            problems.append({"path": f"{path}.{key[:MAX_TAG_KEY_CHARS]}", "message": message})
        elif len(str(value)) > MAX_TAG_VALUE_CHARS:
            message = f"at most {MAX_TAG_VALUE_CHARS} characters, got {len(str(value))}"
            problems.append({"path": f"{path}.{key}", "message": message})
    return problems


def size_problems(fields: Mapping[str, Any], prefix: str = "body") -> list[dict[str, str]]:
    """A problem when ``fields`` (what one record keeps of the request) take more than
    ``MAX_RECORD_BYTES`` as UTF-8 JSON; it names the largest field."""
    sizes = {name: len(_json_bytes(value)) for name, value in fields.items()}
    total = sum(sizes.values())
    if total <= MAX_RECORD_BYTES:
        return []
    largest = max(sizes, key=lambda name: sizes[name])
    message = (
        f"{' and '.join(sizes)} take {total} bytes as JSON ({largest}: {sizes[largest]}); "
        f"at most {MAX_RECORD_BYTES} (one record is one DynamoDB item of at most 400 KB)"
    )
    return [{"path": f"{prefix}.{largest}", "message": message}]


def check_limits(tags: Mapping[str, Any] | None, tags_path: str, record: Mapping[str, Any]) -> None:
    """Raises InvalidRequestError (400, with the field paths) when ``tags`` or the
    ``record`` fields break a limit."""
    problems = tag_problems(tags, tags_path) if isinstance(tags, Mapping) else []
    problems = problems or size_problems(record)
    if problems:
        raise invalid_request(problems)


def check_merged_tags(
    existing: Mapping[str, str], added: Mapping[str, str], params: Mapping[str, Any]
) -> None:
    """Raises InvalidRequestError when ``added``, merged into a trial's ``existing`` tags
    (beside its ``params``), breaks a limit."""
    check_limits(added, "body.tags", {})
    merged = {**existing, **added}
    if len(merged) > MAX_TAGS:
        message = f"the trial would carry {len(merged)} tags; at most {MAX_TAGS}"
        raise invalid_request([{"path": "body.tags", "message": message}])
    check_limits(None, "body.tags", {"params": params, "tags": merged})


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode()


__all__ = [
    "CURVE_PAGE_LIMIT",
    "CURVE_PAGE_POINTS",
    "MAX_INT",
    "PAGE_LIMIT",
    "AddTrialBody",
    "CheckpointBody",
    "ClaimBody",
    "CompleteBody",
    "CreateScanBody",
    "ErrorBody",
    "ExtendBody",
    "FailBody",
    "HeartbeatBody",
    "IntermediateValues",
    "PruneBody",
    "ReportBody",
    "ScanList",
    "ScanSummary",
    "SeedsBody",
    "StatusBody",
    "TagsBody",
    "TrialList",
    "answers",
    "check_limits",
    "check_merged_tags",
    "dump",
    "invalid_request",
]
