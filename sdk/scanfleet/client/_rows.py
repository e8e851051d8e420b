"""Trials as flat rows (CSV, DataFrame, the local results folder): one column per
parameter (``param.<name>``) and per metric (``value.<name>``), then why the trial failed
(``failure_reason``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from scanfleet.records import TrialRecord, TrialState

TRIAL_COLUMNS = (
    "trial_id",
    "number",
    "state",
    "attempt",
    "preemptions",
    "errors",
    "duration_s",
    "worker_id",
)


REASON_COLUMN = "failure_reason"  # the last column: why the trial (or its last attempt) failed


def row_columns(params: list[str], metrics: list[str]) -> list[str]:
    """The header: trial columns, then ``param.<name>``, then ``value.<name>``, then
    ``failure_reason``."""
    return [
        *TRIAL_COLUMNS,
        *(f"param.{p}" for p in params),
        *(f"value.{m}" for m in metrics),
        REASON_COLUMN,
    ]


def trial_row(trial: TrialRecord, params: list[str], metrics: list[str]) -> dict[str, Any]:
    """One row; a parameter the trial does not have (conditions) or a metric it did not
    report is None (an empty CSV cell, NaN in pandas). ``failure_reason`` is the failed
    trial's reason in full (a queued or running one: why its last attempt failed)."""
    row: dict[str, Any] = {
        "trial_id": trial.trial_id,
        "number": trial.number,
        "state": trial.state.value,
        "attempt": trial.attempt,
        "preemptions": trial.preemptions,
        "errors": trial.errors,
        "duration_s": round(trial.duration_s, 3),
        "worker_id": trial.worker_id,
    }
    for p in params:
        row[f"param.{p}"] = trial.params.get(p)
    for m in metrics:
        row[f"value.{m}"] = trial.values.get(m)
    row[REASON_COLUMN] = failure_reason(trial)
    return row


def failure_reason(trial: TrialRecord) -> str | None:
    """Why ``trial`` failed (a queued or running one: why its last attempt failed); None
    for a completed or pruned trial (the store keeps a prune's reason in the same field)."""
    if trial.state in (TrialState.COMPLETED, TrialState.PRUNED):
        return None
    return trial.failure_reason


def reason_line(reason: str | None) -> str:
    """A failure reason on one line, for a terminal or a table cell: a reason with the
    script's last output (``exit code 1; last output:`` and lines) keeps its first line
    and the output's last line, usually the error (``exit code 1; last output: ...
    ZeroDivisionError: division by zero``)."""
    if not reason:
        return ""
    lines = [line.strip() for line in reason.splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else ""
    return f"{lines[0]} ... {lines[-1]}"


def names_for(config: dict[str, Any], trials: Iterable[TrialRecord]) -> tuple[list[str], list[str]]:
    """(params, metrics) of a scan's table: the config's parameters in their order and its
    metric (or its ``metrics``, in order) first, then any other name the trials carry
    (hand-added params, extra metrics), sorted."""
    seen_params: set[str] = set()
    seen_metrics: set[str] = set()
    for trial in trials:
        seen_params.update(trial.params)
        seen_metrics.update(trial.values)
    return column_names(config, seen_params, seen_metrics)


def column_names(
    config: dict[str, Any], seen_params: Iterable[str], seen_metrics: Iterable[str]
) -> tuple[list[str], list[str]]:
    """``names_for`` from the names the trials carry, gathered beforehand."""
    params = list(config.get("parameters") or {})
    metric = (config.get("metric") or {}).get("name")
    metrics = [m["name"] for m in config.get("metrics") or []] or ([metric] if metric else [])
    params += sorted(set(seen_params) - set(params))
    metrics += sorted(set(seen_metrics) - set(metrics))
    return params, metrics
