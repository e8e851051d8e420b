"""Population-based training (Schedy; Jaderberg et al. 2017), run statelessly.

The population has ``population_size`` members. Generation ``g`` is one trial per member
that trains from step ``g × generation_steps`` up to its ``stop_step``. When every trial of
a generation has finished, the next generation is suggested member by member:

- a member in the top of the ranking (or the middle) continues: same parameters, its own
  checkpoint;
- a member in the bottom ``truncation`` fraction (failed members rank last) *exploits*:
  it takes the parameters and the checkpoint of a member of the top fraction, then
  *explores*: each explored parameter is multiplied by one of ``perturb_factors`` (clipped
  to its range) or drawn again from its distribution.

Every random choice comes from a generator seeded by ``(seed, generation, member)``, so two
workers that race to create the same member agree, and the trial's identity (its params
and its slot ``pbt:<generation>:<member>``) makes the loser's insert a duplicate.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any, ClassVar

from scanfleet.config import (
    CategoricalParam,
    ConstantParam,
    DiscreteUniformParam,
    Explore,
    IntUniformParam,
    LogUniformParam,
    ParameterSpec,
    PopulationBasedTraining,
    ScanConfig,
    UniformParam,
)
from scanfleet.records import Lineage, ScanRecord, TrialRecord, TrialState
from scanfleet.search._base import SearchStrategy, Suggestion, derived_seed


def sample(spec: ParameterSpec, rng: random.Random) -> Any:
    """A value drawn from a parameter's distribution."""
    if isinstance(spec, ConstantParam):
        return spec.value
    if isinstance(spec, CategoricalParam):
        return rng.choice(list(spec.values))
    if isinstance(spec, IntUniformParam):
        return rng.randrange(spec.min, spec.max + 1, spec.step)
    if isinstance(spec, DiscreteUniformParam):
        return rng.choice(spec.grid_values)
    if isinstance(spec, LogUniformParam):
        return math.exp(rng.uniform(math.log(spec.min), math.log(spec.max)))
    if isinstance(spec, UniformParam):
        return rng.uniform(spec.min, spec.max)
    raise TypeError(f"cannot sample {type(spec).__name__}")


_NUMERIC = (UniformParam, LogUniformParam, IntUniformParam, DiscreteUniformParam)


def perturb(spec: ParameterSpec, value: Any, factor: float) -> Any:
    """``value × factor``, clipped to the parameter's range and snapped to its steps."""
    if not isinstance(spec, _NUMERIC):
        raise TypeError("only numeric parameters can be perturbed")
    moved = min(max(float(value) * factor, spec.min), spec.max)
    if isinstance(spec, IntUniformParam):
        k = round((moved - spec.min) / spec.step)
        top = (spec.max - spec.min) // spec.step
        return spec.min + min(max(k, 0), top) * spec.step
    if isinstance(spec, DiscreteUniformParam):
        grid = spec.grid_values
        return min(grid, key=lambda v: abs(v - moved))
    return moved


def explore_plan(config: ScanConfig) -> dict[str, Explore]:
    """How each parameter is explored: the config's ``pbt.explore``, else numbers perturb,
    categories resample and constants stay."""
    assert config.pbt is not None
    if config.pbt.explore is not None:
        return dict(config.pbt.explore)
    plan = {}
    for name, spec in config.parameters.items():
        if isinstance(spec, CategoricalParam):
            plan[name] = Explore.RESAMPLE
        elif not isinstance(spec, ConstantParam):
            plan[name] = Explore.PERTURB
    return plan


class PBTStrategy(SearchStrategy):
    needs_history: ClassVar[bool] = True

    def __init__(self, config: ScanConfig) -> None:
        super().__init__(config)
        assert config.pbt is not None  # the config fills in defaults for strategy pbt
        self.pbt: PopulationBasedTraining = config.pbt
        self.plan = explore_plan(config)
        self.minimize = config.metric.goal.value == "minimize"

    def size(self) -> int | None:
        generations = self.pbt.max_generations
        return None if generations is None else self.pbt.population_size * generations

    def exhausted(self, scan: ScanRecord) -> str | None:
        size = self.size()
        if size is not None and scan.trial_count >= size:
            return f"{self.pbt.max_generations} generations done"
        return None

    def suggest(
        self, scan: ScanRecord, history: Sequence[TrialRecord], *, retry: int = 0
    ) -> Suggestion | None:
        slots = {
            (t.lineage.generation, t.lineage.member): t for t in history if t.lineage is not None
        }
        size = self.pbt.population_size
        generation = max((g for g, _ in slots), default=0)
        members = [slots.get((generation, m)) for m in range(size)]
        if None not in members:
            if not all(t is not None and t.state.is_finished() for t in members):
                return None  # the generation is still training
            if self.pbt.max_generations is not None and generation + 1 >= self.pbt.max_generations:
                return None
            generation += 1
            members = [None] * size
        member = members.index(None)
        rng = random.Random(derived_seed(self._seed(scan), generation, member))
        if generation == 0:
            params = {name: sample(spec, rng) for name, spec in self.config.parameters.items()}
            return self._suggestion(params, Lineage(generation=0, member=member, stop_step=0))
        previous = [slots[(generation - 1, m)] for m in range(size)]
        return self._next_generation(previous, generation, member, rng)

    def _next_generation(
        self, previous: list[TrialRecord], generation: int, member: int, rng: random.Random
    ) -> Suggestion:
        ranked = sorted(previous, key=self._rank_key)
        cut = max(1, math.floor(len(ranked) * self.pbt.truncation))
        own = previous[member]
        lineage = Lineage(generation=generation, member=member, stop_step=0)
        if own in ranked[-cut:]:
            donor = rng.choice(ranked[:cut])
            params, explored = self._explore(donor.params, rng)
            lineage = lineage.model_copy(update={"exploited": True, "explored": explored})
            parent = donor
        else:
            params, parent = dict(own.params), own
        lineage = lineage.model_copy(
            update={
                "parent_trial_id": parent.trial_id,
                "parent_checkpoint_uri": parent.checkpoint.uri if parent.checkpoint else None,
            }
        )
        return self._suggestion(params, lineage, start_from=parent)

    def _suggestion(
        self, params: dict[str, Any], lineage: Lineage, start_from: TrialRecord | None = None
    ) -> Suggestion:
        steps = self.pbt.generation_steps
        lineage = lineage.model_copy(update={"stop_step": (lineage.generation + 1) * steps})
        return Suggestion(
            params=params,
            cursor=None,
            slot=f"pbt:{lineage.generation}:{lineage.member}",
            lineage=lineage,
            start_from=start_from.checkpoint if start_from is not None else None,
        )

    def _explore(
        self, params: dict[str, Any], rng: random.Random
    ) -> tuple[dict[str, Any], dict[str, str]]:
        out, explored = dict(params), {}
        for name, how in self.plan.items():
            spec = self.config.parameters[name]
            if how is Explore.RESAMPLE:
                out[name] = sample(spec, rng)
                explored[name] = "resampled"
            else:
                factor = rng.choice(self.pbt.perturb_factors)
                out[name] = perturb(spec, out[name], factor)
                explored[name] = f"x{factor:g}"
        return out, explored

    def _rank_key(self, trial: TrialRecord) -> tuple[int, float]:
        """Best first; trials without a value (failed) last."""
        value = trial.value(self.config.metric.name)
        if trial.state is TrialState.FAILED or value is None:
            return (1, 0.0)
        return (0, value if self.minimize else -value)

    def _seed(self, scan: ScanRecord) -> object:
        return self.pbt.seed if self.pbt.seed is not None else scan.scan_id
