"""The one stack: wires the constructs together. Each construct makes the resources of its
concern, its functions among them, and grants them what they use; the stack hands each
one what another made (the table and bucket, the API, the job queue) and names the outputs.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_logs as logs
from constructs import Construct
from scanfleet.tenancy import ENV_TENANTS

from infra import nag
from infra.agents import Agents
from infra.api import Api, StageLimits
from infra.compute import Compute
from infra.data import Data
from infra.lambdas import LambdaSettings
from infra.monitoring import Monitoring
from infra.network import batch_network
from infra.orchestration import Orchestration
from infra.paths import LAYER_DIR
from infra.reaper import Reaper
from infra.settings import LOG_RETENTION_DAYS, Settings


class ScanfleetStack(Stack):
    """``.settings`` and the constructs: ``.data``, ``.api``, ``.compute``,
    ``.orchestration`` (the scan path), ``.reaper`` and ``.monitoring``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        layer_dir: Path = LAYER_DIR,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.settings = settings = Settings.from_context(self.node.try_get_context)
        removal = (
            RemovalPolicy.DESTROY if settings.removal_policy == "destroy" else RemovalPolicy.RETAIN
        )
        retention = list(logs.RetentionDays)[LOG_RETENTION_DAYS.index(settings.log_retention_days)]
        self.data = data = Data(
            self,
            "Data",
            removal_policy=removal,
            checkpoint_expiry_days=settings.checkpoint_expiry_days,
        )
        lambdas = LambdaSettings.for_stack(
            self,
            table_name=data.table.table_name,
            bucket_name=data.bucket.bucket_name,
            log_retention=retention,
            removal_policy=removal,
            layer_dir=layer_dir,
        )
        self._scan_path(lambdas, removal, retention)
        self._operations(lambdas)
        nag.acknowledge(self, nag.STACK_WIDE)
        nag.acknowledge_checkov(self, nag.CHECKOV_STACK_WIDE)
        nag.acknowledge_checkov(self.data.access_logs, nag.CHECKOV_ACCESS_LOG_BUCKET)
        self._outputs()
        for child in self.node.children:  # CDK's singletons (Custom::S3AutoDeleteObjects...)
            if child.node.id.startswith("Custom::"):
                nag.acknowledge_checkov(child, nag.CHECKOV_CDK_PROVIDERS)

    def _scan_path(
        self, lambdas: LambdaSettings, removal: RemovalPolicy, retention: logs.RetentionDays
    ) -> None:
        """The API, the Batch compute its trials run on, and the state machine that feeds it;
        the API may start and stop the scan executions."""
        settings, data = self.settings, self.data
        limits = StageLimits(
            settings.api_rate_limit,
            settings.api_burst_limit,
            retention,
            removal,
            access_logs=settings.api_access_logs,
        )
        self.api = Api(
            self,
            "Api",
            auth_mode=settings.auth_mode,
            lambdas=lambdas,
            table=data.table,
            bucket=data.bucket,
            limits=limits,
        )
        if settings.tenants:  # who is which tenant (scanfleet.tenancy)
            self.api.handler.add_environment(ENV_TENANTS, settings.tenants)
        network = batch_network(
            self, vpc_id=settings.vpc_id, log_retention=retention, removal_policy=removal
        )
        self.compute = Compute(
            self,
            "Compute",
            settings=settings,
            network=network,
            api=self.api,
            bucket=data.bucket,
            log_retention=retention,
            removal_policy=removal,
        )
        self.orchestration = Orchestration(
            self,
            "Orchestration",
            table=data.table,
            bucket=data.bucket,
            job_queue=self.compute.job_queue,
            job_definition=self.compute.job_definition,
            lambdas=lambdas,
            log_retention=retention,
            removal_policy=removal,
            lane_concurrency=settings.lane_concurrency,
            fallback_queue=self.compute.fallback_queue,
            on_demand_after_preemptions=settings.on_demand_after_preemptions,
            runnable_timeout_minutes=settings.runnable_timeout_minutes,
        )
        self.orchestration.grant_scan_control(self.api.handler)
        self.agents = Agents(self, "Agents", api=self.api, bucket=data.bucket)

    def _operations(self, lambdas: LambdaSettings) -> None:
        """The reaper, and the dashboard and alarms over every function and the machine."""
        self.reaper = Reaper(
            self,
            "Reaper",
            lambdas=lambdas,
            table=self.data.table,
            interval_minutes=self.settings.reaper_interval_minutes,
        )
        functions = {
            **self.api.functions,
            "reaper": self.reaper.function,
            **self.orchestration.functions_by_name,
        }
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            functions=functions,
            dead_letter_queues=[
                fn.dead_letter_queue for fn in functions.values() if fn.dead_letter_queue
            ],
            state_machine=self.orchestration.state_machine,
            alarm_email=self.settings.alarm_email,
        )

    def _outputs(self) -> None:
        """What ``scanfleet deploy`` and the docs read, by these names."""
        if self.api.iam_api:
            CfnOutput(self, "ApiUrl", value=self.api.iam_api.url, description="API (IAM auth)")
        if self.api.token_api:
            CfnOutput(self, "AgentApiUrl", value=self.api.token_api.url, description="API (tokens)")
        CfnOutput(self, "TokenSecretArn", value=self.api.token_secret.secret_arn)
        CfnOutput(self, "TableName", value=self.data.table.table_name)
        CfnOutput(self, "BucketName", value=self.data.bucket.bucket_name)
        CfnOutput(self, "JobQueueArn", value=self.compute.job_queue.job_queue_arn)
        if self.compute.fallback_queue:
            CfnOutput(self, "FallbackJobQueueArn", value=self.compute.fallback_queue.job_queue_arn)
        state_machine = self.orchestration.state_machine
        CfnOutput(self, "StateMachineArn", value=state_machine.state_machine_arn)
        CfnOutput(self, "DashboardName", value=self.monitoring.dashboard.dashboard_name)
        CfnOutput(
            self,
            "WorkerWheel",
            value=self.agents.wheel_url,
            description="scanfleet's wheel and its sha256: scanfleet worker user-data --wheel",
        )
        CfnOutput(
            self,
            "AgentInstanceProfileName",
            value=self.agents.instance_profile.instance_profile_name,
            description="an instance profile for EC2 agents (scanfleet worker user-data)",
        )
