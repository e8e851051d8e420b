"""Each construct owns the functions of its concern (the stack only wires them together),
handler names follow one convention, and the resources a deployed stack holds keep their
logical ids (a new id replaces the resource on update)."""

from __future__ import annotations

import pytest
from aws_cdk import aws_lambda as lambda_

from infra.paths import lambda_handler
from tests.infra.synth import Synthesised

OWNERS = {
    "lambdas.api.handler": "Api",
    "lambdas.authorizer.handler": "Api",
    "lambdas.reaper.handler": "Reaper",
    "lambdas.orchestration.plan": "Orchestration",
    "lambdas.orchestration.claim": "Orchestration",
    "lambdas.orchestration.finish": "Orchestration",
    "lambdas.orchestration.finalise": "Orchestration",
    "lambdas.orchestration.revive": "Orchestration",
}


def test_each_function_lives_in_the_construct_of_its_concern(synthesised: Synthesised):
    stack = synthesised.stack
    owner_of: dict[str, str] = {}
    for construct in stack.node.find_all():
        if isinstance(construct, lambda_.Function):
            handler = synthesised.template["Resources"][
                stack.get_logical_id(construct.node.default_child)
            ]["Properties"]["Handler"]
            owner_of[handler] = construct.node.scope.node.id
    assert owner_of == OWNERS  # none made by the stack itself
    assert stack.api.functions.keys() == {"api", "authorizer"}
    assert [f.node.id for f in stack.orchestration.functions] == [
        "Plan", "Claim", "Finish", "Finalise", "Revive"
    ]  # fmt: skip


def test_handler_names_follow_the_lambdas_module_convention():
    assert lambda_handler("api") == "lambdas.api.handler"
    assert lambda_handler("orchestration", "claim") == "lambdas.orchestration.claim"
    with pytest.raises(ValueError, match="'api.handler'"):
        lambda_handler("api.handler")


@pytest.mark.parametrize(
    ("logical_id", "kind", "why"),
    [
        ("DataTableFDBAD0F2", "AWS::DynamoDB::Table", "every scan and trial"),
        ("DataBucketE6B0FAA8", "AWS::S3::Bucket", "checkpoints, logs, inputs"),
        ("ApiRestApiE35FEAFE", "AWS::ApiGateway::RestApi", "ApiUrl: what callers use"),
        ("OrchestrationStateMachine4A805A55", "AWS::StepFunctions::StateMachine", "fixed name"),
        ("ComputeSpotA1D242C2", "AWS::Batch::ComputeEnvironment", "running trials"),
        ("ComputeQueueC24ECBAB", "AWS::Batch::JobQueue", "queued trials"),
        ("Vpc8378EB38", "AWS::EC2::VPC", "the compute environment's subnets"),
    ],
)
def test_resources_a_deployed_stack_holds_keep_their_logical_ids(
    synthesised: Synthesised, logical_id: str, kind: str, why: str
):
    assert synthesised.template["Resources"][logical_id]["Type"] == kind, why
