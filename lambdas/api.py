"""Lambda entry point of the HTTP API: the composition root, nothing else.

The store and the app are built once per container (warm starts reuse them); the routes,
the errors and the use cases are the same ones the local server serves. In the stack the
state machine ARN is set, and remote scans start, re-open and cancel their executions:
``ScanExecutions`` is the service's scan lifecycle.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from scanfleet import names
from scanfleet.api import build_app
from scanfleet.artifacts import CheckpointCopier, S3InputStore
from scanfleet.service import ScanService
from scanfleet.store import DynamoDBTrialStore

logger = Logger(service="scanfleet-api")
copy_config_to_registered_loggers(source_logger=logger, include={"scanfleet"})


def _service(store: DynamoDBTrialStore) -> ScanService:
    bucket = os.environ.get(names.ENV_BUCKET_NAME)
    inputs = S3InputStore(bucket) if bucket else None  # uploaded scripts (docs/inputs.md)
    checkpoints = CheckpointCopier(root=f"s3://{bucket}/checkpoints" if bucket else None)
    state_machine_arn = os.environ.get(names.ENV_STATE_MACHINE_ARN)
    if not state_machine_arn:
        return ScanService(store, inputs=inputs, artifacts=checkpoints)
    import boto3
    from scanfleet.cloud import ENV_ON_DEMAND_QUEUE, ScanExecutions

    executions = ScanExecutions(
        state_machine_arn,
        stepfunctions=boto3.client("stepfunctions"),
        batch=boto3.client("batch"),
        job_queue=os.environ.get(names.ENV_JOB_QUEUE),
        on_demand_queue=os.environ.get(ENV_ON_DEMAND_QUEUE),
    )
    return ScanService(store, inputs=inputs, lifecycle=executions, artifacts=checkpoints)


def _trial_key() -> bytes | None:
    """The key of per-trial worker tokens: from the token secret (read at most once a
    minute), as the token authorizer derives it; None without a token endpoint."""
    secret_id = os.environ.get(names.ENV_TOKEN_SECRET)
    if not secret_id:
        return None
    from aws_lambda_powertools.utilities import parameters
    from scanfleet.cloud import read_secret

    return read_secret(parameters.get_secret(secret_id, max_age=60)).trial_key


store = DynamoDBTrialStore(os.environ[names.ENV_TABLE_NAME])
app = build_app(_service(store), _trial_key)
handler = logger.inject_lambda_context(
    app.resolve, correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True
)
