"""The scanfleet SDK over HTTP(S): ``Client``, ``Scan``, ``Trial`` and typed errors.

An error answer of the API raises the class the service raised (``scanfleet.errors``):
``LeaseLostError`` for ``lease_lost``, a ``ConflictError`` (409) like every conflict.

Standard library and pydantic only: importing it does not import boto3, botocore,
optuna, powertools, pandas or rich (each is imported on first use, where needed).
"""

from scanfleet.client._client import Client
from scanfleet.client._errors import (
    APIConnectionError,
    APIError,
    APIResponseError,
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
from scanfleet.client._rows import (
    REASON_COLUMN,
    column_names,
    failure_reason,
    names_for,
    reason_line,
    row_columns,
    trial_row,
)
from scanfleet.client._scan import Scan
from scanfleet.client._trial import Trial
from scanfleet.errors import (
    AlreadyClaimedError,
    LeaseLostError,
    NoBestTrialError,
    ScanNotFoundError,
    TrialFinishedError,
    TrialNotFoundError,
)
from scanfleet.wire import ErrorCode, ScanSummary

__all__ = [
    "REASON_COLUMN",
    "APIConnectionError",
    "APIError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "AlreadyClaimedError",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ConflictError",
    "ErrorCode",
    "GoneError",
    "InternalServerError",
    "LeaseLostError",
    "NoBestTrialError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "Scan",
    "ScanFinishedError",
    "ScanNotFoundError",
    "ScanSummary",
    "Trial",
    "TrialFinishedError",
    "TrialNotFoundError",
    "UnprocessableEntityError",
    "column_names",
    "failure_reason",
    "names_for",
    "reason_line",
    "row_columns",
    "trial_row",
]
