"""The one stack: composes data, api, compute, orchestration and monitoring, and holds
every grant between them (the constructs create resources; who may touch what is decided
here, in one place)."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Annotations, Aws, CfnOutput, RemovalPolicy, Stack, Token
from aws_cdk import aws_batch as batch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct
from scanfleet import names

from infra import lambdas as lambda_code
from infra import nag
from infra.api import Api
from infra.compute import Compute
from infra.data import CHECKPOINT_PREFIX, INPUTS_PREFIX, Data
from infra.monitoring import Monitoring
from infra.orchestration import Orchestration
from infra.paths import LAYER_DIR, ROOT, WORKER_DOCKERFILE
from infra.settings import LOG_RETENTION_DAYS, Settings, SettingsError

FALLBACK_WORKER_IMAGE = "public.ecr.aws/docker/library/python:3.12-slim"
# the Docker build context is the repository: leave out what is big and never copied in
WORKER_CONTEXT_EXCLUDES = [
    ".venv", ".git", "node_modules", "cdk.out", "build", ".scanfleet", "scanfleet-results",
    "tests", "test-artifacts", "bench/out",
    "**/__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", "*.egg-info",
]  # fmt: skip
TOKEN_KEY = "default"  # the token the stack generates, under this key of the secret


class ScanfleetStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        layer_dir: Path = LAYER_DIR,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        settings = Settings.from_context(self.node.try_get_context)
        self.settings = settings
        destroy = settings.removal_policy == "destroy"
        removal = RemovalPolicy.DESTROY if destroy else RemovalPolicy.RETAIN
        retention = list(logs.RetentionDays)[LOG_RETENTION_DAYS.index(settings.log_retention_days)]

        data = Data(
            self,
            "Data",
            removal_policy=removal,
            checkpoint_expiry_days=settings.checkpoint_expiry_days,
        )
        lambdas = lambda_code.LambdaSettings(
            code=lambda_code.source_code(),
            layers=[lambda_code.dependencies_layer(self, layer_dir)],
            log_retention=retention,
            removal_policy=removal,
            environment=lambda_code.base_environment(
                table_name=data.table.table_name, bucket_name=data.bucket.bucket_name
            ),
        )

        # ---- the API: IAM, token, or both --------------------------------------------------
        api_function = lambdas.function(
            self, "ApiHandler", handler="api.handler", description="scanfleet HTTP API"
        )
        self.token_secret = secretsmanager.Secret(
            self,
            "ApiTokens",
            description='scanfleet API tokens for agents outside AWS: {"label": "token", ...}',
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template="{}",
                generate_string_key=TOKEN_KEY,
                exclude_punctuation=True,
                password_length=43,
            ),
            removal_policy=removal,
        )
        functions: dict[str, lambda_.IFunction] = {"api": api_function}
        self.iam_api: Api | None = None
        self.token_api: Api | None = None
        api_props = dict(
            handler=api_function,
            rate_limit=settings.api_rate_limit,
            burst_limit=settings.api_burst_limit,
            log_retention=retention,
            removal_policy=removal,
        )
        if settings.auth_mode in ("iam", "both"):
            self.iam_api = Api(self, "Api", auth="iam", **api_props)  # type: ignore[arg-type]
        if settings.auth_mode in ("token", "both"):
            authorizer = lambdas.function(
                self,
                "Authorizer",
                handler="authorizer.handler",
                description="scanfleet API token authorizer",
                environment={names.ENV_TOKEN_SECRET: self.token_secret.secret_arn},
            )
            functions["authorizer"] = authorizer
            self.token_secret.grant_read(authorizer)
            self.token_api = Api(
                self,
                "AgentApi",
                auth="token",
                authorizer_function=authorizer,
                **api_props,  # type: ignore[arg-type]
            )

        # ---- compute -----------------------------------------------------------------------
        vpc, subnets = self._vpc(settings, retention, removal)
        worker_api = self.iam_api or self.token_api
        assert worker_api is not None
        job_environment = {
            names.ENV_API_URL: worker_api.url,
            names.ENV_AUTH: "iam" if self.iam_api else "token",
            names.ENV_BUCKET_NAME: data.bucket.bucket_name,
            names.ENV_CHECKPOINT_URL: f"s3://{data.bucket.bucket_name}/{CHECKPOINT_PREFIX}",
            "AWS_DEFAULT_REGION": Aws.REGION,
        }
        job_secrets = (
            {}
            if self.iam_api
            else {names.ENV_TOKEN: batch.Secret.from_secrets_manager(self.token_secret, TOKEN_KEY)}
        )
        compute = Compute(
            self,
            "Compute",
            settings=settings,
            vpc=vpc,
            subnets=subnets,
            image=self._worker_image(settings),
            environment=job_environment,
            secrets=job_secrets,
            lambdas=lambdas,
            log_retention=retention,
            removal_policy=removal,
        )
        functions["reaper"] = compute.reaper

        # ---- orchestration -----------------------------------------------------------------
        orchestration = Orchestration(
            self,
            "Orchestration",
            table=data.table,
            bucket=data.bucket,
            job_queue=compute.job_queue,
            job_definition=compute.job_definition,
            lambdas=lambdas,
            log_retention=retention,
            removal_policy=removal,
        )
        for function in orchestration.functions:
            functions[function.node.id] = function

        # ---- grants: every one of them is here ---------------------------------------------
        for function in [api_function, compute.reaper, *orchestration.functions]:
            data.table.grant_read_write_data(function)
        for function in orchestration.functions:
            data.bucket.grant_read_write(function)
        data.bucket.grant_read_write(compute.job_role, f"{CHECKPOINT_PREFIX}*")
        data.bucket.grant_read(compute.job_role, f"{INPUTS_PREFIX}*")
        data.bucket.grant_read_write(api_function, f"{INPUTS_PREFIX}*")
        # an agent's claim of a PBT child copies its parent's checkpoint inside the API
        data.bucket.grant_read_write(api_function, f"{CHECKPOINT_PREFIX}*")
        if self.iam_api:
            compute.job_role.add_to_policy(
                iam.PolicyStatement(
                    actions=["execute-api:Invoke"],
                    resources=[self.iam_api.rest_api.arn_for_execute_api("*", "/*", "*")],
                )
            )
        for function in [api_function, *orchestration.functions]:
            self._grant_scan_control(function, orchestration, compute.job_queue)
        self._grant_job_definition_copies(orchestration.plan_function, compute)

        # ---- monitoring and outputs --------------------------------------------------------
        monitoring = Monitoring(
            self,
            "Monitoring",
            functions=functions,
            state_machine=orchestration.state_machine,
            alarm_email=settings.alarm_email,
        )
        self.data, self.compute, self.orchestration, self.monitoring = (
            data,
            compute,
            orchestration,
            monitoring,
        )
        self.functions = functions
        if self.iam_api:
            CfnOutput(self, "ApiUrl", value=self.iam_api.url, description="API (IAM auth)")
        if self.token_api:
            CfnOutput(self, "AgentApiUrl", value=self.token_api.url, description="API (tokens)")
        CfnOutput(self, "TokenSecretArn", value=self.token_secret.secret_arn)
        CfnOutput(self, "TableName", value=data.table.table_name)
        CfnOutput(self, "BucketName", value=data.bucket.bucket_name)
        CfnOutput(self, "JobQueueArn", value=compute.job_queue.job_queue_arn)
        if compute.fallback_queue:
            CfnOutput(self, "FallbackJobQueueArn", value=compute.fallback_queue.job_queue_arn)
        CfnOutput(self, "StateMachineArn", value=orchestration.state_machine.state_machine_arn)
        CfnOutput(self, "DashboardName", value=monitoring.dashboard.dashboard_name)
        self._acknowledge(api_function, compute, orchestration)

    @staticmethod
    def _grant_scan_control(
        function: lambda_.Function, orchestration: Orchestration, job_queue: batch.JobQueue
    ) -> None:
        """Start, list, describe and stop the scan executions; terminate their Batch jobs
        (``scanfleet.cloud.ScanExecutions``). The machine has a fixed name, so its ARN is
        known without referring to it (no reference cycle through the Lambda tasks)."""
        function.add_environment(names.ENV_STATE_MACHINE_ARN, orchestration.state_machine_arn_text)
        function.add_environment(names.ENV_JOB_QUEUE, job_queue.job_queue_arn)
        machine, executions = orchestration.state_machine_arn_text, orchestration.execution_arn_text
        jobs = Stack.of(function).format_arn(service="batch", resource="job", resource_name="*")
        statements = [
            (["states:StartExecution", "states:ListExecutions"], machine),
            (["states:DescribeExecution", "states:StopExecution"], executions),
            (["batch:ListJobs"], "*"),  # ListJobs has no resource-level permissions
            (["batch:TerminateJob"], jobs),
        ]
        for actions, resource in statements:
            function.add_to_role_policy(iam.PolicyStatement(actions=actions, resources=[resource]))

    @staticmethod
    def _grant_job_definition_copies(function: lambda_.Function, compute: Compute) -> None:
        """A scan with its own ``image`` runs a copy of the job definition that Plan registers
        (``scanfleet.cloud.JobDefinitions``), with the same roles."""
        definitions = Stack.of(function).format_arn(
            service="batch", resource="job-definition", resource_name="*"
        )
        statements = [
            (["batch:DescribeJobDefinitions"], "*"),  # no resource-level permissions
            (["batch:RegisterJobDefinition", "batch:TagResource"], definitions),
        ]
        for actions, resource in statements:
            function.add_to_role_policy(iam.PolicyStatement(actions=actions, resources=[resource]))
        compute.job_role.grant_pass_role(function)
        execution_role = compute.job_definition.container.execution_role
        if execution_role is not None:
            execution_role.grant_pass_role(function)

    def _acknowledge(
        self, api_function: lambda_.Function, compute: Compute, orchestration: Orchestration
    ) -> None:
        nag.acknowledge(self, nag.STACK_WIDE)
        for function in self.functions.values():
            nag.acknowledge(function, nag.LAMBDA_ROLE)
        for user in [compute.job_role, api_function, *orchestration.functions]:
            nag.acknowledge(user, nag.BUCKET_USER)
        nag.acknowledge(compute.job_role, nag.JOB_ROLE)
        nag.acknowledge(compute, nag.COMPUTE)
        nag.acknowledge(self.token_secret, nag.TOKEN_SECRET)
        for function in [api_function, *orchestration.functions]:
            nag.acknowledge(function, nag.scan_control(orchestration.state_machine_name))
        nag.acknowledge(orchestration.plan_function, nag.JOB_DEFINITION_COPIES)
        nag.acknowledge(
            orchestration.state_machine,
            nag.state_machine_role(self, orchestration.functions),
        )

    def _vpc(
        self, settings: Settings, retention: logs.RetentionDays, removal: RemovalPolicy
    ) -> tuple[ec2.IVpc, ec2.SubnetSelection]:
        """An existing VPC by id (looked up: needs an account and region), or a new one with
        public subnets only — no NAT gateway to pay for; instances reach ECR, S3 and the API
        directly and accept no inbound traffic."""
        if settings.vpc_id:
            if Token.is_unresolved(self.account) or Token.is_unresolved(self.region):
                raise SettingsError(
                    "context vpcId: looking up a VPC needs an account and region; set "
                    "CDK_DEFAULT_ACCOUNT and CDK_DEFAULT_REGION (or an AWS profile)"
                )
            vpc = ec2.Vpc.from_lookup(self, "Vpc", vpc_id=settings.vpc_id)
            private = bool(vpc.private_subnets)
            kind = ec2.SubnetType.PRIVATE_WITH_EGRESS if private else ec2.SubnetType.PUBLIC
            return vpc, ec2.SubnetSelection(subnet_type=kind)
        flow_logs = logs.LogGroup(self, "VpcFlowLogs", retention=retention, removal_policy=removal)
        vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=20
                )
            ],
            flow_logs={
                "FlowLogs": ec2.FlowLogOptions(
                    destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs)
                )
            },
        )
        return vpc, ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC)

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
            build_args=build_args,
        )
