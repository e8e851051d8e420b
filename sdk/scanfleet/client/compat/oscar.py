"""Oscar's loop over scanfleet: ``suggest(experiment)`` / ``update(job, result)``.

An Oscar *experiment* is a scan found by its name. The experiment dict is given on every
``suggest``; the scan is made from it once (the first call anywhere), and later calls, in
this process or on other nodes, find it by name and resume it. A *job* is a claimed trial:
a dict of its parameters that also knows its trial. While a job is out, a background
thread keeps its lease alive, so a long training does not lose its trial, and a node that
dies (Spot) lets its trial go back to the queue for the next ``suggest``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from scanfleet.client._errors import NotFoundError
from scanfleet.client._trial import Trial
from scanfleet.client.compat._leases import Leases
from scanfleet.config import ConfigError, ConfigProblem, load_config
from scanfleet.records import trial_id_for

if TYPE_CHECKING:
    from scanfleet.client._client import Client
    from scanfleet.client._scan import Scan

LOSS = "loss"  # Oscar's one objective, always minimised
OSCAR_KEYS = ("name", "description", "parameters", "resume")


class ExperimentMismatchError(ValueError):
    """An experiment resumed by name has another search space than the one given."""


class Job(dict[str, Any]):
    """Oscar's job: the parameters to try (``job["x"]``), and the trial they belong to."""

    def __init__(self, trial: Trial, experiment: str) -> None:
        super().__init__(trial.params)
        self.trial = trial
        self.experiment = experiment

    @property
    def id(self) -> str:
        return self.trial.id


def experiment_config(experiment: Mapping[str, Any]) -> tuple[str, dict[str, Any], bool]:
    """The scan name, scan config and ``resume`` flag of an Oscar experiment dict.

    Oscar's keys: ``name`` and ``parameters`` (required), ``description``, ``resume``
    (default True). Any other key is a scan config key (``max_run``, ``optuna``,
    ``execution``...) and overrides the defaults: strategy ``optuna`` (TPE), execution
    ``manual``, metric ``loss`` minimised.

    Raises:
        ConfigError: naming the field path of every problem.
    """
    if not isinstance(experiment, Mapping):
        raise ConfigError([ConfigProblem("", "an Oscar experiment must be a dict")])
    problems = []
    name = experiment.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(ConfigProblem("name", "required: the experiment's name (text)"))
    if "parameters" not in experiment:
        problems.append(ConfigProblem("parameters", "required: the search space"))
    resume = experiment.get("resume", True)
    if not isinstance(resume, bool):
        problems.append(ConfigProblem("resume", f"must be true or false (got {resume!r})"))
    description = experiment.get("description", "")
    if not isinstance(description, str):
        problems.append(ConfigProblem("description", "must be text"))
    if problems:
        raise ConfigError(problems)
    config: dict[str, Any] = {
        "strategy": "optuna",
        "execution": {"type": "manual"},
        "metric": {"name": LOSS, "goal": "minimize"},
    }
    config.update({k: v for k, v in experiment.items() if k not in OSCAR_KEYS})
    config["parameters"] = experiment["parameters"]
    if description:
        config["tags"] = {**config.get("tags", {}), "description": description}
    load_config(config)  # every problem named now, before any request
    return str(name), config, resume


class Oscar:
    """``scientist = Oscar(client)``; then Oscar's loop::

        job = scientist.suggest({"name": "Square", "parameters": {"x": {"min": -10, "max": 10}}})
        scientist.update(job, {"loss": job["x"] ** 2})

    ``Client.suggest``/``Client.update`` are the same calls on a client's own Oscar.
    """

    poll_interval = 1.0  # seconds between looks while every trial runs elsewhere

    def __init__(self, client: Client) -> None:
        self.client = client
        self._scans: dict[str, Scan] = {}  # experiment name -> scan, once made or found
        self._leases = Leases()

    def suggest(self, experiment: Mapping[str, Any]) -> Job:
        """The next parameters to try, as a claimed trial.

        Waits while the experiment's last trials run elsewhere.

        Raises:
            ConfigError: the experiment is invalid.
            ExperimentMismatchError: resuming an experiment whose parameters differ.
            ScanFinishedError: the experiment is finished (e.g. ``max_run`` reached).
        """
        name, config, resume = experiment_config(experiment)
        scan = self._scans.get(name) or self._open(name, config, resume)
        self._scans[name] = scan
        while True:
            trial = scan.next_trial(self.client.worker_id)
            if trial is not None:
                self._leases.keep(trial, scan.config.execution.lease_seconds)
                return Job(trial, name)
            self.client.http.sleep(self.poll_interval)

    def update(self, job: Mapping[str, Any], result: Mapping[str, Any] | float) -> Trial:
        """Tell the result of a job: ``{"loss": ..., other numbers...}`` or the loss alone.

        A loss that is NaN or infinite (a diverged run) fails the trial, for good.

        Raises:
            ValueError: no ``loss``, or a value that is not a number, or a job this
                client did not suggest.
            ConflictError: the job's lease was lost (another node has the trial now).
        """
        values = dict(result) if isinstance(result, Mapping) else {LOSS: result}
        if LOSS not in values:
            raise ValueError(f"the result must have a {LOSS!r} key (got {sorted(values)})")
        for key, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"result[{key!r}] must be a number (got {value!r})")
        trial = self._trial_of(job)
        try:
            if not math.isfinite(values[LOSS]):
                return trial.fail(f"loss is {values[LOSS]}", retry=False)
            finite = {k: float(v) for k, v in values.items() if math.isfinite(v)}
            return trial.complete(finite)
        finally:
            self._leases.drop(trial)

    def close(self) -> None:
        """Stop keeping leases alive (jobs not updated go back to the queue later)."""
        self._leases.close()

    # ---- pieces ----------------------------------------------------------------------

    def _open(self, name: str, config: dict[str, Any], resume: bool) -> Scan:
        """Resume the newest scan of this name, or (``resume`` False: after deleting the
        scans of this name) make it. The idempotency key makes two nodes that start at
        once share one scan."""
        existing = [s for s in self.client.list_scans() if s.name == name]
        if not resume:
            for old in existing:
                with contextlib.suppress(NotFoundError):  # another node overrode it just now
                    old.delete()
            existing = []
        if existing:
            scan = existing[0]
            _check_same_space(scan, name, config)
            return scan
        return self.client.create_scan(name, config, idempotency_key=f"oscar-experiment:{name}")

    def _trial_of(self, job: Mapping[str, Any]) -> Trial:
        if isinstance(job, Job):
            return job.trial
        # a plain dict of parameters (e.g. a job that went through JSON): its trial id
        # is the hash of its parameters in one of the experiments suggested here
        for scan in self._scans.values():
            try:
                return self.client.get_trial(trial_id_for(scan.id, dict(job)))
            except NotFoundError:
                continue
        raise ValueError(f"no experiment of this client suggested the job {dict(job)!r}")


def _check_same_space(scan: Scan, name: str, config: dict[str, Any]) -> None:
    wanted = load_config(config).model_dump(mode="json")["parameters"]
    if scan.record.config.get("parameters") != wanted:
        raise ExperimentMismatchError(
            f"the experiment {name!r} (scan {scan.id}) exists with other parameters: "
            f"{scan.record.config.get('parameters')} (given: {wanted}); "
            "use the same parameters, another name, or 'resume': False to start it over"
        )
