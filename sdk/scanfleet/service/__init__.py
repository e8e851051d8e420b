"""The use cases of scanfleet over an injected store, with ports for what differs
between the laptop and the cloud (the scan lifecycle, the artifact copy). The input
stores are the object store's (``scanfleet.artifacts``), re-exported for the composition
roots that give the service one."""

from scanfleet.artifacts import InputStore, LocalInputStore, S3InputStore
from scanfleet.errors import (
    InvalidParamsError,
    InvalidValuesError,
    NoBestTrialError,
    ScanFinishedError,
    ScanNotExtendableError,
)
from scanfleet.records import SeedSummary, Spread
from scanfleet.service._ports import ArtifactCopier, QuietLifecycle, ScanLifecycle
from scanfleet.service._results import TAG_REUSED_FROM
from scanfleet.service._service import ScanService, ScanSummary

ScanCancelledConflictError = ScanNotExtendableError  # its name before scanfleet.errors

__all__ = [
    "TAG_REUSED_FROM",
    "ArtifactCopier",
    "InputStore",
    "InvalidParamsError",
    "InvalidValuesError",
    "LocalInputStore",
    "NoBestTrialError",
    "QuietLifecycle",
    "S3InputStore",
    "ScanCancelledConflictError",
    "ScanFinishedError",
    "ScanLifecycle",
    "ScanNotExtendableError",
    "ScanService",
    "ScanSummary",
    "SeedSummary",
    "Spread",
]
