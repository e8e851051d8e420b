"""checkov 3.x over the synthesised template: what matters is fixed (a dead-letter queue
for each function an EventBridge schedule invokes, watched by an alarm; reserved
concurrency for the lanes' functions, so a burst of lanes cannot starve the API), and every
other check is acknowledged on its resources with the reason (``infra/nag.py``), so checkov
reports nothing left. checkov is not a project dependency: the last test runs it when
``$CHECKOV`` or PATH has it (``pip install 'checkov>=3,<4'`` in a venv of its own)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from infra import nag
from tests.infra.synth import Synthesised


def _functions_by_handler(synth: Synthesised) -> dict[str, dict]:
    return {
        r["Properties"]["Handler"]: r for r in synth.resources("AWS::Lambda::Function").values()
    }


def test_functions_invoked_by_a_schedule_keep_failed_events_in_a_watched_queue(
    synthesised: Synthesised,
):
    functions = _functions_by_handler(synthesised)
    queues = synthesised.resources("AWS::SQS::Queue")
    for handler in ("lambdas.reaper.handler", "lambdas.orchestration.revive"):
        config = functions[handler]["Properties"]["DeadLetterConfig"]
        [queue] = synthesised.referenced(config, "AWS::SQS::Queue")
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
        assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert len(queues) == 2
    policies = [p["Properties"] for p in synthesised.resources("AWS::SQS::QueuePolicy").values()]
    assert len(policies) == 2 and all(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for p in policies
        for s in p["PolicyDocument"]["Statement"]
    )
    [alarm] = [
        a["Properties"]
        for a in synthesised.resources("AWS::CloudWatch::Alarm").values()
        if "dead-letter" in a["Properties"]["AlarmDescription"]
    ]
    watched = [
        m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Metrics"] if "MetricStat" in m
    ]
    assert watched == ["ApproximateNumberOfMessagesVisible"] * 2
    assert len(alarm["AlarmActions"]) == 1  # the alarm topic
    synchronous = [h for h in functions if h not in ("lambdas.reaper.handler",
                                                     "lambdas.orchestration.revive")]  # fmt: skip
    assert all("DeadLetterConfig" not in functions[h]["Properties"] for h in synchronous)


def test_the_lane_functions_reserve_concurrency_and_the_api_does_not_compete(
    synthesised: Synthesised, synthesised_alt: Synthesised
):
    reserved = {
        handler: fn["Properties"].get("ReservedConcurrentExecutions")
        for handler, fn in _functions_by_handler(synthesised).items()
    }
    assert reserved.pop("lambdas.orchestration.claim") == 50
    assert reserved.pop("lambdas.orchestration.finish") == 50
    assert set(reserved.values()) == {None}  # the API keeps the account's unreserved pool
    alt = _functions_by_handler(synthesised_alt)
    assert alt["lambdas.orchestration.claim"]["Properties"]["ReservedConcurrentExecutions"] == 7


def test_every_checkov_acknowledgment_is_on_its_resources_with_its_reason(
    synthesised: Synthesised, synthesised_alt: Synthesised
):
    tables = [v for k, v in vars(nag).items() if k.startswith("CHECKOV_")]
    skipped: dict[tuple[str, str], set[str]] = {}
    resources = [*synthesised.template["Resources"].values()]
    resources += synthesised_alt.template["Resources"].values()  # some are of one setting
    for resource in resources:
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            skipped.setdefault((skip["id"], resource["Type"]), set()).add(skip["comment"])
    for table in tables:
        for check in table:
            assert len(check.reason) > 40, check
            assert check.reason in skipped.get((check.check, check.resource_type), set()), check


def _checkov() -> str | None:
    return os.environ.get("CHECKOV") or shutil.which("checkov")


@pytest.mark.skipif(_checkov() is None, reason="checkov not installed (set $CHECKOV)")
def test_checkov_finds_nothing_unacknowledged(
    synthesised: Synthesised, synthesised_alt: Synthesised
):
    for synth in (synthesised, synthesised_alt):
        template = synth.outdir / f"{synth.stack.stack_name}.template.json"
        done = subprocess.run(
            [str(_checkov()), "-f", str(template), "--framework", "cloudformation",
             "--quiet", "--compact", "-o", "json"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        report = json.loads(done.stdout)
        failed = [(f["check_id"], f["resource"]) for f in report["results"]["failed_checks"]]
        assert failed == [], failed
        assert report["summary"]["parsing_errors"] == 0
