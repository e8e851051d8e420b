"""Schedy's vocabulary over scanfleet: experiments are scans, jobs are trials.

::

    db = SchedyDB(client)
    db.add_experiment(Experiment("Manual"))          # a scan of strategy "queue"
    exp = db.get_experiment("Manual")
    exp.add_job(hyperparameters={"lr": 0.1})          # a QUEUED trial
    with exp.next_job() as job:                       # claimed; NoJobError when none left
        job.results["loss"] = train(**job.hyperparameters)
    # leaving the block: DONE (the trial COMPLETED) or, on an exception, CRASHED (FAILED)

docs/compat.md has the full mapping of names, statuses and semantics.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

from scanfleet.client._errors import GoneError, NotFoundError
from scanfleet.client._trial import Trial
from scanfleet.client.compat._leases import Leases
from scanfleet.records import ScanStatus, TrialRecord, TrialState

if TYPE_CHECKING:
    from scanfleet.client._client import Client
    from scanfleet.client._scan import Scan

MINIMIZE = "minimize"
MAXIMIZE = "maximize"
_GOALS = {"min": MINIMIZE, "minimize": MINIMIZE, "max": MAXIMIZE, "maximize": MAXIMIZE}


class NoJobError(Exception):
    """No job to work on right now: none queued, every one taken, or the experiment is
    DONE."""


class ExperimentNotFoundError(LookupError):
    """No experiment (scan) of this name, or it was deleted."""


class JobNotFoundError(LookupError):
    """No job of this id in the experiment."""


class ExperimentExistsError(Exception):
    """``add_experiment`` of a name that an experiment already has."""


class Job:
    """One trial, as Schedy shows a job: ``id``, ``status``, ``hyperparameters``,
    ``results``. Change ``status``/``results`` and call ``push_updates()``, or use the job
    as a context manager (DONE on success, CRASHED on an exception)."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    DONE = "DONE"
    CRASHED = "CRASHED"
    PRUNED = "PRUNED"

    _FROM_STATE: ClassVar[dict[TrialState, str]] = {
        TrialState.QUEUED: QUEUED,
        TrialState.RUNNING: RUNNING,
        TrialState.COMPLETED: DONE,
        TrialState.FAILED: CRASHED,
        TrialState.PRUNED: PRUNED,
    }

    def __init__(self, experiment: Experiment, trial: Trial) -> None:
        self.experiment = experiment
        self._trial = trial
        self._load(trial.record)

    def _load(self, record: TrialRecord) -> None:
        self.status = self._FROM_STATE[record.state]
        self.hyperparameters: dict[str, Any] = dict(record.params)
        self.results: dict[str, Any] = dict(record.values)
        self._pushed_results = dict(record.values)

    def __repr__(self) -> str:
        return f"Job(id={self.id!r}, status={self.status}, hyperparameters={self.hyperparameters})"

    @property
    def id(self) -> str:
        return self._trial.id

    @property
    def trial(self) -> Trial:
        return self._trial

    def push_updates(self) -> None:
        """Send the changes of ``status`` and ``results``.

        RUNNING with new results: each new number is stored as a point of its curve (the
        next step). DONE: the trial completes with ``results`` (they must hold the
        experiment's ``result_name``). CRASHED: it fails, for good. PRUNED: it is pruned.
        QUEUED: a running job goes back to the queue.

        Raises:
            ValueError: changed hyperparameters (a trial's identity), a result that is not
                a number, or a status Schedy does not have.
            ConflictError: the trial is finished, or another worker holds it now.
        """
        trial = self._trial
        if self.hyperparameters != trial.params:
            raise ValueError("a job's hyperparameters cannot change: add a job with the new ones")
        new = {k: v for k, v in self.results.items() if self._pushed_results.get(k) != v}
        numbers = _numbers(new)
        current = self._FROM_STATE[trial.state]
        if self.status == current and not numbers:
            return
        if self.status in (Job.RUNNING, Job.PRUNED) and numbers:
            step = (trial.record.last_step if trial.record.last_step is not None else -1) + 1
            for name, value in numbers.items():
                trial.report(name, value, step)
            trial.refresh()
        if self.status == current:
            pass
        elif self.status == Job.DONE:
            trial.complete(_numbers(self.results))
        elif self.status == Job.CRASHED:
            trial.fail("crashed", retry=False)
        elif self.status == Job.PRUNED:
            trial.prune()
        elif self.status == Job.QUEUED and current == Job.RUNNING:
            trial.fail("returned to the queue", preempted=True)
        else:
            raise ValueError(f"a {current} job cannot become {self.status}")
        if self.status != Job.RUNNING:
            self.experiment._bound()[0]._leases.drop(trial)
        self._load(trial.record)

    def __enter__(self) -> Job:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.status != Job.RUNNING:
            return
        if e is None:
            self.status = Job.DONE
        elif isinstance(e, KeyboardInterrupt | SystemExit):
            self.status = Job.QUEUED  # stopped, not broken: someone else takes it up
        else:
            self.status = Job.CRASHED
        self.push_updates()


class Experiment:
    """A scan found by its name. The base experiment (Schedy's manual search) is a scan
    of strategy ``queue``: its jobs are the ones you add, any hyperparameters (or those
    of ``parameters``, a search space, when given).

    Args:
        name: the scan's name; an experiment is identified by it.
        status: ``RUNNING`` or ``DONE`` (completed, or paused: ``next_job`` has nothing).
        result_name: the result that ranks jobs (the scan's metric); ``objective`` its goal.
        parameters: an optional search space (docs/config.md) the jobs must fit.
        config: more scan config keys (``max_run``, ``tags``, ``execution``...).
    """

    RUNNING = "RUNNING"
    DONE = "DONE"
    strategy = "queue"

    def __init__(
        self,
        name: str,
        status: str = RUNNING,
        *,
        result_name: str = "loss",
        objective: str = MINIMIZE,
        parameters: Mapping[str, Any] | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        if status not in (Experiment.RUNNING, Experiment.DONE):
            raise ValueError(f"status must be RUNNING or DONE (got {status!r})")
        if objective not in _GOALS:
            raise ValueError(f"objective must be {MINIMIZE!r} or {MAXIMIZE!r} (got {objective!r})")
        self.name = name
        self.status = status
        self.result_name = result_name
        self.objective = _GOALS[objective]
        self.parameters = dict(parameters or {})
        self.extra_config = dict(config or {})
        self._db: SchedyDB | None = None
        self._scan: Scan | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, status={self.status})"

    def scan_config(self) -> dict[str, Any]:
        """The config of the scan this experiment is."""
        return {
            "strategy": self.strategy,
            "execution": {"type": "manual"},
            "max_run": 1_000_000,
            "metric": {"name": self.result_name, "goal": self.objective},
            "parameters": self.parameters,
            **self.extra_config,
        }

    # ---- jobs ----------------------------------------------------------------------------

    def add_job(
        self,
        *,
        hyperparameters: Mapping[str, Any] | None = None,
        status: str = Job.QUEUED,
        results: Mapping[str, Any] | None = None,
    ) -> Job:
        """Add a job (QUEUED by default; DONE/CRASHED/PRUNED record one run elsewhere).
        The same hyperparameters again give the existing job (a trial is its params)."""
        if status == Job.RUNNING:
            raise ValueError("add a job QUEUED and take it with next_job() to run it")
        trial = self._bound_scan().add_trial(dict(hyperparameters or {}))
        job = Job(self, trial)
        if status != job.status or results:
            job.status = status
            job.results.update(results or {})
            job.push_updates()
        return job

    def next_job(self) -> Job:
        """Take the next job (RUNNING, held by this client; its lease is kept alive until
        its status is pushed). Two workers never get the same job.

        Raises:
            NoJobError: none queued or left, or the experiment is DONE.
        """
        db, scan = self._bound()
        try:
            trial = scan.next_trial(db.client.worker_id)
        except GoneError:
            raise NoJobError(f"experiment {self.name!r} is done") from None
        if trial is None:
            raise NoJobError(f"experiment {self.name!r} has no queued job")
        db._leases.keep(trial, scan.config.execution.lease_seconds)
        return Job(self, trial)

    def all_jobs(self) -> Iterator[Job]:
        """Every job, in the order they were added."""
        return iter([Job(self, t) for t in self._bound_scan().trials()])

    def get_job(self, job_id: str) -> Job:
        """Raises JobNotFoundError (also for a job of another experiment)."""
        db, scan = self._bound()
        try:
            trial = db.client.get_trial(job_id)
        except NotFoundError:
            trial = None
        if trial is None or trial.scan_id != scan.id:
            raise JobNotFoundError(f"no job {job_id} in experiment {self.name!r}")
        return Job(self, trial)

    # ---- the experiment itself -------------------------------------------------------------

    def push_updates(self) -> None:
        """Send a change of ``status`` (DONE: nothing more is handed out; RUNNING again)."""
        scan = self._bound_scan()
        scan.set_status(ScanStatus.RUNNING if self.status == Experiment.RUNNING else "COMPLETED")

    def delete(self, ensure: bool = True) -> None:
        """Delete the experiment and its jobs.

        Raises:
            ExperimentNotFoundError: ``ensure`` and it was deleted before this call.
        """
        scan = self._bound_scan()
        try:
            scan.delete()
        except NotFoundError:
            if ensure:
                raise ExperimentNotFoundError(f"experiment {self.name!r} was deleted") from None

    # ---- binding ---------------------------------------------------------------------------

    def _bind(self, db: SchedyDB, scan: Scan) -> Experiment:
        self._db, self._scan = db, scan
        self.status = Experiment.RUNNING if scan.status is ScanStatus.RUNNING else Experiment.DONE
        return self

    def _bound(self) -> tuple[SchedyDB, Scan]:
        if self._db is None or self._scan is None:
            raise RuntimeError(
                f"experiment {self.name!r} is not in a database: db.add_experiment(exp) "
                "or db.get_experiment(name) first"
            )
        return self._db, self._scan

    def _bound_scan(self) -> Scan:
        return self._bound()[1]


class RandomSearch(Experiment):
    """Schedy's random search: jobs sampled from ``distributions`` (a search space in the
    scan config's form, e.g. ``{"lr": {"distribution": "log_uniform", "min": 1e-5,
    "max": 1e-1}}``) whenever no added job is queued."""

    strategy = "random"

    def __init__(
        self,
        name: str,
        distributions: Mapping[str, Any],
        status: str = Experiment.RUNNING,
        *,
        result_name: str = "loss",
        objective: str = MINIMIZE,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(
            name,
            status,
            result_name=result_name,
            objective=objective,
            parameters=distributions,
            config=config,
        )


class SchedyDB:
    """Schedy's database: experiments by name, over a scanfleet ``Client``."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._leases = Leases()

    def add_experiment(self, exp: Experiment) -> Experiment:
        """Create the experiment's scan (with its status).

        Raises:
            ExperimentExistsError: an experiment of this name exists.
            ConfigError: the experiment's config is invalid.
        """
        if self._find(exp.name) is not None:
            raise ExperimentExistsError(f"an experiment named {exp.name!r} exists already")
        scan = self.client.create_scan(
            exp.name, exp.scan_config(), idempotency_key=f"schedy-experiment:{exp.name}"
        )
        wanted = exp.status
        exp._bind(self, scan)
        if wanted != exp.status:
            exp.status = wanted
            exp.push_updates()
        return exp

    def get_experiment(self, name: str) -> Experiment:
        """Raises ExperimentNotFoundError."""
        scan = self._find(name)
        if scan is None:
            raise ExperimentNotFoundError(f"no experiment named {name!r}")
        return _experiment_of(scan)._bind(self, scan)

    def get_experiments(self) -> Iterator[Experiment]:
        return iter([_experiment_of(s)._bind(self, s) for s in self.client.list_scans()])

    def close(self) -> None:
        """Stop keeping the leases of running jobs alive."""
        self._leases.close()

    def _find(self, name: str) -> Scan | None:
        return next((s for s in self.client.list_scans() if s.name == name), None)


def _experiment_of(scan: Scan) -> Experiment:
    config = scan.record.config
    goal = {"result_name": config["metric"]["name"], "objective": config["metric"]["goal"]}
    if config.get("strategy") == RandomSearch.strategy:
        return RandomSearch(scan.name, config["parameters"], **goal)
    return Experiment(scan.name, parameters=config.get("parameters"), **goal)


def _numbers(results: Mapping[str, Any]) -> dict[str, float]:
    out = {}
    for name, value in results.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"results[{name!r}] must be a number (got {value!r})")
        if math.isfinite(value):
            out[name] = float(value)
    return out
