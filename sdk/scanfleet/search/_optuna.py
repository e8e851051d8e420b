"""Optuna, run statelessly: an in-memory study rebuilt from the stored trials each time.

The only module that imports optuna (its import costs ~0.3 s; API paths that do not
suggest or prune never pay it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.study import StudyDirection
from optuna.trial import TrialState as OptunaState

from scanfleet.config import (
    CategoricalParam,
    ConstantParam,
    DiscreteUniformParam,
    IntUniformParam,
    LogUniformParam,
    ParameterSpec,
    ScanConfig,
    UniformParam,
)
from scanfleet.records import ScanRecord, TrialRecord, TrialState
from scanfleet.search._base import SAMPLER_ATTRS, SearchStrategy, Suggestion, derived_seed

optuna.logging.set_verbosity(optuna.logging.WARNING)

STUDY_NAME = "scanfleet"  # fixed: Hyperband assigns brackets from a hash of name and number


def to_distribution(spec: ParameterSpec) -> BaseDistribution:
    """The one mapping from a parameter spec to an Optuna distribution."""
    if isinstance(spec, ConstantParam):
        return CategoricalDistribution([spec.value])
    if isinstance(spec, CategoricalParam):
        return CategoricalDistribution(list(spec.values))
    if isinstance(spec, LogUniformParam):
        return FloatDistribution(spec.min, spec.max, log=True)
    if isinstance(spec, IntUniformParam):
        return IntDistribution(spec.low, spec.high, step=spec.step)
    if isinstance(spec, DiscreteUniformParam):
        return FloatDistribution(spec.min, spec.max, step=spec.q)
    if isinstance(spec, UniformParam):
        return FloatDistribution(spec.min, spec.max)
    raise TypeError(f"no Optuna distribution for {type(spec).__name__}")


def distributions(config: ScanConfig) -> dict[str, BaseDistribution]:
    """One distribution per parameter. A grid's conditions may set values its lists lack:
    those are choices too, so a study of the grid's trials (report, journal) holds them."""
    dists = {name: to_distribution(spec) for name, spec in config.parameters.items()}
    for condition in config.conditions:
        for name, values in condition.set.items():
            dist = dists.get(name)
            if isinstance(dist, CategoricalDistribution):
                extra = [v for v in values if v not in dist.choices]
                dists[name] = CategoricalDistribution([*dist.choices, *extra])
    return dists


RANDOM_AFTER_DUPLICATES = 3  # suggestions that duplicated a trial before sampling at random
_KEPT_SAMPLER_ATTR_SUFFIX = ":generation"  # GA samplers (NSGA-II) number generations on trials


def make_sampler(config: ScanConfig, seed: int | None) -> optuna.samplers.BaseSampler:
    options = config.optuna
    if config.strategy.value == "random" or options.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if options.sampler == "tpe":
        return optuna.samplers.TPESampler(
            seed=seed,
            n_startup_trials=options.n_startup_trials,
            constant_liar=options.constant_liar,
            multivariate=options.multivariate,
        )
    if options.sampler == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, n_startup_trials=options.n_startup_trials)
    if options.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=options.population_size)
    if options.sampler == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=options.n_startup_trials)
    return optuna.samplers.QMCSampler(seed=options.seed, scramble=options.seed is not None)


class _AdoptingStorage(optuna.storages.InMemoryStorage):
    """An in-memory storage that adopts the trials it is given instead of deep-copying
    them: ``build_study`` makes those trials for this study alone, and the copies were 80%
    of a claim at 1,000 trials. Same bookkeeping as ``InMemoryStorage.create_new_trial``
    (optuna is pinned to 5.x for this; a test compares both)."""

    def create_new_trial(
        self, study_id: int, template_trial: optuna.trial.FrozenTrial | None = None
    ) -> int:
        if template_trial is None:
            return super().create_new_trial(study_id)
        with self._lock:
            self._check_study_id(study_id)
            trial = template_trial
            self._max_trial_id += 1
            trial_id = self._max_trial_id
            trial.number = len(self._studies[study_id].trials)
            trial._trial_id = trial_id
            self._trial_id_to_study_id_and_number[trial_id] = (study_id, trial.number)
            self._studies[study_id].trials.append(trial)
            self._update_cache(trial_id, study_id)
            return trial_id


def build_study(
    config: ScanConfig,
    trials: Sequence[TrialRecord],
    intermediate: Mapping[str, Mapping[int, float]] | None = None,
    *,
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    system_attrs: Mapping[str, dict[str, Any]] | None = None,
) -> optuna.Study:
    """An in-memory study holding ``trials`` in order: COMPLETED with their metric(s),
    PRUNED with their last value, FAILED as FAIL, QUEUED and RUNNING as RUNNING (what TPE's
    constant liar needs), with their intermediate values when given. A scan with several
    metrics makes a multi-objective study; a COMPLETED trial missing one of them is FAIL."""
    objectives = config.objectives()
    study = optuna.create_study(
        storage=_AdoptingStorage(),
        study_name=STUDY_NAME,
        directions=[
            StudyDirection.MINIMIZE if m.goal.value == "minimize" else StudyDirection.MAXIMIZE
            for m in objectives
        ],
        sampler=sampler,
        pruner=pruner,
    )
    dists = distributions(config)
    metric = config.metric.name
    curves = intermediate or {}
    frozen = []
    for trial in trials:
        params = {name: trial.params[name] for name in dists if name in trial.params}
        curve = {int(k): float(v) for k, v in curves.get(trial.trial_id, {}).items()}
        value = trial.value(metric)
        scores = [trial.value(m.name) for m in objectives]
        values: list[float] | None
        if trial.state is TrialState.COMPLETED and None not in scores:
            state, values = OptunaState.COMPLETE, [v for v in scores if v is not None]
        elif trial.state is TrialState.PRUNED and len(objectives) == 1:
            last = value if value is not None else (curve[max(curve)] if curve else None)
            state, values = OptunaState.PRUNED, ([last] if last is not None else None)
        elif trial.state.is_finished():
            state, values = OptunaState.FAIL, None
        else:
            state, values = OptunaState.RUNNING, None
        frozen.append(
            optuna.trial.create_trial(
                state=state,
                params=params,
                distributions={name: dists[name] for name in params},
                values=values,
                intermediate_values=curve,
                system_attrs={
                    **trial.user_attrs.get(SAMPLER_ATTRS, {}),
                    **(system_attrs or {}).get(trial.trial_id, {}),
                },
            )
        )
    study.add_trials(frozen)
    return study


class OptunaStrategy(SearchStrategy):
    """Ask a study rebuilt from the history. The sampler's seed is derived from the
    configured seed, the scan's trial count and the retry, so suggestions are reproducible
    and two concurrent claims over the same history do not get the same point."""

    needs_history: ClassVar[bool] = True

    def __init__(self, config: ScanConfig) -> None:
        super().__init__(config)
        self._dists = distributions(config)
        self._size = _finite_size(self._dists)

    def size(self) -> int | None:
        return self._size

    def exhausted(self, scan: ScanRecord) -> str | None:
        if self._size is not None and scan.trial_count >= self._size:
            return f"search space exhausted ({self._size} distinct points)"
        return None

    def suggest(
        self, scan: ScanRecord, history: Sequence[TrialRecord], *, retry: int = 0
    ) -> Suggestion | None:
        if self.exhausted(scan) is not None:
            return None
        seed = self.config.optuna.seed
        sampler_seed = None if seed is None else derived_seed(seed, scan.trial_count, retry)
        if seed is None and retry:
            sampler_seed = derived_seed(scan.scan_id, scan.trial_count, retry)
        sampler = make_sampler(self.config, sampler_seed)
        if retry >= RANDOM_AFTER_DUPLICATES:  # the model keeps proposing points that ran
            sampler = optuna.samplers.RandomSampler(seed=sampler_seed)
        study = build_study(self.config, history, sampler=sampler)
        asked = study.ask(self._dists)
        attrs = study._storage.get_trial_system_attrs(asked._trial_id)
        kept = {k: v for k, v in attrs.items() if k.endswith(_KEPT_SAMPLER_ATTR_SUFFIX)}
        return Suggestion(params=_native(asked.params), cursor=None, sampler_attrs=kept)


def _finite_size(dists: Mapping[str, BaseDistribution]) -> int | None:
    size = 1
    for dist in dists.values():
        if isinstance(dist, CategoricalDistribution):
            size *= len(dist.choices)
        elif isinstance(dist, IntDistribution):
            size *= (dist.high - dist.low) // dist.step + 1
        elif isinstance(dist, FloatDistribution) and dist.step is not None:
            size *= int(round((dist.high - dist.low) / dist.step)) + 1
        else:
            return None
    return size


def _native(params: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in params.items():
        if hasattr(value, "item"):  # numpy scalars from some samplers
            value = value.item()
        out[name] = value
    return out
