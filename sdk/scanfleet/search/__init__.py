"""Search strategies and pruning. Importing this package does not import optuna."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scanfleet.config import ScanConfig, Strategy
from scanfleet.search._base import SAMPLER_ATTRS, SearchStrategy, Suggestion, derived_seed
from scanfleet.search._grid import GridStrategy

if TYPE_CHECKING:
    from scanfleet.search._optuna import LiveStudy, OptunaStrategy, build_study, to_distribution
    from scanfleet.search._pruning import LivePruning

__all__ = [
    "SAMPLER_ATTRS",
    "GridStrategy",
    "LivePruning",
    "LiveStudy",
    "OptunaStrategy",
    "SearchStrategy",
    "Suggestion",
    "build_study",
    "derived_seed",
    "strategy_for",
    "to_distribution",
]


def strategy_for(config: ScanConfig) -> SearchStrategy:
    """The strategy a config asks for."""
    if config.strategy is Strategy.GRID:
        return GridStrategy(config)
    if config.strategy in (Strategy.OPTUNA, Strategy.RANDOM):
        from scanfleet.search._optuna import OptunaStrategy

        return OptunaStrategy(config)
    if config.strategy is Strategy.QUEUE:
        from scanfleet.search._queue import QueueStrategy

        return QueueStrategy(config)
    from scanfleet.search._pbt import PBTStrategy

    return PBTStrategy(config)


def __getattr__(name: str) -> Any:
    if name in ("build_study", "to_distribution", "LiveStudy", "OptunaStrategy"):
        from scanfleet.search import _optuna

        return getattr(_optuna, name)
    if name == "LivePruning":
        from scanfleet.search._pruning import LivePruning

        return LivePruning
    raise AttributeError(name)
