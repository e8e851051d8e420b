"""The largest finite metric values a worker may report keep every answer of the scan a
200. Found by schemathesis (tests/functional/test_schemathesis.py): seed runs completed with
``loss`` -1.8e308 and 4e15 made the spread over seeds overflow (``(v - mean) ** 2``), and
every summary of that scan (``GET /scans/{id}``, extend, seeds, status) a 500 for good."""

from __future__ import annotations

import json
import math
import sys

import pytest

from tests.unit.api.conftest import Api

GRID = {
    "strategy": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"lr": {"values": [0.1, 0.01]}},
    "seeds": {"n": 3, "param": "seed"},
}
BIG = sys.float_info.max


def _run_all(api: Api, scan_id: str, values: list[float]) -> None:
    for value in values:
        trial = api("POST", f"/scans/{scan_id}/trials/claim", {"worker_id": "w"}).body
        answer = api("POST", f"/trials/{trial['trial_id']}/complete", {"value": value})
        assert answer.status == 200, answer.body


@pytest.mark.parametrize(
    "seed_values", [[-BIG, 4e15, BIG], [BIG, BIG, BIG], [-BIG, -BIG, 1.0], [1e-320, -1e-320, 0.0]]
)
def test_seed_runs_at_the_ends_of_the_floats_keep_the_scan_readable(
    api: Api, seed_values: list[float]
) -> None:
    scan_id = api.create_scan(GRID)
    _run_all(api, scan_id, [0.5, 0.7])  # the grid; the best trial is lr=0.1
    answer = api("POST", f"/scans/{scan_id}/seeds", {"n": 3})
    assert answer.status == 200, answer.body
    _run_all(api, scan_id, seed_values)
    for method, path, body in [
        ("GET", f"/scans/{scan_id}", None),
        ("POST", f"/scans/{scan_id}/seeds", {"n": 3}),
        ("POST", f"/scans/{scan_id}/extend", {"max_run": 50}),
    ]:
        answer = api(method, path, body)
        assert answer.status == 200, (path, answer.body)
    spread = answer.body["seeds"]["metrics"]["loss"]
    assert spread["n"] == 3
    assert all(isinstance(spread[k], float) and math.isfinite(spread[k]) for k in ("mean", "std"))
    assert min(seed_values) <= spread["mean"] <= max(seed_values)
    json.dumps(answer.body, allow_nan=False)  # strict JSON: no Infinity, no NaN
