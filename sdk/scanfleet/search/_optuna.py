"""Optuna, run statelessly: an in-memory study rebuilt from the stored trials, or kept
in step with them (``LiveStudy``: the API process's cache, caught up from the trials
changed since it was built; its suggestions are a full rebuild's).

The only module that imports optuna (its import costs ~0.3 s; API paths that do not
suggest or prune never pay it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
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

    def replace_trial(self, study_id: int, number: int, trial: optuna.trial.FrozenTrial) -> None:
        """Put ``trial`` in place of trial ``number`` (same id), and keep the best trial
        what adding every trial in order makes it: the first one with the best value
        (several objectives: the first COMPLETE one)."""
        with self._lock:
            info = self._studies[study_id]
            trial_id = info.trials[number]._trial_id
            trial.number, trial._trial_id = number, trial_id
            info.trials[number] = trial
            if trial.state is not OptunaState.COMPLETE:
                return
            best = None if info.best_trial_id is None else self._get_trial(info.best_trial_id)
            if best is None or _takes_best(trial, best, info.directions):
                info.best_trial_id = trial_id

    def discard_after(self, study_id: int, count: int) -> None:
        """Drop the trials past the first ``count`` (the ones ``ask`` made) and what asking
        left in the study, so the study is again what ``build_study`` makes."""
        with self._lock:
            info = self._studies[study_id]
            while len(info.trials) > count:
                del self._trial_id_to_study_id_and_number[info.trials.pop()._trial_id]
                self._max_trial_id -= 1
            info.param_distribution, info.system_attrs, info.user_attrs = {}, {}, {}
            self._prev_waiting_trial_number[study_id] = 0


def _takes_best(
    trial: optuna.trial.FrozenTrial, best: optuna.trial.FrozenTrial, directions: list[Any]
) -> bool:
    """Whether COMPLETE ``trial`` is the best trial in place of ``best`` when trials are
    added in order: an earlier one no worse, or (one objective) a strictly better one."""
    if len(directions) > 1:
        return trial.number < best.number
    assert trial.value is not None and best.value is not None
    if directions[0] == StudyDirection.MAXIMIZE:
        better, no_worse = trial.value > best.value, trial.value >= best.value
    else:
        better, no_worse = trial.value < best.value, trial.value <= best.value
    return better or (no_worse and trial.number < best.number)


def _new_study(
    config: ScanConfig,
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
) -> optuna.Study:
    return optuna.create_study(
        storage=_AdoptingStorage(),
        study_name=STUDY_NAME,
        directions=[
            StudyDirection.MINIMIZE if m.goal.value == "minimize" else StudyDirection.MAXIMIZE
            for m in config.objectives()
        ],
        sampler=sampler,
        pruner=pruner,
    )


def frozen_trial(
    config: ScanConfig,
    dists: Mapping[str, BaseDistribution],
    trial: TrialRecord,
    curve: Mapping[int, float],
    system_attrs: Mapping[str, Any],
) -> optuna.trial.FrozenTrial:
    """What Optuna holds of a stored trial (see ``build_study``)."""
    objectives = config.objectives()
    params = {name: trial.params[name] for name in dists if name in trial.params}
    value = trial.value(config.metric.name)
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
    return optuna.trial.create_trial(
        state=state,
        params=params,
        distributions={name: dists[name] for name in params},
        values=values,
        intermediate_values=dict(curve),
        system_attrs={**trial.user_attrs.get(SAMPLER_ATTRS, {}), **system_attrs},
    )


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
    study = _new_study(config, sampler, pruner)
    dists = distributions(config)
    curves = intermediate or {}
    study.add_trials(
        [
            frozen_trial(
                config,
                dists,
                trial,
                {int(k): float(v) for k, v in curves.get(trial.trial_id, {}).items()},
                (system_attrs or {}).get(trial.trial_id, {}),
            )
            for trial in trials
        ]
    )
    return study


class LiveStudy:
    """A scan's study kept in step with its trials (the API process's cache): built once,
    then told the trials that changed, each in place (a new trial at the end), so it stays
    exactly the study ``build_study`` makes of the same trials in the same order. Finished
    trials never change; RUNNING ones (the constant liar's) are told again when they
    finish or go back to the queue. ``include``: whether a trial belongs in the study
    (the service leaves out seed runs); ``warm``: trials of earlier scans, first.

    ``apply`` returns False when the study cannot follow a change in place (a trial left
    or joined the study, or a new trial's number is not past the last one's): the caller
    builds a new one. Not thread-safe: a caller holds a lock across catching up and
    asking."""

    def __init__(
        self,
        config: ScanConfig,
        warm: Sequence[TrialRecord],
        include: Callable[[TrialRecord], bool],
    ) -> None:
        self.config = config
        self._include = include
        self._dists = distributions(config)
        self._study = build_study(config, warm)
        self._storage: _AdoptingStorage = self._study._storage  # type: ignore[assignment]
        self._numbers: dict[str, int] = {}  # trial id -> number in the study
        self._left_out: set[str] = set()
        self._last = -1  # the scan number of the last trial added

    def apply(self, trials: Iterable[TrialRecord]) -> bool:
        new: list[TrialRecord] = []
        for trial in trials:
            number = self._numbers.get(trial.trial_id)
            included = self._include(trial)
            if number is None and trial.trial_id not in self._left_out:  # a new trial
                if included:
                    new.append(trial)
                else:
                    self._left_out.add(trial.trial_id)
            elif included != (number is not None):  # it joins or leaves the study
                return False
            elif number is not None:
                self._storage.replace_trial(self._study._study_id, number, self._frozen(trial))
        for trial in sorted(new, key=lambda t: t.number):
            if trial.number <= self._last:
                return False
            self._numbers[trial.trial_id] = len(
                self._storage._studies[self._study._study_id].trials
            )
            self._storage.create_new_trial(self._study._study_id, self._frozen(trial))
            self._last = trial.number
        return True

    def trials(self) -> list[optuna.trial.FrozenTrial]:
        """The study's trials, in order (not copies: read them, do not change them)."""
        return self._study.get_trials(deepcopy=False)

    def ask(self, sampler: optuna.samplers.BaseSampler) -> tuple[dict[str, Any], dict[str, Any]]:
        """The sampler's next parameters and the system attributes it set on the asked
        trial, which is then discarded (the study is left as it was)."""
        study_id = self._study._study_id
        count = len(self._storage._studies[study_id].trials)
        self._study.sampler = sampler
        try:
            asked = self._study.ask(self._dists)
            return asked.params, self._storage.get_trial_system_attrs(asked._trial_id)
        finally:
            self._storage.discard_after(study_id, count)

    def _frozen(self, trial: TrialRecord) -> optuna.trial.FrozenTrial:
        return frozen_trial(self.config, self._dists, trial, {}, {})


class OptunaStrategy(SearchStrategy):
    """Ask a study rebuilt from the history. The sampler's seed is derived from the
    configured seed, the scan's trial count and the retry, so suggestions are reproducible
    and two concurrent claims over the same history do not get the same point."""

    needs_history: ClassVar[bool] = True
    keeps_live_study: ClassVar[bool] = True  # the service may call ``suggest_live``

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
        study = build_study(self.config, history, sampler=self._sampler(scan, retry))
        asked = study.ask(self._dists)
        return _suggestion(asked.params, study._storage.get_trial_system_attrs(asked._trial_id))

    def live_study(
        self, warm: Sequence[TrialRecord], include: Callable[[TrialRecord], bool]
    ) -> LiveStudy:
        return LiveStudy(self.config, warm, include)

    def suggest_live(
        self, scan: ScanRecord, study: LiveStudy, *, retry: int = 0
    ) -> Suggestion | None:
        """``suggest`` on a live study caught up with the scan's trials: the same
        suggestion as on a full rebuild of them (the same sampler, seeded alike)."""
        if self.exhausted(scan) is not None:
            return None
        return _suggestion(*study.ask(self._sampler(scan, retry)))

    def _sampler(self, scan: ScanRecord, retry: int) -> optuna.samplers.BaseSampler:
        seed = self.config.optuna.seed
        sampler_seed = None if seed is None else derived_seed(seed, scan.trial_count, retry)
        if seed is None and retry:
            sampler_seed = derived_seed(scan.scan_id, scan.trial_count, retry)
        if retry >= RANDOM_AFTER_DUPLICATES:  # the model keeps proposing points that ran
            return optuna.samplers.RandomSampler(seed=sampler_seed)
        return make_sampler(self.config, sampler_seed)


def _suggestion(params: Mapping[str, Any], attrs: Mapping[str, Any]) -> Suggestion:
    kept = {k: v for k, v in attrs.items() if k.endswith(_KEPT_SAMPLER_ATTR_SUFFIX)}
    return Suggestion(params=_native(params), cursor=None, sampler_attrs=kept)


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
