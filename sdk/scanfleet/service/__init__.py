"""The use cases of scanfleet over an injected store."""

from scanfleet.records import SeedSummary, Spread
from scanfleet.service._errors import (
    InvalidParamsError,
    InvalidValuesError,
    NoBestTrialError,
    ScanCancelledConflictError,
    ScanFinishedError,
)
from scanfleet.service._inputs import InputStore, LocalInputStore, S3InputStore
from scanfleet.service._results import TAG_REUSED_FROM
from scanfleet.service._service import ScanService, ScanSummary

__all__ = [
    "TAG_REUSED_FROM",
    "InputStore",
    "InvalidParamsError",
    "InvalidValuesError",
    "LocalInputStore",
    "NoBestTrialError",
    "S3InputStore",
    "ScanCancelledConflictError",
    "ScanFinishedError",
    "ScanService",
    "ScanSummary",
    "SeedSummary",
    "Spread",
]
