"""The ``queue`` strategy: it suggests nothing. Trials are the ones added by hand
(Schedy's experiment and its ``add_job``; Optuna's ``enqueue_trial`` alone), handed out
in order; a scan of this kind stays RUNNING until it is marked done, so jobs can be added
at any time."""

from __future__ import annotations

from collections.abc import Sequence

from scanfleet.records import ScanRecord, TrialRecord
from scanfleet.search._base import SearchStrategy, Suggestion


class QueueStrategy(SearchStrategy):
    needs_history = False

    def size(self) -> int | None:
        return None  # unbounded: more jobs may come

    def suggest(
        self, scan: ScanRecord, history: Sequence[TrialRecord], *, retry: int = 0
    ) -> Suggestion | None:
        return None
