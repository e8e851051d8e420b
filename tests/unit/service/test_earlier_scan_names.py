"""``reuse_from`` and ``warm_start_from`` name earlier scans by id or by name; a name is
resolved to an id once, when the scan is created."""

from __future__ import annotations

import pytest
from scanfleet.config import ConfigError
from scanfleet.service import ScanService

from tests.conftest import FakeClock
from tests.unit.service.scans import run_to_end
from tests.unit.service.test_search_results import OWNER, grid, noisy, optuna_1d


def test_a_scan_name_stands_for_the_newest_scan_of_that_name(
    service: ScanService, clock: FakeClock
) -> None:
    service.create_scan("baseline", grid(), owner=OWNER)
    clock.advance(10)
    newest, _ = service.create_scan("baseline", grid(), owner=OWNER)
    run_to_end(service, newest.scan_id, noisy)
    wider = grid(reuse_from="baseline")
    wider["parameters"]["a"]["values"] = [1, 2, 3, 4]
    second, _ = service.create_scan("wider", wider, owner=OWNER)
    assert second.config["reuse_from"] == [newest.scan_id]
    ran = run_to_end(service, second.scan_id, noisy)
    assert len(ran) == 2  # a=4 only: the six others come from the newest "baseline"
    # the name was resolved at creation: a newer "baseline" does not change this scan
    clock.advance(10)
    service.create_scan("baseline", grid(), owner=OWNER)
    assert service.get_scan(second.scan_id, owner=OWNER).config["reuse_from"] == [newest.scan_id]


def test_ids_and_names_mix_and_an_unknown_or_foreign_name_is_a_config_error(
    service: ScanService,
) -> None:
    first, _ = service.create_scan("first", grid(), owner=OWNER)
    service.create_scan("theirs", grid(), owner="mallory")
    scan, _ = service.create_scan(
        "warm", optuna_1d(warm_start_from=[first.scan_id, "first"]), owner=OWNER
    )
    assert scan.config["warm_start_from"] == [first.scan_id, first.scan_id]
    with pytest.raises(ConfigError) as caught:
        service.create_scan("x", grid(reuse_from=["first", "theirs", "nope"]), owner=OWNER)
    problems = {p.path: p.message for p in caught.value.problems}
    assert list(problems) == ["reuse_from.1", "reuse_from.2"]
    assert problems["reuse_from.1"] == "no scan of yours with id or name 'theirs'"
