"""The SDK reads the curves of a scan a page of trials at a time through the real local
server, and gives them back whole."""

from __future__ import annotations

from scanfleet.client import Client
from scanfleet.records import TrialState
from scanfleet.wire import CURVE_PAGE_LIMIT

TRIALS = CURVE_PAGE_LIMIT + 5  # more curves than one page holds
GRID = {
    "strategy": "grid",
    "max_run": TRIALS,
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"lr": {"values": [i / 1000 for i in range(1, TRIALS + 1)]}},
}


def test_intermediate_values_follows_the_pages_to_every_curve(client: Client) -> None:
    scan = client.create_scan("curves", GRID)
    expected: dict[str, dict[int, float]] = {}
    for number in range(TRIALS):
        trial = scan.next_trial("w")
        assert trial is not None
        steps = 1 + number % 3
        for step in range(steps):
            trial.report("loss", number + step / 10, step)
        expected[trial.id] = {step: number + step / 10 for step in range(steps)}
        if number % 2:
            trial.complete(float(number))

    first = client.http.request("GET", f"/scans/{scan.id}/intermediate-values").body
    assert len(first["trials"]) == CURVE_PAGE_LIMIT
    assert first["next_after"] == CURVE_PAGE_LIMIT - 1

    assert scan.intermediate_values() == expected
    running = scan.intermediate_values(state=TrialState.RUNNING)
    assert running == {t: c for i, (t, c) in enumerate(expected.items()) if i % 2 == 0}
    assert scan.intermediate_values("acc") == {}
