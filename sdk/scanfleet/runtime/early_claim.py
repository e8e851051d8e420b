"""The agent's next claim, sent while it records the last trial's outcome.

When the worker (not the script) ends a trial — it completes it from the metric regex or
the last report, prunes, fails or re-queues it — that call and the next claim are two
round trips in a row. They may overlap only when the next suggestion cannot depend on
the outcome being recorded:

- safe: ``grid`` and ``random`` (the next cell or draw is the same either way), with no
  completion criteria and no seed runs;
- not safe: ``optuna`` (TPE and the other samplers learn from the result; claimed early,
  the constant liar would still see the trial running), ``pbt`` (a generation waits for
  its members' results), ``queue`` (a trial re-queued by the failure should come back
  first), completion criteria (the outcome may end the scan: an early claim would start a
  trial past its end) and ``seeds`` (seed runs follow the best trial).

A script that completed its trial itself leaves nothing to overlap: the claim goes first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from scanfleet.config import ScanConfig, Strategy

if TYPE_CHECKING:
    from scanfleet.client import Trial

OUTCOME_FREE = frozenset({Strategy.GRID, Strategy.RANDOM})


def claim_may_overlap(config: ScanConfig) -> bool:
    """Whether the next claim may be sent before the last outcome is recorded."""
    criteria = config.completion.model_dump(exclude_none=True)
    return config.strategy in OUTCOME_FREE and not criteria and config.seeds is None


class EarlyClaim:
    """A claim on a thread of its own; ``result()`` waits for it and returns the trial
    (None: none free now) or raises what the claim raised (``GoneError``: scan over)."""

    def __init__(self, claim: Callable[[], Trial | None]) -> None:
        self._claim = claim
        self._trial: Trial | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="scanfleet-early-claim")
        self._thread.start()

    def _run(self) -> None:
        try:
            self._trial = self._claim()
        except BaseException as exc:  # handed to whoever waits for the result
            self._error = exc

    def result(self) -> Trial | None:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._trial
