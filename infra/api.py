"""The HTTP API: the function that serves it (``lambdas/api.py``, the same handler the local
server runs) and one API Gateway REST API per way in, both proxying every path to it: IAM
(SigV4, for callers with AWS credentials) and scanfleet tokens through a Lambda token
authorizer (agents outside AWS). Stage throttling, JSON access logs and X-Ray on both.

Access logs need the region's API Gateway CloudWatch role (``AWS::ApiGateway::Account``, an
account-level setting): without it the stage fails to create and the stack rolls back in a
region where nobody set it. So the construct sets it, once for both APIs, with a role of its
own that is kept when the stack is deleted (other APIs of the account may log through it).
``apiAccessLogs=false`` turns the access logs off and leaves the account setting alone.

The construct makes its functions and gives them what they use: the table, the bucket's
``inputs/`` and ``checkpoints/`` prefixes, the token secret. Others get access through it:
:meth:`Api.grant_invoke` (the IAM endpoint) and :attr:`Api.token_secret`.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct
from scanfleet import names

from infra import nag
from infra.data import CHECKPOINT_PREFIX, INPUTS_PREFIX
from infra.lambdas import LambdaSettings
from infra.settings import AuthMode

TOKEN_KEY = "default"  # the token the stack generates, under this key of the secret
_ACCESS_LOG_FIELDS = apigw.AccessLogFormat.json_with_standard_fields(
    caller=True,
    http_method=True,
    ip=True,
    protocol=True,
    request_time=True,
    resource_path=True,
    response_length=True,
    status=True,
    user=True,
)


@dataclass(frozen=True)
class StageLimits:
    """Stage throttling (requests per second, burst), whether the stages write access logs
    (and the stack sets the account's API Gateway CloudWatch role) and how long they are
    kept."""

    rate_limit: int
    burst_limit: int
    log_retention: logs.RetentionDays
    removal_policy: RemovalPolicy
    access_logs: bool = True


class Api(Construct):
    """``.handler`` and ``.authorizer`` (None without token auth), ``.functions`` (by the
    name the dashboard shows), ``.token_secret``, ``.iam_api`` / ``.token_api`` (each None
    when ``auth_mode`` leaves it out); ``.worker_url`` and ``.worker_auth``: how a trial
    container reaches the API (IAM when there is an IAM endpoint)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        auth_mode: AuthMode,
        lambdas: LambdaSettings,
        table: dynamodb.ITable,
        bucket: s3.IBucket,
        limits: StageLimits,
    ) -> None:
        super().__init__(scope, construct_id)
        self.handler = lambdas.function(
            self, "Handler", module="api", description="scanfleet HTTP API"
        )
        table.grant_read_write_data(self.handler)
        # scripts uploaded with a scan; an agent's claim of a PBT child copies its parent's
        # checkpoint inside the API
        bucket.grant_read_write(self.handler, f"{INPUTS_PREFIX}*")
        bucket.grant_read_write(self.handler, f"{CHECKPOINT_PREFIX}*")
        nag.acknowledge(self.handler, nag.BUCKET_USER)
        self.token_secret = secretsmanager.Secret(
            self,
            "Tokens",
            description='scanfleet API tokens for agents outside AWS: {"label": "token", ...}',
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template="{}",
                generate_string_key=TOKEN_KEY,
                exclude_punctuation=True,
                password_length=43,
            ),
            removal_policy=limits.removal_policy,
        )
        nag.acknowledge(self.token_secret, nag.TOKEN_SECRET)
        self.functions: dict[str, lambda_.Function] = {"api": self.handler}
        self.iam_api: apigw.LambdaRestApi | None = None
        self.token_api: apigw.LambdaRestApi | None = None
        self.authorizer: lambda_.Function | None = None
        self.account: apigw.CfnAccount | None = (
            self._cloud_watch_role() if limits.access_logs else None
        )
        if auth_mode in ("iam", "both"):
            iam_auth = apigw.MethodOptions(authorization_type=apigw.AuthorizationType.IAM)
            self.iam_api = self._rest_api("", "iam", iam_auth, limits)
        if auth_mode in ("token", "both"):
            self.authorizer = self.functions["authorizer"] = lambdas.function(
                self,
                "Authorizer",
                module="authorizer",
                description="scanfleet API token authorizer",
                environment={names.ENV_TOKEN_SECRET: self.token_secret.secret_arn},
            )
            self.token_secret.grant_read(self.authorizer)
            # the API signs per-trial worker tokens with a key derived from the secret
            self.handler.add_environment(names.ENV_TOKEN_SECRET, self.token_secret.secret_arn)
            self.token_secret.grant_read(self.handler)
            self.token_api = self._rest_api("Agent", "token", self._token_auth(), limits)

    @property
    def worker_api(self) -> apigw.LambdaRestApi:
        api = self.iam_api or self.token_api
        assert api is not None, "auth_mode makes at least one endpoint"
        return api

    @property
    def worker_url(self) -> str:
        return self.worker_api.url

    @property
    def worker_auth(self) -> str:
        return "iam" if self.iam_api else "token"

    def grant_invoke(self, role: iam.IRole) -> None:
        """Every route of the IAM endpoint (nothing without one: then workers hold a token)."""
        if self.iam_api is None:
            return
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["execute-api:Invoke"],
                resources=[self.iam_api.arn_for_execute_api("*", "/*", "*")],
            )
        )
        nag.acknowledge(role, nag.JOB_ROLE)

    def _cloud_watch_role(self) -> apigw.CfnAccount:
        """The role API Gateway writes logs with, set as the region's (one per account and
        region, so one for both APIs; CDK's ``cloud_watch_role=True`` would make one per API,
        fighting over the setting). Kept when the stack is deleted: the setting outlives it."""
        role = iam.Role(
            self,
            "CloudWatchRole",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            description="API Gateway writes the account's API logs to CloudWatch",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(
                    "service-role/AmazonAPIGatewayPushToCloudWatchLogs"
                )
            ],
        )
        role.apply_removal_policy(RemovalPolicy.RETAIN)
        nag.acknowledge(role, nag.API_CLOUDWATCH_ROLE)
        account = apigw.CfnAccount(self, "Account", cloud_watch_role_arn=role.role_arn)
        account.apply_removal_policy(RemovalPolicy.RETAIN)
        account.node.add_dependency(role)
        return account

    def _token_auth(self) -> apigw.MethodOptions:
        assert self.authorizer is not None
        authorizer = apigw.TokenAuthorizer(
            self,
            "TokenAuthorizer",
            handler=self.authorizer,
            identity_source=f"method.request.header.{names.HEADER_AUTHORIZATION}",
            results_cache_ttl=Duration.minutes(5),
        )
        return apigw.MethodOptions(
            authorization_type=apigw.AuthorizationType.CUSTOM, authorizer=authorizer
        )

    def _rest_api(
        self, prefix: str, auth: str, method_options: apigw.MethodOptions, limits: StageLimits
    ) -> apigw.LambdaRestApi:
        """``<prefix>RestApi`` (and its ``<prefix>AccessLogs`` when the stages log),
        proxying to the handler."""
        access: dict[str, object] = {}
        if self.account is not None:
            access_logs = logs.LogGroup(
                self,
                f"{prefix}AccessLogs",
                retention=limits.log_retention,
                removal_policy=limits.removal_policy,
            )
            access = {
                "access_log_destination": apigw.LogGroupLogDestination(access_logs),
                "access_log_format": _ACCESS_LOG_FIELDS,
            }
        api = apigw.LambdaRestApi(
            self,
            f"{prefix}RestApi",
            handler=self.handler,
            proxy=True,
            description=f"scanfleet API ({auth} auth)",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=False,  # the construct sets the account's role, once
            default_method_options=method_options,
            deploy_options=apigw.StageOptions(
                stage_name="v1",
                throttling_rate_limit=limits.rate_limit,
                throttling_burst_limit=limits.burst_limit,
                tracing_enabled=True,
                metrics_enabled=True,
                **access,  # type: ignore[arg-type]
            ),
        )
        if self.account is not None:  # the stage logs only once the role is the region's
            api.deployment_stage.node.add_dependency(self.account)
        else:
            nag.acknowledge(api, nag.NO_ACCESS_LOGS)
            nag.acknowledge_checkov(api, nag.CHECKOV_NO_ACCESS_LOGS)
        return api
