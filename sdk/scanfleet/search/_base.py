"""What a search strategy is. The service asks it for the next parameters; it keeps no
state of its own between calls (everything it needs is in the scan and its trials)."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from scanfleet.config import ScanConfig
from scanfleet.records import Checkpoint, Lineage, ScanRecord, TrialRecord


@dataclass(frozen=True)
class Suggestion:
    params: dict[str, Any]
    cursor: int | None  # grid: the cell this is for (the store CASes the scan cursor on it)
    slot: str | None = None  # part of the trial's identity besides params (pbt: member, generation)
    lineage: Lineage | None = None
    start_from: Checkpoint | None = None  # pbt: the parent's checkpoint, copied for the trial
    sampler_attrs: dict[str, Any] = field(default_factory=dict)  # kept for the next rebuild


SAMPLER_ATTRS = "optuna_sampler"  # user_attrs key: what a sampler keeps on its trials


def derived_seed(*parts: object) -> int:
    """A 32-bit seed from any parts: the same parts, the same seed, in every process."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:4], "big")


class SearchStrategy(ABC):
    """Suggests parameters. Stateless: two calls with the same scan and history agree."""

    needs_history: ClassVar[bool]

    def __init__(self, config: ScanConfig) -> None:
        self.config = config

    @abstractmethod
    def size(self) -> int | None:
        """How many distinct suggestions exist (grid cells), or None when unbounded."""

    def exhausted(self, scan: ScanRecord) -> str | None:
        """Why nothing more will ever be suggested (e.g. "grid exhausted"), or None."""
        return None

    def planned_trials(self) -> int | None:
        """How many trials the suggestions make (None: unbounded): ``size()``, unless some
        are known to be duplicates that run once (grid cells that conditions make equal)."""
        return self.size()

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
