"""Heartbeats are sampled, not all traced (issue 13 item 6): an X-Ray sampling rule for
the heartbeat route, matched before the default rule, keeps 1 % and no reservoir."""

from __future__ import annotations

from scanfleet.store.dynamodb_layout import LAYOUT

from tests.infra.synth import Synthesised


def test_heartbeats_have_their_own_sampling_rule(synthesised: Synthesised) -> None:
    rule = synthesised.one("AWS::XRay::SamplingRule")["Properties"]["SamplingRule"]
    assert rule["URLPath"] == "*/heartbeat" and rule["HTTPMethod"] == "POST"
    assert rule["FixedRate"] == 0.01 and rule["ReservoirSize"] == 0
    assert rule["Priority"] < 10_000  # the default rule's
    assert len(rule["RuleName"]) <= 32


def test_no_index_copies_whole_items(synthesised: Synthesised) -> None:
    """Every write of a trial (heartbeats included) would copy it into an ALL index."""
    props = synthesised.one("AWS::DynamoDB::Table")["Properties"]
    projections = {g["IndexName"]: g["Projection"] for g in props["GlobalSecondaryIndexes"]}
    assert all(p["ProjectionType"] != "ALL" for p in projections.values())
    assert projections[LAYOUT.number.name]["NonKeyAttributes"] == ["state"]
