"""The one heartbeat (``scanfleet.client.heartbeat``) against the real local API: it keeps
a lease alive past its length, stops cleanly, and reports a lease another attempt took."""

from __future__ import annotations

import threading
import time

import pytest
from scanfleet.client import ConflictError, LeaseLostError, Trial
from scanfleet.client.heartbeat import (
    BEATS_PER_LEASE,
    MIN_INTERVAL_S,
    Heartbeat,
    heartbeat_interval,
)
from scanfleet.local.server import LocalServer

from tests.functional.conftest import api_client

LEASE_S = 0.6
CONFIG = {
    "strategy": "grid",
    "metric": {"name": "loss"},
    "execution": {"type": "manual", "lease_seconds": LEASE_S},
    "parameters": {"x": {"values": [1, 2]}},
}


@pytest.mark.parametrize(
    "lease, interval", [(1800.0, 600.0), (3.0, 1.0), (0.6, 0.2), (0.01, MIN_INTERVAL_S)]
)
def test_a_lease_is_renewed_a_fixed_number_of_times_within_its_length(
    lease: float, interval: float
) -> None:
    assert BEATS_PER_LEASE == 3
    assert heartbeat_interval(lease) == pytest.approx(interval)


def claimed(api: LocalServer, worker: str, scan_id: str | None = None) -> tuple[str, Trial]:
    client = api_client(api, worker_id=worker)
    scan = client.get_scan(scan_id) if scan_id else client.create_scan("beats", CONFIG)
    trial = scan.next_trial(worker)
    assert trial is not None
    return scan.id, trial


def test_a_beating_trial_keeps_its_lease_past_two_leases(local_api: LocalServer) -> None:
    scan_id, trial = claimed(local_api, "w1")
    with Heartbeat(trial, heartbeat_interval(LEASE_S)) as beat:
        time.sleep(LEASE_S * 2.5)
        assert beat.beating
        _, other = claimed(local_api, "w2", scan_id)
    assert not beat.beating and beat.conflict is None
    assert other.id != trial.id  # the first trial was still held: w2 got the next one
    assert trial.complete(1.0).state.name == "COMPLETED"


def test_a_lease_another_attempt_took_is_reported_and_ends_the_beats(
    local_api: LocalServer,
) -> None:
    scan_id, trial = claimed(local_api, "w1")
    time.sleep(LEASE_S + 0.3)  # no heartbeat: the lease runs out
    _, taken = claimed(local_api, "w2", scan_id)
    assert taken.id == trial.id and taken.attempt == 2
    refused: list[ConflictError] = []
    told = threading.Event()

    def on_conflict(exc: ConflictError) -> None:
        refused.append(exc)
        told.set()

    with Heartbeat(trial, 0.05, on_conflict=on_conflict) as beat:
        assert told.wait(5)
        time.sleep(0.1)
        assert not beat.beating  # one refusal ends the thread
    assert beat.lease_lost and isinstance(beat.conflict, LeaseLostError)
    assert refused == [beat.conflict]


def test_a_finished_trial_ends_the_beats_without_a_lost_lease(local_api: LocalServer) -> None:
    _, trial = claimed(local_api, "w1")
    trial.complete(2.0)
    with Heartbeat(trial, 0.05) as beat:
        deadline = time.monotonic() + 5
        while beat.conflict is None and time.monotonic() < deadline:
            time.sleep(0.02)
    assert beat.conflict is not None and not beat.lease_lost
