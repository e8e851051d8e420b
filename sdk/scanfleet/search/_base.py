"""What a search strategy is. The service asks it for the next parameters; it keeps no
state of its own between calls (everything it needs is in the scan and its trials)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from scanfleet.config import ScanConfig
from scanfleet.records import ScanRecord, TrialRecord


@dataclass(frozen=True)
class Suggestion:
    params: dict[str, Any]
    cursor: int | None  # grid: the cell this is for (the store CASes the scan cursor on it)


class SearchStrategy(ABC):
    """Suggests parameters. Stateless: two calls with the same scan and history agree."""

    needs_history: ClassVar[bool]

    def __init__(self, config: ScanConfig) -> None:
        self.config = config

    @abstractmethod
    def size(self) -> int | None:
        """How many distinct suggestions exist (grid cells), or None when unbounded."""

    @abstractmethod
    def suggest(
        self, scan: ScanRecord, history: Sequence[TrialRecord], *, retry: int = 0
    ) -> Suggestion | None:
        """The next parameters, or None when there is nothing more to suggest.

        Args:
            scan: the scan, with its ``cursor`` and ``trial_count``.
            history: the scan's trials when ``needs_history``, else empty.
            retry: > 0 when the previous suggestion duplicated an existing trial;
                samplers vary their randomness with it.
        """
