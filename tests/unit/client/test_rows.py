"""The columns of to_csv / to_dataframe and the local results folder."""

from __future__ import annotations

from scanfleet.client._rows import (
    TRIAL_COLUMNS,
    names_for,
    reason_line,
    row_columns,
    trial_row,
)
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


def test_columns_are_trial_fields_then_params_then_metrics_then_the_reason() -> None:
    assert row_columns(["lr"], ["loss"]) == [
        *TRIAL_COLUMNS, "param.lr", "value.loss", "failure_reason"
    ]  # fmt: skip
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


def test_a_failed_trial_row_has_its_reason_and_a_pruned_one_none() -> None:
    failed = trial(4, {"lr": 0.1}, {}).model_copy(
        update={"state": TrialState.FAILED, "failure_reason": "exit code 1; last output:\nboom"}
    )
    assert (
        trial_row(failed, ["lr"], ["loss"])["failure_reason"] == "exit code 1; last output:\nboom"
    )
    pruned = failed.model_copy(update={"state": TrialState.PRUNED, "failure_reason": "step 2"})
    assert trial_row(pruned, ["lr"], ["loss"])["failure_reason"] is None  # a prune's reason
    retried = failed.model_copy(update={"state": TrialState.QUEUED, "errors": 1})
    assert trial_row(retried, ["lr"], ["loss"])["failure_reason"].endswith("boom")


def test_a_reason_on_one_line_keeps_its_first_line_and_the_error() -> None:
    crash = "exit code 1; last output:\nTraceback (most recent call last):\n  x\nValueError: no"
    assert reason_line(crash) == "exit code 1; last output: ... ValueError: no"
    assert reason_line("lease expired") == "lease expired"
    assert reason_line(None) == "" and reason_line("\n") == ""
