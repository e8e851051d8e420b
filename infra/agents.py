"""What EC2 agents (``scanfleet worker user-data``) need from the deployment: scanfleet's
own wheel, uploaded with the stack, and an instance profile whose role may fetch it, call
the API (SigV4) and keep checkpoints in the bucket.

The wheel is built at synth time (``infra.worker_wheel``: offline, reproducible) and
published by the CDK CLI as a file asset, in the bootstrap bucket under a key named by its
hash; :attr:`Agents.wheel_url` is that object with its sha256
(``s3://bucket/key#sha256=…``), the stack's ``WorkerWheel`` output and the value of
``scanfleet worker user-data --wheel``.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Stage
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from infra import nag
from infra.api import Api
from infra.data import CHECKPOINT_PREFIX, INPUTS_PREFIX
from infra.worker_wheel import BuiltWheel, build_wheel


class Agents(Construct):
    """``.wheel`` (the built file), ``.wheel_asset``, ``.wheel_url``; ``.role`` and
    ``.instance_profile`` for agent instances."""

    def __init__(self, scope: Construct, construct_id: str, *, api: Api, bucket: s3.IBucket):
        super().__init__(scope, construct_id)
        self.wheel: BuiltWheel = build_wheel(_wheel_folder(self))
        self.wheel_asset = s3_assets.Asset(self, "Wheel", path=str(self.wheel.path))
        asset = self.wheel_asset
        self.wheel_url = (
            f"s3://{asset.s3_bucket_name}/{asset.s3_object_key}#sha256={self.wheel.sha256}"
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="scanfleet agents on EC2 (scanfleet worker user-data)",
        )
        self.instance_profile = iam.InstanceProfile(self, "Profile", role=self.role)
        # this one object (CDK's grant_read would give every asset of the bootstrap bucket)
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[asset.bucket.arn_for_objects(asset.s3_object_key)],
            )
        )
        bucket.grant_read_write(self.role, f"{CHECKPOINT_PREFIX}*")
        bucket.grant_read(self.role, f"{INPUTS_PREFIX}*")
        api.grant_invoke(self.role)
        nag.acknowledge(self.role, nag.BUCKET_USER)


def _wheel_folder(scope: Construct) -> Path:
    """Inside the cloud assembly the app writes (the CDK copies the file from there into
    the assembly's asset)."""
    stage = Stage.of(scope)
    return Path(stage.outdir if stage else "cdk.out") / "scanfleet-worker-wheel"
