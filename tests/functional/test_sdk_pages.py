"""The SDK reads trials a page at a time through the real local server."""

from __future__ import annotations

import pytest
from scanfleet.client import Client
from scanfleet.local.server import LocalServer
from scanfleet.records import TrialState

pd = pytest.importorskip("pandas")

GRID = {
    "strategy": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"lr": {"values": [0.1, 0.01, 0.001, 0.0001, 1e-5]}, "seed": {"value": 3}},
}


def test_iter_records_follows_the_pages_in_order_and_filters_by_state(
    local_api: LocalServer,
) -> None:
    client = Client(url=local_api.url, token=local_api.tokens.default_token)
    scan = client.create_scan("paged", GRID)
    for i in range(5):
        trial = scan.next_trial(f"w{i}")
        assert trial is not None
        if i != 2:
            trial.complete({"loss": i / 10, "acc": 1 - i / 10})
    assert [r.number for r in scan.iter_records(page_size=2)] == [0, 1, 2, 3, 4]
    running = list(scan.iter_records(TrialState.RUNNING, page_size=1))
    assert [r.number for r in running] == [2]

    frame = scan.to_dataframe()
    assert list(frame.columns) == [
        "trial_id", "number", "state", "attempt", "preemptions", "errors", "duration_s",
        "worker_id", "param.lr", "param.seed", "value.loss", "value.acc", "failure_reason",
    ]  # fmt: skip
    assert frame["state"].tolist() == [
        "COMPLETED",
        "COMPLETED",
        "RUNNING",
        "COMPLETED",
        "COMPLETED",
    ]
    assert frame["worker_id"].tolist() == ["w0", "w1", "w2", "w3", "w4"]
    assert frame["value.loss"].isna().tolist() == [False, False, True, False, False]
    assert frame["param.lr"].tolist() == [0.1, 0.01, 0.001, 0.0001, 1e-5]
    assert (frame["duration_s"] >= 0).all() and (frame["attempt"] == 1).all()
