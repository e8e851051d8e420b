"""Grid search, enumerated lazily: a command is computed from its position, never stored."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from scanfleet.config import CategoricalParam, ConstantParam, Scalar, ScanConfig
from scanfleet.records import ScanRecord, TrialRecord
from scanfleet.search._base import SearchStrategy, Suggestion
from scanfleet.search._grid_positions import GridPositions, expand, fires, value_key

_COUNT_DISTINCT_UP_TO = 10_000


@dataclass(frozen=True)
class DistinctTally:
    """Distinct commands counted: ``count`` is exact, or a lower bound when not ``exact``
    (the count stopped after ``visited`` commands of the cells conditions fire on)."""

    count: int
    exact: bool
    visited: int


class GridStrategy(SearchStrategy):
    """Every combination, parameters in config order with the last varying fastest.

    Conditions as hypnettorch defines them: for each cell, condition after condition,
    when every key of ``when`` holds one of its listed values, the cell is replaced by
    every combination of the ``set`` lists (several keys, several values: their
    product); a later condition sees what earlier ones set and tests each variant. A cell
    contributes its variants in place (hypnettorch moves them to the end; the set of
    commands is the same). Variants can equal each other or other cells; trial identity
    (a hash of the params) makes such duplicates run once, and ``count_distinct`` says
    how many distinct trials the grid holds.
    """

    needs_history: ClassVar[bool] = False

    def __init__(self, config: ScanConfig) -> None:
        super().__init__(config)
        self.names = list(config.parameters)
        self.axes: list[list[Scalar]] = []
        for spec in config.parameters.values():
            if isinstance(spec, ConstantParam):
                self.axes.append([spec.value])
            elif isinstance(spec, CategoricalParam):
                self.axes.append(list(spec.values))
            else:  # the config rejects this for grid scans; strategies may be reused
                raise ValueError("grid takes only value/values parameters")
        self._conditions = [(c.when, c.set) for c in config.conditions]
        self._positions: GridPositions | None = None  # built on first use (a few ms)
        self._planned: int | None = None
        self._index: list[set[tuple[type, str]]] | None = None  # each axis's values

    @property
    def positions(self) -> GridPositions:
        if self._positions is None:
            self._positions = GridPositions(self.names, self.axes, self._conditions)
        return self._positions

    def cells(self) -> int:
        """The cells of the grid itself, before conditions."""
        count = 1
        for axis in self.axes:
            count *= len(axis)
        return count

    def size(self) -> int:
        """Positions of the lazy enumeration: every variant of every cell, duplicates
        included (hypnettorch's commands before it removes duplicates)."""
        return self.positions.total

    def params_at(self, index: int) -> dict[str, Any]:
        """The parameters at position ``index``."""
        digits, variant = self.positions.locate(index)
        cell = self.positions.cell(digits)
        if not self._conditions:
            return cell
        return expand(cell, self._conditions)[variant]

    def iter_params(self) -> Iterator[dict[str, Any]]:
        for index in range(self.size()):
            yield self.params_at(index)

    def count_distinct(self, limit: int = 1_000_000) -> int | None:
        """Distinct parameter sets once conditions are applied; None when counting them
        would visit more than ``limit`` commands of fired cells."""
        tally = self.tally_distinct(limit)
        return tally.count if tally.exact else None

    def tally_distinct(self, limit: int = 1_000_000) -> DistinctTally:
        """Distinct commands. Cells no condition fires on are distinct from each other
        and counted without listing them; the variants of fired cells are listed (up to
        ``limit``) and counted once each, unless they equal an unfired cell."""
        positions = self.positions
        if self._axes_repeat_values():
            return self._tally_by_listing(limit)
        count = positions.unfired_cells()
        seen: set[int] = set()  # 64-bit hashes of the canonical params
        visited = 0
        for digits in positions.fired_cells():
            for params in expand(positions.cell(digits), self._conditions):
                visited += 1
                if visited > limit:
                    return DistinctTally(count + len(seen), exact=False, visited=visited - 1)
                if not self._is_unfired_cell(params):
                    seen.add(self._identity(params))
        return DistinctTally(count + len(seen), exact=True, visited=visited)

    def _identity(self, params: dict[str, Any]) -> int:
        """A 64-bit hash that tells params apart as trial identity does."""
        return hash(tuple(value_key(params[name]) for name in self.names))

    def _axes_repeat_values(self) -> bool:
        return any(len({value_key(v) for v in axis}) < len(axis) for axis in self.axes)

    def _tally_by_listing(self, limit: int) -> DistinctTally:
        seen: set[int] = set()
        for index, params in enumerate(self.iter_params()):
            if index >= limit:
                return DistinctTally(len(seen), exact=False, visited=index)
            seen.add(self._identity(params))
        return DistinctTally(len(seen), exact=True, visited=self.size())

    def _is_unfired_cell(self, params: dict[str, Any]) -> bool:
        if fires(params, self._conditions):
            return False
        if self._index is None:
            self._index = [{value_key(v) for v in axis} for axis in self.axes]
        return all(
            value_key(params[n]) in keys for n, keys in zip(self.names, self._index, strict=True)
        )

    def planned_trials(self) -> int:
        """The distinct trials (counted once, visiting up to ``_COUNT_DISTINCT_UP_TO``
        variants of fired cells); else the positions, an upper bound."""
        if self._planned is None:
            tally = self.tally_distinct(limit=_COUNT_DISTINCT_UP_TO)
            self._planned = tally.count if tally.exact else self.size()
        return self._planned

    def exhausted(self, scan: ScanRecord) -> str | None:
        return "grid exhausted" if scan.cursor >= self.size() else None

    def suggest(
        self, scan: ScanRecord, history: Sequence[TrialRecord], *, retry: int = 0
    ) -> Suggestion | None:
        if scan.cursor >= self.size():
            return None
        return Suggestion(params=self.params_at(scan.cursor), cursor=scan.cursor)
