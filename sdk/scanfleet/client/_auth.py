"""How requests prove who sends them: ``scanfleet.transport.auth`` (standard library; SigV4
imports botocore when chosen), the SDK's and the trial-side path's one definition."""

from scanfleet.transport.auth import (
    AUTH_IAM,
    AUTH_TOKEN,
    Auth,
    SigV4Auth,
    TokenAuth,
    auth_for,
)
from scanfleet.transport.auth import _region_from_env as _region_from_env
from scanfleet.transport.auth import _region_from_url as _region_from_url

__all__ = ["AUTH_IAM", "AUTH_TOKEN", "Auth", "SigV4Auth", "TokenAuth", "auth_for"]
