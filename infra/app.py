"""Build the app: the stack (named by context ``stackName``, default ``scanfleet``) and
the cdk-nag AwsSolutions checks. app.py and the tests both call :func:`build_app`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.paths import LAYER_DIR
from infra.stack import ScanfleetStack

DEFAULT_STACK_NAME = "scanfleet"
# CDK feature flags, set here rather than in cdk.json so the tests' App gets them too
FEATURE_FLAGS = {
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
    "@aws-cdk/aws-s3:createDefaultLoggingPolicy": True,
    "@aws-cdk/aws-lambda:recognizeLayerVersion": True,
    "@aws-cdk/aws-iam:minimizePolicies": True,
    "@aws-cdk/core:checkSecretUsage": True,
    "@aws-cdk/core:enablePartitionLiterals": True,
    "@aws-cdk/aws-apigateway:disableCloudWatchRole": True,
}


def build_app(
    app: cdk.App, *, env: Mapping[str, str], layer_dir: Path = LAYER_DIR
) -> ScanfleetStack:
    """``env``: where CDK_DEFAULT_ACCOUNT / CDK_DEFAULT_REGION come from (the CLI sets
    them from the profile; without them the stack is environment-agnostic)."""
    for flag, value in FEATURE_FLAGS.items():
        if app.node.try_get_context(flag) is None:
            app.node.set_context(flag, value)
    account, region = env.get("CDK_DEFAULT_ACCOUNT"), env.get("CDK_DEFAULT_REGION")
    stack = ScanfleetStack(
        app,
        app.node.try_get_context("stackName") or DEFAULT_STACK_NAME,
        env=cdk.Environment(account=account, region=region) if account and region else None,
        description="scanfleet: hyperparameter scans on AWS Batch Spot GPUs",
        layer_dir=layer_dir,
    )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(verbose=True))
    return stack
