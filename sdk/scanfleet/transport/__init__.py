"""The HTTP(S) side of the SDK in the standard library alone: the transport (retries,
backoff, idempotency keys), authentication (a bearer token; SigV4 with botocore, imported
only when chosen), error answers turned back into ``scanfleet.errors`` classes, and the
calls a running trial's script makes (``TrialCalls``).

``scanfleet.client`` builds its typed (pydantic) SDK on this; ``scanfleet.current_trial()``
uses it directly, so a training script pays no pydantic, boto3 or optuna import.
"""

from scanfleet.transport.answers import (
    APIConnectionError,
    APIResponseError,
    APITimeoutError,
    ClientErrorCode,
    error_class,
    make_status_error,
)
from scanfleet.transport.auth import Auth, SigV4Auth, TokenAuth, auth_for
from scanfleet.transport.sending import Response, RetryPolicy, Transport
from scanfleet.transport.trial_calls import TrialCalls, user_agent

__all__ = [
    "APIConnectionError",
    "APIResponseError",
    "APITimeoutError",
    "Auth",
    "ClientErrorCode",
    "Response",
    "RetryPolicy",
    "SigV4Auth",
    "TokenAuth",
    "Transport",
    "TrialCalls",
    "auth_for",
    "error_class",
    "make_status_error",
    "user_agent",
]
