"""Results of earlier scans: ``reuse_from`` (experimaestro: a trial whose parameters ran
before takes that result) and ``warm_start_from`` (their trials seed the sampler)."""

from __future__ import annotations

from scanfleet.config import ConfigError, ConfigProblem, ConstantParam, ScanConfig
from scanfleet.records import TrialRecord, TrialState, trial_id_for
from scanfleet.service._errors import InvalidParamsError
from scanfleet.service._params import complete_params
from scanfleet.store import ScanNotFoundError, TrialNotFoundError, TrialStore

COMPLETED = frozenset({TrialState.COMPLETED})


def check_earlier_scans(store: TrialStore, config: ScanConfig, owner: str) -> None:
    """Every scan named in ``reuse_from`` and ``warm_start_from`` is the owner's and its
    space is compatible: it has every parameter this scan varies.

    Raises:
        ConfigError: naming ``reuse_from.<i>`` or ``warm_start_from.<i>``.
    """
    varied = [n for n, spec in config.parameters.items() if not isinstance(spec, ConstantParam)]
    problems = []
    for field in ("reuse_from", "warm_start_from"):
        for i, scan_id in enumerate(getattr(config, field)):
            path = f"{field}.{i}"
            try:
                earlier = store.get_scan(scan_id)
            except ScanNotFoundError:
                earlier = None
            if earlier is None or earlier.owner != owner:
                problems.append(ConfigProblem(path, f"no scan {scan_id!r} of yours"))
                continue
            missing = [n for n in varied if n not in earlier.config.get("parameters", {})]
            if missing:
                problems.append(
                    ConfigProblem(
                        path,
                        f"scan {scan_id} has no parameter {', '.join(map(repr, missing))}: "
                        "its trials cannot stand for this scan's",
                    )
                )
    if problems:
        raise ConfigError(problems)


def reusable_result(
    store: TrialStore, config: ScanConfig, params: dict[str, object]
) -> TrialRecord | None:
    """The COMPLETED trial with exactly these parameters in a ``reuse_from`` scan, if any
    (the first scan listed wins)."""
    for scan_id in config.reuse_from:
        try:
            earlier = store.get_trial(trial_id_for(scan_id, dict(params)))
        except TrialNotFoundError:
            continue
        if earlier.state is TrialState.COMPLETED:
            return earlier
    return None


def warm_start_trials(store: TrialStore, config: ScanConfig) -> list[TrialRecord]:
    """The COMPLETED trials of the ``warm_start_from`` scans that lie in this scan's space
    and have every metric it optimises, their params restricted to this scan's."""
    names = [m.name for m in config.objectives()]
    out = []
    for scan_id in config.warm_start_from:
        for trial in store.iter_trials(scan_id, states=COMPLETED):
            if any(trial.value(name) is None for name in names):
                continue
            shared = {k: v for k, v in trial.params.items() if k in config.parameters}
            try:
                params = complete_params(config, shared)
            except InvalidParamsError:
                continue
            out.append(trial.model_copy(update={"params": params}))
    return out
