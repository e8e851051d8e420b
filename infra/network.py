"""Where the Batch instances run: an existing VPC by id, or a new one with public subnets
only — no NAT gateway to pay for; instances reach ECR, S3 and the API directly and accept
no inbound traffic (their security group is the compute construct's)."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import RemovalPolicy, Stack, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs

from infra.settings import SettingsError


@dataclass(frozen=True)
class Network:
    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection


def batch_network(
    stack: Stack,
    *,
    vpc_id: str | None,
    log_retention: logs.RetentionDays,
    removal_policy: RemovalPolicy,
) -> Network:
    """``vpc_id``: looked up (needs the stack's account and region), its private subnets
    when it has some; else a new VPC with flow logs. Made in ``stack`` itself (``Vpc``,
    ``VpcFlowLogs``), where a deployed stack has them."""
    if vpc_id:
        if Token.is_unresolved(stack.account) or Token.is_unresolved(stack.region):
            raise SettingsError(
                "context vpcId: looking up a VPC needs an account and region; set "
                "CDK_DEFAULT_ACCOUNT and CDK_DEFAULT_REGION (or an AWS profile)"
            )
        found = ec2.Vpc.from_lookup(stack, "Vpc", vpc_id=vpc_id)
        private = bool(found.private_subnets)
        kind = ec2.SubnetType.PRIVATE_WITH_EGRESS if private else ec2.SubnetType.PUBLIC
        return Network(found, ec2.SubnetSelection(subnet_type=kind))
    flow_logs = logs.LogGroup(
        stack, "VpcFlowLogs", retention=log_retention, removal_policy=removal_policy
    )
    vpc = ec2.Vpc(
        stack,
        "Vpc",
        max_azs=2,
        nat_gateways=0,
        subnet_configuration=[
            ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=20)
        ],
        flow_logs={
            "FlowLogs": ec2.FlowLogOptions(
                destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs)
            )
        },
    )
    return Network(vpc, ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC))
