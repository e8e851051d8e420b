"""cdk-nag (AwsSolutions) findings we accept, each with its reason. Anything not listed
here fails the synth (``tests/infra/test_nag.py`` proves there is none left). Below them,
the checkov checks we accept (docs/deploy.md has the triage), written into the template as
each resource's ``Metadata.checkov.skip`` so that checkov reads the reason too.

Rule ids are as cdk-nag reports them; a granular finding names what it applies to
(``AwsSolutions-IAM5[Action::s3:List*]``). Stack-wide acknowledgments are for findings
that are the same everywhere; the ones about one resource are made on that resource.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import Acknowledgment, CfnResource, Stack, Token, Validations
from aws_cdk import aws_lambda as lambda_
from constructs import IConstruct

_PACK = "AwsSolutions::"

STACK_WIDE: dict[str, str] = {
    "AwsSolutions-L1": (
        "scanfleet's Lambdas run on Python 3.12, the runtime the dependencies layer's wheels "
        "are built for and the one the project tests; a runtime bump is a deliberate change"
    ),
    "AwsSolutions-APIG2": (
        "the API handler validates every request body and parameter with pydantic and "
        "answers 400 with the field path; a second schema in API Gateway would drift from it"
    ),
    "AwsSolutions-APIG3": (
        "stage throttling limits request rates; a WAF web ACL is an account-level choice "
        "(and cost) left to the operator"
    ),
    "AwsSolutions-APIG6": (
        "JSON access logs (on by default) and the Lambda's structured logs record every "
        "request; execution logs would go to log groups API Gateway creates itself, outside "
        "the stack, kept forever and paid per byte"
    ),
    "AwsSolutions-COG4": (
        "callers authenticate with IAM (SigV4) or with scanfleet tokens through a Lambda "
        "authorizer; scanfleet has no user pool"
    ),
}

API_CLOUDWATCH_ROLE: dict[str, str] = {
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
    "AmazonAPIGatewayPushToCloudWatchLogs]": (
        "the account's API Gateway CloudWatch role (needed for access logs) uses the AWS "
        "managed policy API Gateway documents for it: create and write log groups only"
    ),
}

NO_ACCESS_LOGS: dict[str, str] = {
    "AwsSolutions-APIG1": (
        "apiAccessLogs=false: the operator turned the stages' access logs off, so the stack "
        "leaves the account's API Gateway CloudWatch role alone; the Lambda logs each request"
    ),
}

LAMBDA_ROLE: dict[str, str] = {
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
    "AWSLambdaBasicExecutionRole]": (
        "the basic execution policy only lets the function write its own CloudWatch logs"
    ),
    "AwsSolutions-IAM5[Resource::*]": (
        "X-Ray tracing (xray:PutTraceSegments, xray:PutTelemetryRecords) and batch:ListJobs "
        "take no resource"
    ),
    "AwsSolutions-IAM5[Resource::<DataTableFDBAD0F2.Arn>/index/*]": (
        "the store queries the table's own indexes (queue, lease, number, owner)"
    ),
}

BUCKET_USER: dict[str, str] = {
    "AwsSolutions-IAM5[Action::s3:GetObject*]": "checkpoints and logs: read objects",
    "AwsSolutions-IAM5[Action::s3:GetBucket*]": "checkpoints and logs: bucket location",
    "AwsSolutions-IAM5[Action::s3:List*]": "checkpoints and logs: list a trial's prefix",
    "AwsSolutions-IAM5[Action::s3:DeleteObject*]": "checkpoints: replace and prune old ones",
    "AwsSolutions-IAM5[Action::s3:Abort*]": "checkpoints: abort a failed multipart upload",
    "AwsSolutions-IAM5[Resource::<DataBucketE6B0FAA8.Arn>/*]": (
        "the orchestration reads and writes any trial's checkpoints and logs in its own bucket"
    ),
    "AwsSolutions-IAM5[Resource::<DataBucketE6B0FAA8.Arn>/inputs/*]": (
        "the API stores the scripts uploaded with a scan under inputs/<scan>/; workers read them"
    ),
    "AwsSolutions-IAM5[Resource::<DataBucketE6B0FAA8.Arn>/checkpoints/*]": (
        "a trial container writes checkpoints, one prefix per trial, in the checkpoint prefix"
    ),
}

JOB_ROLE: dict[str, str] = {
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:"
    "<AWS::AccountId>:<ApiRestApiE35FEAFE>/*/*/*]": (
        "the worker calls every route of the scanfleet API (claim, heartbeat, report) with "
        "SigV4; the resource is this stack's API only"
    ),
}

COMPUTE: dict[str, str] = {
    "AwsSolutions-IAM5[Resource::*]": (
        "the job's execution role pulls the worker image: ecr:GetAuthorizationToken takes no "
        "resource (the image repository itself is named)"
    ),
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
    "AmazonEC2ContainerServiceforEC2Role]": (
        "the ECS agent on Batch instances needs this AWS-maintained policy (AWS Batch docs: "
        "Amazon ECS instance role)"
    ),
}

JOB_DEFINITION_COPIES: dict[str, str] = {
    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:batch:<AWS::Region>:<AWS::AccountId>:"
    "job-definition/*]": (
        "Plan registers a copy of the job definition for a scan with its own image; its name "
        "is made at run time from the image"
    ),
}

TOKEN_SECRET: dict[str, str] = {
    "AwsSolutions-SMG4": (
        "API tokens are handed to people and agents; they are rotated by adding a new key to "
        "the secret and removing the old one (docs/deploy.md), not by a rotation Lambda"
    ),
}


def scan_control(state_machine_name: str) -> dict[str, str]:
    """What the functions that start, stop and clean up scan executions need."""
    executions = (
        "arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
        f"{state_machine_name}:*"
    )
    return {
        f"AwsSolutions-IAM5[Resource::{executions}]": (
            "execution names are made at run time (<scan>-<run>-<generation>-<lane>); the "
            "resource is this stack's scan state machine only"
        ),
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:batch:<AWS::Region>:<AWS::AccountId>:"
        "job/*]": (
            "cancel terminates the scan's Batch jobs, whose ids are made at run time; "
            "batch:TerminateJob only"
        ),
    }


def state_machine_role(stack: Stack, functions: Sequence[lambda_.Function]) -> dict[str, str]:
    """The policy the Step Functions task constructs write for the state machine role."""
    findings = {
        "AwsSolutions-IAM5[Resource::*]": (
            "CloudWatch Logs delivery and X-Ray for the state machine take no resource "
            "(Step Functions docs: logging IAM policy)"
        ),
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:batch:<AWS::Region>:<AWS::AccountId>:"
        "job-definition/*]": (
            "batch:SubmitJob.sync: the task construct grants every revision of the job "
            "definition; the job queue is this stack's"
        ),
    }
    for function in functions:
        logical_id = stack.get_logical_id(function.node.default_child)  # type: ignore[arg-type]
        findings[f"AwsSolutions-IAM5[Resource::<{logical_id}.Arn>:*]"] = (
            "invoking a task Lambda by ARN also covers its versions and aliases"
        )
    return findings


def acknowledge(scope: IConstruct, findings: Mapping[str, str]) -> None:
    """Acknowledge ``findings`` (rule id → reason) for ``scope`` and everything in it.

    Rule ids are written for an environment-agnostic stack (``<AWS::Region>``…). In a stack
    with a known account and region (every ``cdk deploy``) cdk-nag shows the ARNs the stack
    formats with those values literally (AWS managed policy ARNs keep the placeholder), so
    each id is acknowledged in both spellings."""
    stack = Stack.of(scope)
    Validations.of(scope).acknowledge(
        *(
            Acknowledgment(id=_PACK + spelling, reason=reason)
            for rule, reason in findings.items()
            for spelling in dict.fromkeys((rule, _in_environment(stack, rule)))
        )
    )


def _in_environment(stack: Stack, rule: str) -> str:
    for placeholder, value in (
        ("<AWS::Partition>", stack.partition),
        ("<AWS::Region>", stack.region),
        ("<AWS::AccountId>", stack.account),
    ):
        if not Token.is_unresolved(value):
            rule = rule.replace(placeholder, value)
    return rule


# ---- checkov (3.x, framework cloudformation) --------------------------------------------


@dataclass(frozen=True)
class CheckovCheck:
    """A checkov check we accept on every resource of ``resource_type`` in a scope."""

    check: str  # CKV_AWS_n
    resource_type: str  # AWS::Lambda::Function
    reason: str


CHECKOV_STACK_WIDE: tuple[CheckovCheck, ...] = (
    CheckovCheck("CKV_AWS_117", "AWS::Lambda::Function",
        "the functions call only AWS APIs (DynamoDB, S3, Step Functions, Batch); in a VPC they "
        "would need a NAT gateway or five endpoints, paid while idle, for no data kept there"),
    CheckovCheck("CKV_AWS_173", "AWS::Lambda::Function",
        "the environment holds names only (table, bucket, state machine, secret ARN), never a "
        "secret; Lambda encrypts it at rest with its AWS managed key"),
    CheckovCheck("CKV_AWS_158", "AWS::Logs::LogGroup",
        "CloudWatch Logs encrypts every log group at rest; the logs hold ids and metrics, no "
        "secrets, and a customer key would need a key policy for the logs service and cost"),
    CheckovCheck("CKV_AWS_119", "AWS::DynamoDB::Table",
        "the table is encrypted with the AWS managed key (KMS); a customer key adds a monthly "
        "charge and a key policy to keep, for trial parameters and metrics"),
    CheckovCheck("CKV_AWS_149", "AWS::SecretsManager::Secret",
        "the token secret is encrypted with Secrets Manager's AWS managed key; only the "
        "authorizer reads it, by its ARN"),
    CheckovCheck("CKV_AWS_120", "AWS::ApiGateway::Stage",
        "answers are per caller and change every second (claims, heartbeats, reports); a "
        "cache would serve one caller's or a stale answer to another"),
    CheckovCheck("CKV_AWS_26", "AWS::SNS::Topic",
        "alarm notices carry alarm names only; CloudWatch cannot publish to a topic encrypted "
        "with SNS's AWS managed key, and a customer key is a key policy to keep for no secret"),
    CheckovCheck("CKV_AWS_27", "AWS::SQS::Queue",
        "the dead-letter queues are encrypted at rest with SQS-managed keys (SSE-SQS); they "
        "hold schedule events (a time and a rule name), nothing secret"),
    CheckovCheck("CKV_AWS_21", "AWS::S3::Bucket",
        "checkpoints are rewritten every few minutes per trial and expire by lifecycle; "
        "versions would multiply their storage; access logs are only ever appended"),
)  # fmt: skip

CHECKOV_ACCESS_LOG_BUCKET: tuple[CheckovCheck, ...] = (
    CheckovCheck("CKV_AWS_18", "AWS::S3::Bucket",
        "this bucket is where the data bucket's access logs go; logging it would log itself"),
)  # fmt: skip

CHECKOV_SYNCHRONOUS: tuple[CheckovCheck, ...] = (
    CheckovCheck("CKV_AWS_116", "AWS::Lambda::Function",
        "invoked synchronously (API Gateway, the state machine): a failure goes back to the "
        "caller, which retries or catches it; a dead-letter queue only receives asynchronous "
        "invocations"),
)  # fmt: skip

CHECKOV_UNRESERVED: tuple[CheckovCheck, ...] = (
    CheckovCheck("CKV_AWS_115", "AWS::Lambda::Function",
        "its concurrency is bounded by its caller (API stage throttling, one invocation per "
        "execution or per schedule tick); a reservation would take from the account's "
        "unreserved pool, which must keep 100; the lanes' claim and finish are the ones reserved"),
)  # fmt: skip


CHECKOV_NO_ACCESS_LOGS: tuple[CheckovCheck, ...] = (
    CheckovCheck("CKV_AWS_76", "AWS::ApiGateway::Stage",
        "apiAccessLogs=false: the operator turned access logs off, so the stack leaves the "
        "account's API Gateway CloudWatch role alone; the Lambda logs each request"),
)  # fmt: skip

CHECKOV_CDK_PROVIDERS: tuple[CheckovCheck, ...] = (
    CheckovCheck("CKV_AWS_115", "AWS::Lambda::Function",
        "a CDK custom resource provider (emptying the bucket on delete): CloudFormation calls "
        "it once per stack operation, never in a burst"),
    CheckovCheck("CKV_AWS_116", "AWS::Lambda::Function",
        "a CDK custom resource provider: CloudFormation waits for its answer and fails the "
        "stack operation on an error, so no event is lost"),
)  # fmt: skip


def acknowledge_checkov(scope: IConstruct, checks: Sequence[CheckovCheck]) -> None:
    """Write ``checks`` into the ``Metadata.checkov.skip`` of every resource in ``scope``
    (``scope`` itself included) of each check's type, beside what is there already."""
    for node in scope.node.find_all():
        if not isinstance(node, CfnResource):
            continue
        skips = [
            {"id": c.check, "comment": c.reason}
            for c in checks
            if c.resource_type == node.cfn_resource_type
        ]
        if skips:
            earlier = (node.get_metadata("checkov") or {}).get("skip", [])
            node.add_metadata("checkov", {"skip": [*earlier, *skips]})
