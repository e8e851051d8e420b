"""The scanfleet SDK over HTTPS: ``Client``, ``Scan``, ``Trial`` and typed errors.

Importing it does not import boto3, optuna or powertools.
"""

from scanfleet.client._client import Client, Scan, Trial, row_columns, trial_row
from scanfleet.client._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    GoneError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ScanFinishedError,
    UnprocessableEntityError,
)

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ConflictError",
    "GoneError",
    "InternalServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "Scan",
    "ScanFinishedError",
    "Trial",
    "UnprocessableEntityError",
    "row_columns",
    "trial_row",
]
