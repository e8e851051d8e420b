"""A page of curves ends before the trial that would take it past its point budget."""

from __future__ import annotations

from scanfleet.service import ScanService

OWNER = "alice"
FIVE_CELLS = {
    "strategy": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"a": {"values": [1, 2, 3, 4, 5]}},
}


def test_a_page_of_curves_ends_before_the_curve_that_passes_max_points(
    service: ScanService,
) -> None:
    scan, _ = service.create_scan("curves", FIVE_CELLS, owner=OWNER)
    lengths = [2, 3, 6, 1, 1]  # trial 2's curve alone is longer than the budget
    ids = []
    for length in lengths:
        trial = service.claim_next_trial(scan.scan_id, "w", owner=OWNER)
        assert trial is not None
        ids.append(trial.trial_id)
        for step in range(length):
            service.report(trial.trial_id, "loss", step, step / 10, owner=OWNER)

    pages, after = [], -1
    while after is not None:
        metric, curves, after = service.intermediate_values_page(
            scan.scan_id, owner=OWNER, after=after, limit=4, max_points=5
        )
        assert metric == "loss"
        pages.append(({t: len(c) for t, c in curves.items()}, after))

    assert pages == [
        ({ids[0]: 2, ids[1]: 3}, 1),  # 2 + 3 fill the budget: trial 2 waits
        ({ids[2]: 6}, 2),  # alone: a curve is never split
        ({ids[3]: 1, ids[4]: 1}, None),
    ]
    _, every = service.intermediate_values(scan.scan_id, owner=OWNER)
    merged = {}
    after = -1
    while after is not None:
        _, curves, after = service.intermediate_values_page(
            scan.scan_id, owner=OWNER, after=after, limit=2, max_points=100
        )
        merged.update(curves)
    assert merged == every and len(every) == 5
