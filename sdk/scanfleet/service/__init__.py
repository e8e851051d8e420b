"""The use cases of scanfleet over an injected store."""

from scanfleet.service._errors import (
    InvalidParamsError,
    InvalidValuesError,
    ScanCancelledConflictError,
    ScanFinishedError,
)
from scanfleet.service._service import ScanService, ScanSummary

__all__ = [
    "InvalidParamsError",
    "InvalidValuesError",
    "ScanCancelledConflictError",
    "ScanFinishedError",
    "ScanService",
    "ScanSummary",
]
