"""Lambda entry point of the HTTP API: the composition root, nothing else.

The store and the app are built once per container (warm starts reuse them); the routes,
the errors and the use cases are the same ones the local server serves.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from scanfleet import names
from scanfleet.api import build_app
from scanfleet.service import ScanService
from scanfleet.store import DynamoDBTrialStore

logger = Logger(service="scanfleet-api")
app = build_app(ScanService(DynamoDBTrialStore(os.environ[names.ENV_TABLE_NAME])))


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    result: dict[str, Any] = app.resolve(event, context)
    return result
