"""The HTTP API: an API Gateway REST API proxying every path to the same handler the local
server runs (``lambdas/api.py``). One construct per way in: IAM (SigV4, for callers with
AWS credentials) or scanfleet tokens through a Lambda token authorizer (agents outside
AWS). Stage throttling, JSON access logs and X-Ray on both."""

from __future__ import annotations

from typing import Literal

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct
from scanfleet import names

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


class Api(Construct):
    """``.rest_api``, ``.url``. ``auth``: ``"iam"`` or ``"token"`` (then
    ``authorizer_function`` decides)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: lambda_.IFunction,
        auth: Literal["iam", "token"],
        authorizer_function: lambda_.IFunction | None = None,
        rate_limit: int,
        burst_limit: int,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=log_retention, removal_policy=removal_policy
        )
        if auth == "iam":
            method_options = apigw.MethodOptions(authorization_type=apigw.AuthorizationType.IAM)
        else:
            if authorizer_function is None:
                raise ValueError("a token API needs authorizer_function")
            authorizer = apigw.TokenAuthorizer(
                self,
                "TokenAuthorizer",
                handler=authorizer_function,
                identity_source=f"method.request.header.{names.HEADER_AUTHORIZATION}",
                results_cache_ttl=Duration.minutes(5),
            )
            method_options = apigw.MethodOptions(
                authorization_type=apigw.AuthorizationType.CUSTOM, authorizer=authorizer
            )
        self.rest_api = apigw.LambdaRestApi(
            self,
            "RestApi",
            handler=handler,
            proxy=True,
            description=f"scanfleet API ({auth} auth)",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=False,
            default_method_options=method_options,
            deploy_options=apigw.StageOptions(
                stage_name="v1",
                throttling_rate_limit=rate_limit,
                throttling_burst_limit=burst_limit,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=_ACCESS_LOG_FIELDS,
                tracing_enabled=True,
                metrics_enabled=True,
            ),
        )
        self.url = self.rest_api.url
