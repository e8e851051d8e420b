"""The scan state machine's role: what ``batch:submitJob.sync`` needs, as Step Functions
documents it ("IAM policies for AWS Batch"), on both queues when there is a fallback."""

from __future__ import annotations

from typing import Any

from tests.infra.synth import Synthesised

SYNC_RULE = "rule/StepFunctionsGetEventsForBatchJobsRule"


def state_machine_statements(synth: Synthesised) -> list[dict[str, Any]]:
    machine = synth.one("AWS::StepFunctions::StateMachine")["Properties"]
    role = machine["RoleArn"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in synth.resources("AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def granted(statements: list[dict[str, Any]], action: str) -> list[Any]:
    """The resources ``action`` is allowed on."""
    resources: list[Any] = []
    for statement in statements:
        actions = statement["Action"]
        if action in ([actions] if isinstance(actions, str) else actions):
            assert statement["Effect"] == "Allow"
            found = statement["Resource"]
            resources += found if isinstance(found, list) else [found]
    return resources


def test_the_state_machine_may_run_wait_for_and_terminate_batch_jobs(synthesised: Synthesised):
    statements = state_machine_statements(synthesised)
    assert granted(statements, "batch:SubmitJob")
    assert granted(statements, "batch:DescribeJobs") == ["*"]  # no resource-level permissions
    (jobs,) = granted(statements, "batch:TerminateJob")  # a stopped execution ends its job
    assert str(jobs["Fn::Join"][1][-1]).endswith(":job/*")
    for action in ("events:PutTargets", "events:PutRule", "events:DescribeRule"):
        (rule,) = granted(statements, action)
        assert str(rule["Fn::Join"][1][-1]).endswith(SYNC_RULE), action


def test_with_a_fallback_the_state_machine_submits_to_both_queues(
    synthesised_alt: Synthesised,
):
    queues = set(synthesised_alt.resources("AWS::Batch::JobQueue"))
    submit_to = granted(state_machine_statements(synthesised_alt), "batch:SubmitJob")
    refs = {r["Fn::GetAtt"][0] for r in submit_to if isinstance(r, dict) and "Fn::GetAtt" in r}
    assert refs == queues and len(queues) == 2


def test_the_lane_functions_know_the_runnable_limit_and_the_fallback(
    synthesised_alt: Synthesised,
):
    from scanfleet import names
    from scanfleet.cloud import (
        ENV_ON_DEMAND_AFTER_PREEMPTIONS,
        ENV_ON_DEMAND_QUEUE,
        ENV_RUNNABLE_TIMEOUT_MINUTES,
    )

    env = {
        fn["Properties"]["Handler"]: fn["Properties"]["Environment"]["Variables"]
        for fn in synthesised_alt.resources("AWS::Lambda::Function").values()
        if "Environment" in fn["Properties"]
    }
    claim, finish = env["lambdas.orchestration.claim"], env["lambdas.orchestration.finish"]
    assert claim[ENV_RUNNABLE_TIMEOUT_MINUTES] == finish[ENV_RUNNABLE_TIMEOUT_MINUTES] == "45"
    assert claim[ENV_ON_DEMAND_AFTER_PREEMPTIONS] == "1"
    # cancel (the API) terminates the scan's jobs in both queues
    assert names.ENV_JOB_QUEUE in env["lambdas.api.handler"]
    assert ENV_ON_DEMAND_QUEUE in env["lambdas.api.handler"]
