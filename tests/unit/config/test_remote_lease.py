"""A remote scan's default lease is 300 s (issue 13 item 6: each renewal is a billed API
request; the worker renews every lease / 3); other scans keep 60 s, a given lease stays."""

from __future__ import annotations

from scanfleet.client.heartbeat import heartbeat_interval
from scanfleet.config import ScanConfig


def config(**execution: object) -> ScanConfig:
    return ScanConfig.model_validate(
        {
            "strategy": "grid",
            "command": "python train.py",
            "metric": {"name": "loss", "goal": "minimize"},
            "execution": execution,
            "parameters": {"lr": {"values": [0.1, 0.01]}},
        }
    )


def test_a_remote_scan_leases_for_five_minutes_and_beats_every_hundred_seconds() -> None:
    lease = config(type="remote").execution.lease_seconds
    assert lease == 300
    assert heartbeat_interval(lease) == 100


def test_other_scans_and_a_given_lease_keep_theirs() -> None:
    assert config(type="agents").execution.lease_seconds == 60
    assert config().execution.lease_seconds == 60
    assert config(type="remote", lease_seconds=45).execution.lease_seconds == 45
