"""Trials as flat rows (CSV, DataFrame, the local results folder): one column per
parameter (``param.<name>``) and per metric (``value.<name>``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from scanfleet.records import TrialRecord

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


def row_columns(params: list[str], metrics: list[str]) -> list[str]:
    """The header: trial columns, then ``param.<name>``, then ``value.<name>``."""
    return [*TRIAL_COLUMNS, *(f"param.{p}" for p in params), *(f"value.{m}" for m in metrics)]


def trial_row(trial: TrialRecord, params: list[str], metrics: list[str]) -> dict[str, Any]:
    """One row; a parameter the trial does not have (conditions) or a metric it did not
    report is None (an empty CSV cell, NaN in pandas)."""
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
    return row


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
