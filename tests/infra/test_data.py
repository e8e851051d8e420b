"""The table follows the store's layout; the bucket is private, encrypted and TLS-only."""

from __future__ import annotations

from aws_cdk.assertions import Match
from scanfleet.store.dynamodb_layout import LAYOUT

from infra.data import CHECKPOINT_PREFIX
from tests.infra.synth import Synthesised


def test_table_is_on_demand_with_point_in_time_recovery_and_encryption(synthesised: Synthesised):
    table = synthesised.one("AWS::DynamoDB::Table")
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"


def test_table_keys_and_indexes_are_the_store_layout(synthesised: Synthesised):
    props = synthesised.one("AWS::DynamoDB::Table")["Properties"]
    assert props["KeySchema"] == LAYOUT.key_schema()
    by_name = lambda items: sorted(items, key=lambda a: a["AttributeName"])  # noqa: E731
    assert by_name(props["AttributeDefinitions"]) == by_name(LAYOUT.attribute_definitions())
    indexes = {gsi["IndexName"]: gsi for gsi in props["GlobalSecondaryIndexes"]}
    for expected in LAYOUT.global_secondary_indexes():
        assert indexes[expected["IndexName"]]["KeySchema"] == expected["KeySchema"]
        assert indexes[expected["IndexName"]]["Projection"] == expected["Projection"]
    assert set(indexes) == {index.name for index in LAYOUT.indexes}


def test_bucket_is_encrypted_private_and_expires_old_checkpoints(synthesised: Synthesised):
    synthesised.assertions().has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "LoggingConfiguration": Match.object_like({"LogFilePrefix": "bucket/"}),
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [
                        {
                            "Id": "ExpireOldCheckpoints",
                            "Prefix": CHECKPOINT_PREFIX,
                            "ExpirationInDays": 30,
                            "Status": "Enabled",
                        }
                    ]
                )
            },
        },
    )


def test_every_bucket_refuses_requests_without_tls(synthesised: Synthesised):
    buckets = synthesised.resources("AWS::S3::Bucket")
    policies = synthesised.resources("AWS::S3::BucketPolicy").values()
    tls_only = {
        policy["Properties"]["Bucket"]["Ref"]
        for policy in policies
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Deny"
        and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    }
    assert tls_only == set(buckets) and len(buckets) == 2  # data bucket + its access logs
