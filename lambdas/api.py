"""Lambda entry point of the HTTP API: the composition root, nothing else.

The store and the app are built once per container (warm starts reuse them); the routes,
the errors and the use cases are the same ones the local server serves.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from scanfleet import names
from scanfleet.api import build_app
from scanfleet.service import ScanService
from scanfleet.store import DynamoDBTrialStore

logger = Logger(service="scanfleet-api")
copy_config_to_registered_loggers(source_logger=logger, include={"scanfleet"})

store = DynamoDBTrialStore(os.environ[names.ENV_TABLE_NAME])
app = build_app(ScanService(store))
handler = logger.inject_lambda_context(
    app.resolve, correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True
)
