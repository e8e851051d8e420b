"""Results of earlier scans: ``reuse_from`` (experimaestro: a trial whose parameters ran
before takes that result) and ``warm_start_from`` (their trials seed the sampler)."""

from __future__ import annotations

from collections.abc import Callable

from scanfleet.config import ConfigError, ConfigProblem, ConstantParam, ScanConfig
from scanfleet.errors import InvalidParamsError
from scanfleet.records import ScanRecord, TrialRecord, TrialState, trial_id_for
from scanfleet.service._params import complete_params
from scanfleet.store import ScanNotFoundError, TrialNotFoundError, TrialStore

COMPLETED = frozenset({TrialState.COMPLETED})


def check_earlier_scans(
    store: TrialStore,
    config: ScanConfig,
    owner: str,
    owns: Callable[[ScanRecord], bool] | None = None,
) -> ScanConfig:
    """Every scan named in ``reuse_from`` and ``warm_start_from`` is the owner's (``owns``:
    whether a scan is, default: its stored owner is ``owner``) and its
    space is compatible: it has every parameter this scan varies. Each may be named by
    its id or by its name (the newest of the owner's scans with that name).

    Returns:
        The config with every name replaced by its scan id: it is resolved once, when
        the scan is created, so a later scan of the same name changes nothing.

    Raises:
        ConfigError: naming ``reuse_from.<i>`` or ``warm_start_from.<i>``.
    """
    varied = [n for n, spec in config.parameters.items() if not isinstance(spec, ConstantParam)]
    if owns is None:
        owns = lambda scan: scan.owner == owner  # noqa: E731
    by_name = _NewestByName(store, owner, owns)
    problems = []
    resolved: dict[str, list[str]] = {}
    for field in ("reuse_from", "warm_start_from"):
        resolved[field] = []
        for i, ref in enumerate(getattr(config, field)):
            path = f"{field}.{i}"
            earlier = _owned_scan(store, ref, owns) or by_name.get(ref)
            if earlier is None:
                problems.append(ConfigProblem(path, f"no scan of yours with id or name {ref!r}"))
                continue
            resolved[field].append(earlier.scan_id)
            missing = [n for n in varied if n not in earlier.config.get("parameters", {})]
            if missing:
                problems.append(
                    ConfigProblem(
                        path,
                        f"scan {earlier.scan_id} has no parameter {', '.join(map(repr, missing))}: "
                        "its trials cannot stand for this scan's",
                    )
                )
    if problems:
        raise ConfigError(problems)
    return config.model_copy(update=resolved)


def _owned_scan(
    store: TrialStore, scan_id: str, owns: Callable[[ScanRecord], bool]
) -> ScanRecord | None:
    try:
        scan = store.get_scan(scan_id)
    except ScanNotFoundError:
        return None
    return scan if owns(scan) else None


class _NewestByName:
    """The owner's newest scan of each name, listed once and only when a name is asked
    (a scan listed under the owner that ``owns`` denies, such as one whose ARN the tenant
    mapping gave to another tenant since it was listed, is left out)."""

    def __init__(self, store: TrialStore, owner: str, owns: Callable[[ScanRecord], bool]) -> None:
        self.store = store
        self.owner = owner
        self.owns = owns
        self._newest: dict[str, ScanRecord] | None = None

    def get(self, name: str) -> ScanRecord | None:
        if self._newest is None:
            self._newest = {}
            for scan in self.store.list_scans(self.owner):  # newest first
                if self.owns(scan):
                    self._newest.setdefault(scan.name, scan)
        return self._newest.get(name)


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
