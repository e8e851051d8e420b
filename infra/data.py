"""The table and the bucket. The table's keys and indexes come from the store's layout
(``scanfleet.store.dynamodb_layout.LAYOUT``), the one place that defines them."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct
from scanfleet.store.dynamodb_layout import LAYOUT, TableLayout

CHECKPOINT_PREFIX = "checkpoints/"  # the workers' SCANFLEET_CHECKPOINT_URL points here
LOG_PREFIX = "logs/"
INPUTS_PREFIX = "inputs/"  # S3InputStore's default: scripts uploaded with a scan
_TYPES = {"S": dynamodb.AttributeType.STRING, "N": dynamodb.AttributeType.NUMBER}
_PROJECTIONS = {
    "ALL": dynamodb.ProjectionType.ALL,
    "KEYS_ONLY": dynamodb.ProjectionType.KEYS_ONLY,
    "INCLUDE": dynamodb.ProjectionType.INCLUDE,
}


class Data(Construct):
    """``.table``: on-demand, point-in-time recovery, KMS encryption (AWS managed key).
    ``.bucket``: checkpoints and logs; SSE, no public access, TLS only, old checkpoints
    expire. ``.access_logs``: the bucket's server access logs."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        removal_policy: RemovalPolicy,
        checkpoint_expiry_days: int,
        layout: TableLayout = LAYOUT,
    ) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=_attribute(layout.partition_key, "S"),
            sort_key=_attribute(layout.sort_key, "S"),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            deletion_protection=removal_policy == RemovalPolicy.RETAIN,
            removal_policy=removal_policy,
        )
        for index in layout.indexes:
            self.table.add_global_secondary_index(
                index_name=index.name,
                partition_key=_attribute(index.partition_key, index.partition_key_type),
                sort_key=_attribute(index.sort_key, index.sort_key_type),
                projection_type=_PROJECTIONS[index.projection],
                non_key_attributes=list(index.include) if index.include else None,
            )

        self.access_logs = _private_bucket(
            self,
            "AccessLogs",
            removal_policy,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(365))],
        )
        self.bucket = _private_bucket(
            self,
            "Bucket",
            removal_policy,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="bucket/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireOldCheckpoints",
                    prefix=CHECKPOINT_PREFIX,
                    expiration=Duration.days(checkpoint_expiry_days),
                ),
                s3.LifecycleRule(
                    id="AbortIncompleteUploads",
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
            ],
        )


def _private_bucket(
    scope: Construct, construct_id: str, removal_policy: RemovalPolicy, **props: Any
) -> s3.Bucket:
    """SSE-S3, no public access, TLS only; emptied on delete when the stack is destroyable."""
    return s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        removal_policy=removal_policy,
        auto_delete_objects=removal_policy == RemovalPolicy.DESTROY,
        **props,
    )


def _attribute(name: str, kind: str) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=_TYPES[kind])
