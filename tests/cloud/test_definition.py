"""The state machine definition in the synthesised template agrees with the payload models
the handlers parse (no drift between infra/orchestration.py and scanfleet.cloud)."""

from __future__ import annotations

import json
from typing import Any

from scanfleet import names
from scanfleet.cloud import MAX_LANES_PER_EXECUTION, Lane, LaneAction, Plan

from infra.orchestration import BATCH_RETRY_ERRORS, LAMBDA_RETRY_ERRORS
from tests.cloud.deploy import Deployment, Resolver


def definition(template: dict[str, Any]) -> dict[str, Any]:
    (machine,) = [
        r for r in template["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"
    ]
    resolve = Resolver("scanfleet", Deployment("scanfleet"))
    return json.loads(resolve(machine["Properties"]["DefinitionString"]))  # type: ignore[no-any-return]


def test_each_lane_gets_exactly_the_lane_fields_from_the_plan(template: dict[str, Any]) -> None:
    lanes = definition(template)["States"]["Lanes"]
    assert lanes["ItemProcessor"]["ProcessorConfig"]["Mode"] == "INLINE"
    assert lanes["MaxConcurrency"] == MAX_LANES_PER_EXECUTION
    assert lanes["ItemsPath"] == "$.lanes"
    selected = {key.removesuffix(".$"): path for key, path in lanes["ItemSelector"].items()}
    from_plan = {k for k, path in selected.items() if path.startswith("$.")}
    assert from_plan <= set(Plan.model_fields)
    required = {name for name, f in Lane.model_fields.items() if f.is_required()}
    assert required <= set(selected)
    assert lanes["ResultPath"] is None  # the lanes' states never grow the parent's payload


def test_a_failed_job_goes_to_finish_and_only_run_ends_in_a_job(template: dict[str, Any]) -> None:
    states = definition(template)["States"]["Lanes"]["ItemProcessor"]["States"]
    run = states["RunTrial"]
    assert run["Resource"].endswith(":states:::batch:submitJob.sync")
    # Batch retries the job itself; the task retries only a throttled submit (no job yet)
    assert [r["ErrorEquals"] for r in run["Retry"]] == [list(BATCH_RETRY_ERRORS)]
    assert run["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.job_error", "Next": "FinishTrial"}
    ]
    assert run["Next"] == "FinishTrial" and run["ResultPath"] == "$.job"
    env = {e["Name"]: e["Value.$"] for e in run["Parameters"]["ContainerOverrides"]["Environment"]}
    assert env == {
        names.ENV_SCAN_ID: "$.scan_id",
        names.ENV_TRIAL_ID: "$.trial_id",
        names.ENV_WORKER_ID: "$.worker_id",
    }
    assert run["Parameters"]["JobDefinition.$"] == "$.job_definition"
    choices = {c["StringEquals"]: c["Next"] for c in states["NextStep"]["Choices"]}
    assert choices == {LaneAction.RUN.value: "RunTrial", LaneAction.WAIT.value: "Idle"}
    assert states["NextStep"]["Default"] == "LaneEnd"
    assert states["FinishTrial"]["Next"] == states["Idle"]["Next"] == "ClaimTrial"


def test_every_lane_task_retries_transient_errors_and_a_failure_ends_only_its_lane(
    template: dict[str, Any],
) -> None:
    states = definition(template)["States"]["Lanes"]["ItemProcessor"]["States"]
    for name in ("ClaimTrial", "FinishTrial", "RecordLaneError"):
        retried = [error for rule in states[name]["Retry"] for error in rule["ErrorEquals"]]
        assert set(retried) == set(LAMBDA_RETRY_ERRORS), name
        assert {"Lambda.TooManyRequestsException", "StoreBusyError"} <= set(retried)
    for name in ("ClaimTrial", "FinishTrial"):
        assert states[name]["Catch"] == [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.lane_error", "Next": "RecordLaneError"}
        ], name
    record = states["RecordLaneError"]
    assert record["Next"] == "LaneFailed" and states["LaneFailed"]["Type"] == "Succeed"
    assert record["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": "LaneFailed"}
    ]
    # it is the Finish function (its ARN), told by the payload's lane_error what to do
    assert record["Resource"] == states["FinishTrial"]["Resource"]
    # no state of a lane ends it with a failure
    assert not [s for s in states.values() if s["Type"] == "Fail"]
