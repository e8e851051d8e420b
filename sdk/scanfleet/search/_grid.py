"""Grid search, enumerated lazily: a cell is computed from its index, never stored."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import product
from typing import Any, ClassVar

from scanfleet.config import CategoricalParam, ConstantParam, ScanConfig
from scanfleet.config._parameters import Scalar
from scanfleet.records import ScanRecord, TrialRecord, canonical_params
from scanfleet.search._base import SearchStrategy, Suggestion

_COUNT_DISTINCT_UP_TO = 10_000


class GridStrategy(SearchStrategy):
    """Every combination, parameters in config order with the last varying fastest.

    Conditions (hypnettorch): for each cell, in order, when every key of ``when`` holds one
    of its listed values, the keys of ``set`` take the listed values instead; a ``set``
    with several values expands the cell into several. A cell whose conditions expand it
    contributes its expansions in place. Conditions can make cells equal; trial identity
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
        self._expansion = max(
            (len(v) for c in config.conditions for v in c.set.values()), default=1
        )
        self._multi = any(len(v) > 1 for c in config.conditions for v in c.set.values())
        self._cells = 1
        for axis in self.axes:
            self._cells *= len(axis)
        self._planned: int | None = None

    def size(self) -> int:
        """Positions of the lazy enumeration: cells × the widest condition expansion."""
        return self._cells * (self._expansion if self._multi else 1)

    def params_at(self, index: int) -> dict[str, Any]:
        """The parameters at position ``index``. A cell that conditions expand into fewer
        variants than the widest repeats its last one (the service skips the duplicate)."""
        if not 0 <= index < self.size():
            raise IndexError(index)
        cell, variant = divmod(index, self._expansion) if self._multi else (index, 0)
        params: dict[str, Any] = {}
        rest = cell
        for name, axis in zip(reversed(self.names), reversed(self.axes), strict=True):
            rest, i = divmod(rest, len(axis))
            params[name] = axis[i]
        params = {name: params[name] for name in self.names}
        variants = self._apply_conditions(params)
        return variants[min(variant, len(variants) - 1)]

    def _apply_conditions(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        variants = [params]
        for cond in self.config.conditions:
            next_variants = []
            for p in variants:
                if all(p.get(k) in vals for k, vals in cond.when.items()):
                    keys = list(cond.set)
                    for combo in product(*(cond.set[k] for k in keys)):
                        next_variants.append({**p, **dict(zip(keys, combo, strict=True))})
                else:
                    next_variants.append(p)
            variants = next_variants
        return variants

    def iter_params(self) -> Iterator[dict[str, Any]]:
        for index in range(self.size()):
            yield self.params_at(index)

    def count_distinct(self, limit: int = 1_000_000) -> int | None:
        """Distinct parameter sets once conditions are applied; None past ``limit``."""
        if not self.config.conditions:
            return self._cells if self._cells <= limit else None
        seen: set[str] = set()
        for index, params in enumerate(self.iter_params()):
            if index >= limit:
                return None
            seen.add(canonical_params(params))
        return len(seen)

    def planned_trials(self) -> int:
        """The distinct trials (counted once, up to ``_COUNT_DISTINCT_UP_TO`` positions:
        ~60 ms); the positions of a bigger grid with conditions."""
        if self._planned is None:
            self._planned = self.count_distinct(limit=_COUNT_DISTINCT_UP_TO) or self.size()
        return self._planned

    def exhausted(self, scan: ScanRecord) -> str | None:
        return "grid exhausted" if scan.cursor >= self.size() else None

    def suggest(
        self, scan: ScanRecord, history: Sequence[TrialRecord], *, retry: int = 0
    ) -> Suggestion | None:
        if scan.cursor >= self.size():
            return None
        return Suggestion(params=self.params_at(scan.cursor), cursor=scan.cursor)
