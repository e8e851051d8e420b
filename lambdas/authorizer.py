"""Lambda entry point of the API's token authorizer (agents outside AWS, trial scripts'
worker tokens): the composition root, nothing else. The secret is read at most once a
minute per container."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities import parameters
from scanfleet import names
from scanfleet.cloud import authorize, read_secret

logger = Logger()
SECRET_ID = os.environ[names.ENV_TOKEN_SECRET]


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    secret = parameters.get_secret(SECRET_ID, max_age=60)
    return authorize(event.get("authorizationToken"), event["methodArn"], read_secret(secret))
