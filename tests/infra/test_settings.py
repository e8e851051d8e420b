"""Context settings: defaults documented, wrong values refused with the key's name, and a
removal policy that reaches the template."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.settings import CONTEXT, DEFAULTS, Settings, SettingsError, context_table
from tests.infra.synth import Synthesised, stand_in_layer

DOCS = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"


def _settings(**context: object) -> Settings:
    return Settings.from_context(context.get)


def test_defaults():
    settings = _settings()
    assert settings.spot_allocation_strategy == "SPOT_PRICE_CAPACITY_OPTIMIZED"
    assert settings.auth_mode == "both" and settings.removal_policy == "retain"
    assert settings.vpc_id is None and settings.on_demand_fallback is False
    assert settings.gpu_instance_types == tuple(DEFAULTS["gpuInstanceTypes"])


def test_context_text_is_parsed_like_cdk_passes_it():
    settings = _settings(gpuInstanceTypes='["p4d.24xlarge"]', maxVcpus="96", onDemandFallback="yes")
    assert settings.gpu_instance_types == ("p4d.24xlarge",)
    assert settings.max_vcpus == 96 and settings.on_demand_fallback is True


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("maxVcpus", "lots", "context maxVcpus: expected a whole number, got 'lots'"),
        ("jobAttempts", "11", "context jobAttempts: must be between 1 and 10, got 11"),
        ("authMode", "oauth", "context authMode: expected one of iam, token, both, got 'oauth'"),
        ("onDemandFallback", "maybe", "context onDemandFallback: expected true or false"),
        ("logRetentionDays", "10", "context logRetentionDays: CloudWatch keeps logs for one of"),
        ("gpuInstanceTypes", ",", "context gpuInstanceTypes: give at least one instance type"),
        ("spotAllocationStrategy", "BEST_FIT", "context spotAllocationStrategy: expected one of"),
        ("tenants", '{"alice": "x"}', "context tenants['alice']: a pattern is an ARN"),
    ],
)
def test_a_wrong_value_names_its_key(key: str, value: str, message: str):
    with pytest.raises(SettingsError) as err:
        _settings(**{key: value})
    assert str(err.value).startswith(message)


def test_vpc_id_without_an_account_says_what_to_set(tmp_path: Path):
    import aws_cdk as cdk

    from infra.app import build_app

    app = cdk.App(outdir=str(tmp_path), context={"vpcId": "vpc-0123456789abcdef0"})
    with pytest.raises(SettingsError, match="context vpcId: .*CDK_DEFAULT_ACCOUNT"):
        build_app(app, env={}, layer_dir=stand_in_layer(tmp_path))


def test_docs_show_every_context_key_with_its_default():
    assert context_table() in DOCS.read_text(), (
        "regenerate the table: infra.settings.context_table()"
    )
    assert len(context_table().splitlines()) == len(CONTEXT) + 2


def test_removal_policy_destroy_reaches_table_bucket_and_logs(
    synthesised: Synthesised, synthesised_alt: Synthesised
):
    table = synthesised_alt.one("AWS::DynamoDB::Table")
    assert table["DeletionPolicy"] == "Delete"
    assert table["Properties"]["DeletionProtectionEnabled"] is False
    for synth, policy in ((synthesised, "Retain"), (synthesised_alt, "Delete")):
        for kind in ("AWS::S3::Bucket", "AWS::Logs::LogGroup", "AWS::SecretsManager::Secret"):
            assert {r["DeletionPolicy"] for r in synth.resources(kind).values()} == {policy}, kind
    assert synthesised_alt.stack.stack_name == "scanfleet-alt"


def test_the_default_stack_creates_its_own_vpc_with_flow_logs(synthesised: Synthesised):
    assert len(synthesised.resources("AWS::EC2::VPC")) == 1
    assert not synthesised.resources("AWS::EC2::NatGateway")
    assert synthesised.one("AWS::EC2::FlowLog")["Properties"]["TrafficType"] == "ALL"


def test_an_existing_vpc_is_used_with_its_private_subnets(tmp_path: Path):
    """``vpcId`` with an account: the CDK CLI looks the VPC up and caches the answer in
    context (here given as the CLI would cache it); the stack then creates no VPC and runs
    Batch in the VPC's private subnets."""
    import aws_cdk as cdk

    from infra.app import build_app

    vpc_id, account, region = "vpc-0123456789abcdef0", "123456789012", "eu-west-1"
    key = (
        f"vpc-provider:account={account}:filter.vpc-id={vpc_id}:region={region}"
        ":returnAsymmetricSubnets=true"
    )
    subnets = {
        kind: [
            {
                "subnetId": f"subnet-0{'ab'[kind == 'Public']}{n}00000000000000",
                "cidr": f"10.0.{n + (10 if kind == 'Public' else 0)}.0/24",
                "availabilityZone": f"{region}{'ab'[n]}",
                "routeTableId": f"rtb-0{'ab'[kind == 'Public']}{n}00000000000000",
            }
            for n in range(2)
        ]
        for kind in ("Private", "Public")
    }
    lookup = {
        "vpcId": vpc_id,
        "vpcCidrBlock": "10.0.0.0/16",
        "availabilityZones": [],
        "subnetGroups": [
            {"name": kind, "type": kind, "subnets": found} for kind, found in subnets.items()
        ],
    }
    app = cdk.App(
        outdir=str(tmp_path),
        context={"vpcId": vpc_id, "workerImage": "python:3.12-slim", key: lookup},
    )
    stack = build_app(
        app,
        env={"CDK_DEFAULT_ACCOUNT": account, "CDK_DEFAULT_REGION": region},
        layer_dir=stand_in_layer(tmp_path),
    )
    template = app.synth().get_stack_by_name(stack.stack_name).template
    resources = template["Resources"].values()
    assert not [r for r in resources if r["Type"].startswith("AWS::EC2::VPC")]
    [environment] = [r for r in resources if r["Type"] == "AWS::Batch::ComputeEnvironment"]
    assert environment["Properties"]["ComputeResources"]["Subnets"] == [
        s["subnetId"] for s in subnets["Private"]
    ]


def test_docs_say_how_to_create_the_spot_service_linked_role(synthesised: Synthesised):
    # the stack does not create it (it may exist already, and a second create fails the
    # deploy): the page gives the command, and `scanfleet deploy --check` looks for it
    assert not synthesised.resources("AWS::IAM::ServiceLinkedRole")
    text = DOCS.read_text()
    assert "aws iam create-service-linked-role --aws-service-name spot.amazonaws.com" in text
    assert "AWSServiceRoleForEC2Spot" in text
