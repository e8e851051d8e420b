"""The columns of to_csv / to_dataframe and the local results folder."""

from __future__ import annotations

from scanfleet.client._rows import TRIAL_COLUMNS, names_for, row_columns, trial_row
from scanfleet.records import TrialRecord, TrialState

CONFIG = {"metric": {"name": "loss"}, "parameters": {"lr": {}, "width": {}}}


def trial(n: int, params: dict[str, object], values: dict[str, float]) -> TrialRecord:
    return TrialRecord(
        scan_id="sc1",
        trial_id=f"sc1-{n}",
        number=n,
        params=params,
        values=values,
        state=TrialState.COMPLETED,
        attempt=1,
        duration_s=1.23456,
        worker_id="w",
    )


def test_columns_are_trial_fields_then_params_then_metrics() -> None:
    assert row_columns(["lr"], ["loss"]) == [*TRIAL_COLUMNS, "param.lr", "value.loss"]
    assert TRIAL_COLUMNS == (
        "trial_id", "number", "state", "attempt", "preemptions", "errors", "duration_s",
        "worker_id",
    )  # fmt: skip


def test_config_names_come_first_and_extra_names_are_added_sorted() -> None:
    trials = [
        trial(0, {"lr": 0.1, "width": 8}, {"loss": 1.0, "acc": 0.5}),
        trial(1, {"lr": 0.2, "width": 8, "extra": 1}, {"loss": 2.0, "f1": 0.1}),
    ]
    assert names_for(CONFIG, trials) == (["lr", "width", "extra"], ["loss", "acc", "f1"])


def test_a_row_leaves_missing_params_and_metrics_empty() -> None:
    row = trial_row(trial(3, {"lr": 0.1}, {}), ["lr", "width"], ["loss"])
    assert row["param.lr"] == 0.1 and row["param.width"] is None and row["value.loss"] is None
    assert row["state"] == "COMPLETED" and row["duration_s"] == 1.235 and row["number"] == 3


def test_a_scan_with_several_metrics_lists_them_in_their_order_first() -> None:
    config = {**CONFIG, "metrics": [{"name": "loss"}, {"name": "latency"}]}
    trials = [trial(0, {"lr": 0.1}, {"latency": 3.0, "loss": 1.0, "acc": 0.5})]
    assert names_for(config, trials) == (["lr", "width"], ["loss", "latency", "acc"])
