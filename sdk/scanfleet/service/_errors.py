from __future__ import annotations

from scanfleet.errors import ConflictError, InvalidRequestError, ScanfleetError


class ScanFinishedError(ScanfleetError):
    """The scan is COMPLETED, FAILED or CANCELLED: nothing more will be handed out."""

    code = "scan_finished"
    status = 410


class ScanCancelledConflictError(ConflictError):
    code = "scan_not_extendable"


class InvalidValuesError(InvalidRequestError):
    code = "invalid_values"


class InvalidParamsError(InvalidRequestError):
    code = "invalid_params"


class NoBestTrialError(ConflictError):
    """The scan has no completed trial yet (nothing to gather seeds for)."""

    code = "no_best_trial"
