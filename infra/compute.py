"""Where trials run: AWS Batch on Spot GPU instances, and the stale-lease reaper.

- a managed EC2 compute environment on Spot (``SPOT_PRICE_CAPACITY_OPTIMIZED`` by default)
  with the ECS GPU AMI of Amazon Linux 2023 (``ECS_AL2023_NVIDIA``), and the job queue in
  front of it;
- optionally an On-Demand compute environment behind its own queue (``.fallback_queue``),
  for when Spot capacity does not come;
- on each queue, state-time limits: a job that waits ``runnableTimeoutMinutes`` in RUNNABLE
  for capacity, vCPU quota or a fitting instance is cancelled (status reason
  ``CAPACITY:…``/``MISCONFIGURATION:…``, ``scanfleet.cloud.RUNNABLE_CANCEL_REASONS``), so a
  job never waits forever; the state machine puts its trial back in the queue;
- the job definition: the worker image, 1 GPU, the environment the worker needs, a
  timeout, and the retry strategy. Batch retries when NO rule matches, so the list ends
  with an EXIT catch-all: a Spot reclaim (status reason ``Host EC2*``) and the worker's
  interruption exit codes are retried, everything else ends the job;
- the job role: what a trial container may do (its checkpoints and inputs in the bucket,
  the API), granted here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aws_cdk import Annotations, Aws, Duration, IgnoreMode, RemovalPolicy, Size
from aws_cdk import aws_batch as batch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct
from scanfleet import names

from infra import nag
from infra.api import TOKEN_KEY, Api
from infra.data import CHECKPOINT_PREFIX, INPUTS_PREFIX
from infra.network import Network
from infra.paths import DOCKERIGNORE, ROOT, WORKER_DOCKERFILE
from infra.settings import Settings

SPOT_RECLAIM_STATUS_REASON = "Host EC2*"
FALLBACK_WORKER_IMAGE = "public.ecr.aws/docker/library/python:3.12-slim"
WORKER_PLATFORM = ecr_assets.Platform.LINUX_AMD64  # the GPU instances are x86_64


def dockerignore_patterns(path: Path = DOCKERIGNORE) -> list[str]:
    """The patterns of a ``.dockerignore`` file, comments and blank lines left out."""
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


# the Docker build context is the repository: what .dockerignore leaves out (big, never
# copied in). One list: buildah/docker read the file, and so does the CDK asset.
WORKER_CONTEXT_EXCLUDES = dockerignore_patterns()


def retry_strategies() -> list[batch.RetryStrategy]:
    """In order: retry a Spot reclaim, retry the worker's retry exit codes, exit otherwise."""
    return [
        batch.RetryStrategy.of(
            batch.Action.RETRY, batch.Reason.custom(on_status_reason=SPOT_RECLAIM_STATUS_REASON)
        ),
        batch.RetryStrategy.of(
            batch.Action.RETRY, batch.Reason.custom(on_exit_code=names.BATCH_RETRY_EXIT_CODES)
        ),
        batch.RetryStrategy.of(batch.Action.EXIT, batch.Reason.custom(on_reason="*")),
    ]


def runnable_time_limits(minutes: int) -> list[batch.JobStateTimeLimitAction]:
    """Cancel a job that has waited ``minutes`` in RUNNABLE at the head of the queue for each
    reason Batch names for it: no Spot capacity, the compute environment's vCPU limit (or the
    account's quota), no instance type that fits the job."""
    reasons = (
        batch.JobStateTimeLimitActionsReason.INSUFFICIENT_INSTANCE_CAPACITY,
        batch.JobStateTimeLimitActionsReason.COMPUTE_ENVIRONMENT_MAX_RESOURCE,
        batch.JobStateTimeLimitActionsReason.JOB_RESOURCE_REQUIREMENT,
    )
    return [
        batch.JobStateTimeLimitAction(
            action=batch.JobStateTimeLimitActionsAction.CANCEL,
            max_time=Duration.minutes(minutes),
            reason=reason,
            state=batch.JobStateTimeLimitActionsState.RUNNABLE,
        )
        for reason in reasons
    ]


class Compute(Construct):
    """``.job_queue``, ``.fallback_queue`` (None without ``onDemandFallback``),
    ``.job_definition``, ``.job_role``.

    The job reaches ``api`` (IAM when it has an IAM endpoint, else with the generated
    token) and keeps checkpoints in ``bucket``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        network: Network,
        api: Api,
        bucket: s3.IBucket,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.security_group = ec2.SecurityGroup(
            self,
            "Instances",
            vpc=network.vpc,
            description="scanfleet Batch instances: outbound only",
            allow_all_outbound=True,
        )
        # IMDSv2 only; hop limit 2 so that a container (one more hop than the host) can still
        # read the Spot interruption notice the worker watches for
        self.launch_template = ec2.LaunchTemplate(
            self,
            "InstancesTemplate",
            require_imdsv2=True,
            http_put_response_hop_limit=2,
        )
        self.job_queue, self.fallback_queue = self._queues(settings, network)
        self.job_logs = logs.LogGroup(
            self, "JobLogs", retention=log_retention, removal_policy=removal_policy
        )
        self.job_role = iam.Role(
            self,
            "JobRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="what a scanfleet trial container may do",
        )
        self.job_definition = self._job_definition(settings, api, bucket)
        bucket.grant_read_write(self.job_role, f"{CHECKPOINT_PREFIX}*")
        bucket.grant_read(self.job_role, f"{INPUTS_PREFIX}*")
        nag.acknowledge(self.job_role, nag.BUCKET_USER)
        api.grant_invoke(self.job_role)
        nag.acknowledge(self, nag.COMPUTE)

    def _queues(
        self, settings: Settings, network: Network
    ) -> tuple[batch.JobQueue, batch.JobQueue | None]:
        """The Spot queue, and the On-Demand one when ``onDemandFallback`` asks for it."""
        spot = self._environment(
            "Spot",
            settings,
            network,
            spot=True,
            allocation=batch.AllocationStrategy(settings.spot_allocation_strategy),
            max_vcpus=settings.max_vcpus,
        )
        queue = batch.JobQueue(
            self,
            "Queue",
            compute_environments=[
                batch.OrderedComputeEnvironment(compute_environment=spot, order=1)
            ],
            job_state_time_limit_actions=runnable_time_limits(settings.runnable_timeout_minutes),
        )
        if not settings.on_demand_fallback:
            return queue, None
        on_demand = self._environment(
            "OnDemand",
            settings,
            network,
            spot=False,
            allocation=batch.AllocationStrategy.BEST_FIT_PROGRESSIVE,
            max_vcpus=settings.on_demand_max_vcpus,
        )
        fallback = batch.JobQueue(
            self,
            "OnDemandQueue",
            compute_environments=[
                batch.OrderedComputeEnvironment(compute_environment=on_demand, order=1)
            ],
            job_state_time_limit_actions=runnable_time_limits(settings.runnable_timeout_minutes),
        )
        return queue, fallback

    def _job_definition(
        self, settings: Settings, api: Api, bucket: s3.IBucket
    ) -> batch.EcsJobDefinition:
        """1 GPU, the worker image, what the worker needs to reach the API and the bucket."""
        environment = {
            names.ENV_API_URL: api.worker_url,
            names.ENV_AUTH: api.worker_auth,
            names.ENV_BUCKET_NAME: bucket.bucket_name,
            names.ENV_CHECKPOINT_URL: f"s3://{bucket.bucket_name}/{CHECKPOINT_PREFIX}",
            "AWS_DEFAULT_REGION": Aws.REGION,
        }
        secrets = (
            {names.ENV_TOKEN: batch.Secret.from_secrets_manager(api.token_secret, TOKEN_KEY)}
            if api.worker_auth == "token"
            else None
        )
        return batch.EcsJobDefinition(
            self,
            "Job",
            container=batch.EcsEc2ContainerDefinition(
                self,
                "Container",
                image=self._worker_image(settings),
                cpu=settings.job_vcpus,
                memory=Size.mebibytes(settings.job_memory_mib),
                gpu=settings.job_gpus or None,
                environment=environment,
                secrets=secrets,
                job_role=self.job_role,
                logging=ecs.LogDriver.aws_logs(stream_prefix="trial", log_group=self.job_logs),
            ),
            retry_attempts=settings.job_attempts,
            retry_strategies=retry_strategies(),
            timeout=Duration.minutes(settings.job_timeout_minutes),
            propagate_tags=True,
        )

    def _worker_image(self, settings: Settings) -> ecs.ContainerImage:
        """``workerImage`` from context, else built from worker/Dockerfile at deploy time
        (the synth only fingerprints the build context; it never needs Docker)."""
        if settings.worker_image:
            return ecs.ContainerImage.from_registry(settings.worker_image)
        if not WORKER_DOCKERFILE.is_file():
            Annotations.of(self).add_warning_v2(
                "scanfleet:no-worker-image",
                f"{WORKER_DOCKERFILE} not found and no workerImage given: using "
                f"{FALLBACK_WORKER_IMAGE}, which has no scanfleet worker in it",
            )
            return ecs.ContainerImage.from_registry(FALLBACK_WORKER_IMAGE)
        # the build context is this checkout: scanfleet is installed from it, not from PyPI
        build_args = {"SCANFLEET_SPEC": ".[server]"}
        requirements = WORKER_DOCKERFILE.parent / "requirements.txt"
        if requirements.is_file():
            build_args["REQUIREMENTS"] = str(requirements.relative_to(ROOT))
        return ecs.ContainerImage.from_asset(
            str(ROOT),
            file=str(WORKER_DOCKERFILE.relative_to(ROOT)),
            exclude=WORKER_CONTEXT_EXCLUDES,
            ignore_mode=IgnoreMode.DOCKER,  # the patterns mean what they mean to docker
            build_args=build_args,
            platform=WORKER_PLATFORM,  # never the deploying machine's (an arm64 laptop)
        )

    def _environment(
        self,
        construct_id: str,
        settings: Settings,
        network: Network,
        *,
        spot: bool,
        allocation: batch.AllocationStrategy,
        max_vcpus: int,
    ) -> batch.ManagedEc2EcsComputeEnvironment:
        return batch.ManagedEc2EcsComputeEnvironment(
            self,
            construct_id,
            vpc=network.vpc,
            vpc_subnets=network.subnets,
            security_groups=[self.security_group],
            spot=spot,
            allocation_strategy=allocation,
            instance_types=_instance_types(settings.gpu_instance_types),
            use_optimal_instance_classes=False,
            images=[batch.EcsMachineImage(image_type=batch.EcsMachineImageType.ECS_AL2023_NVIDIA)],
            minv_cpus=0,
            maxv_cpus=max_vcpus,
            update_to_latest_image_version=True,
            launch_template=self.launch_template,
        )


def _instance_types(names_: Sequence[str]) -> list[ec2.InstanceType]:
    return [ec2.InstanceType(name) for name in names_]
