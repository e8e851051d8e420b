"""Where trials run: AWS Batch on Spot GPU instances, and the stale-lease reaper.

- a managed EC2 compute environment on Spot (``SPOT_PRICE_CAPACITY_OPTIMIZED`` by default)
  with the ECS GPU AMI, and the job queue in front of it;
- optionally an On-Demand compute environment behind its own queue (``.fallback_queue``),
  for when Spot capacity does not come;
- the job definition: the worker image, 1 GPU, the environment the worker needs, a
  timeout, and the retry strategy. Batch retries when NO rule matches, so the list ends
  with an EXIT catch-all: a Spot reclaim (status reason ``Host EC2*``) and the worker's
  interruption exit codes are retried, everything else ends the job;
- the reaper Lambda on an EventBridge schedule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration, RemovalPolicy, Size
from aws_cdk import aws_batch as batch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct
from scanfleet import names

from infra.lambdas import LambdaSettings
from infra.settings import Settings

SPOT_RECLAIM_STATUS_REASON = "Host EC2*"


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


class Compute(Construct):
    """``.job_queue``, ``.fallback_queue`` (None without ``onDemandFallback``),
    ``.job_definition``, ``.job_role``, ``.reaper``, ``.reaper_rule``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        image: ecs.ContainerImage,
        environment: Mapping[str, str],
        secrets: Mapping[str, batch.Secret],
        lambdas: LambdaSettings,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.security_group = ec2.SecurityGroup(
            self,
            "Instances",
            vpc=vpc,
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
        spot = self._environment(
            "Spot",
            settings,
            vpc,
            subnets,
            spot=True,
            allocation=batch.AllocationStrategy(settings.spot_allocation_strategy),
            max_vcpus=settings.max_vcpus,
        )
        self.job_queue = batch.JobQueue(
            self,
            "Queue",
            compute_environments=[
                batch.OrderedComputeEnvironment(compute_environment=spot, order=1)
            ],
        )
        self.fallback_queue: batch.JobQueue | None = None
        if settings.on_demand_fallback:
            on_demand = self._environment(
                "OnDemand",
                settings,
                vpc,
                subnets,
                spot=False,
                allocation=batch.AllocationStrategy.BEST_FIT_PROGRESSIVE,
                max_vcpus=settings.on_demand_max_vcpus,
            )
            self.fallback_queue = batch.JobQueue(
                self,
                "OnDemandQueue",
                compute_environments=[
                    batch.OrderedComputeEnvironment(compute_environment=on_demand, order=1)
                ],
            )

        self.job_logs = logs.LogGroup(
            self, "JobLogs", retention=log_retention, removal_policy=removal_policy
        )
        self.job_role = iam.Role(
            self,
            "JobRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="what a scanfleet trial container may do (granted by the stack)",
        )
        self.job_definition = batch.EcsJobDefinition(
            self,
            "Job",
            container=batch.EcsEc2ContainerDefinition(
                self,
                "Container",
                image=image,
                cpu=settings.job_vcpus,
                memory=Size.mebibytes(settings.job_memory_mib),
                gpu=settings.job_gpus or None,
                environment=dict(environment),
                secrets=dict(secrets) or None,
                job_role=self.job_role,
                logging=ecs.LogDriver.aws_logs(stream_prefix="trial", log_group=self.job_logs),
            ),
            retry_attempts=settings.job_attempts,
            retry_strategies=retry_strategies(),
            timeout=Duration.minutes(settings.job_timeout_minutes),
            propagate_tags=True,
        )

        self.reaper = lambdas.function(
            self,
            "Reaper",
            handler="reaper.handler",
            description="re-queues trials whose worker stopped heartbeating",
            timeout=Duration.minutes(2),
        )
        self.reaper_rule = events.Rule(
            self,
            "ReaperSchedule",
            description="run the scanfleet stale-lease reaper",
            schedule=events.Schedule.rate(Duration.minutes(settings.reaper_interval_minutes)),
            targets=[targets.LambdaFunction(self.reaper, retry_attempts=2)],
        )

    def _environment(
        self,
        construct_id: str,
        settings: Settings,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        *,
        spot: bool,
        allocation: batch.AllocationStrategy,
        max_vcpus: int,
    ) -> batch.ManagedEc2EcsComputeEnvironment:
        return batch.ManagedEc2EcsComputeEnvironment(
            self,
            construct_id,
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[self.security_group],
            spot=spot,
            allocation_strategy=allocation,
            instance_types=_instance_types(settings.gpu_instance_types),
            use_optimal_instance_classes=False,
            images=[batch.EcsMachineImage(image_type=batch.EcsMachineImageType.ECS_AL2_NVIDIA)],
            minv_cpus=0,
            maxv_cpus=max_vcpus,
            update_to_latest_image_version=True,
            launch_template=self.launch_template,
        )


def _instance_types(names_: Sequence[str]) -> list[ec2.InstanceType]:
    return [ec2.InstanceType(name) for name in names_]
