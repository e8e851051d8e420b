"""The scan config: every key of the Picsellia scan document, plus our documented
additions (see ``docs/config.md``, generated from the field descriptions below)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    field_validator,
    model_validator,
)

from scanfleet.config._conditions import Condition, condition_problems
from scanfleet.config._errors import ConfigError, ConfigProblem, FieldProblems
from scanfleet.config._parameters import (
    GRID_KINDS,
    ParameterSpec,
    did_you_mean,
    parameter_kind,
)
from scanfleet.wire import MAX_TAG_KEY_CHARS, MAX_TAG_VALUE_CHARS, MAX_TAGS

MAX_RUN = 1_000_000  # the most trials one scan may run (docs/config.md)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExecutionType(StrEnum):
    MANUAL = "manual"
    AGENTS = "agents"
    REMOTE = "remote"


class Strategy(StrEnum):
    GRID = "grid"
    OPTUNA = "optuna"
    RANDOM = "random"
    PBT = "pbt"
    QUEUE = "queue"  # only trials added by hand (Schedy's experiment)


class Goal(StrEnum):
    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"


REMOTE_LEASE_S = 300.0  # a remote scan's lease when its config names none


class Execution(_Section):
    """How trials run. `manual`, `agents` and `remote` are one mechanism: something claims
    the next trial, runs it, and reports."""

    type: ExecutionType = Field(
        ExecutionType.AGENTS,
        description="`manual`: you claim trials through the SDK; `agents`: `scanfleet "
        "worker` processes claim them; `remote`: AWS Batch jobs run them",
    )
    max_worker: int = Field(
        1, ge=1, description="trials run at once (remote: Batch jobs), an integer >= 1"
    )
    lease_seconds: float = Field(
        60.0,
        gt=0,
        description="**scanfleet**: a worker silent this long loses its trial, which goes "
        "back to the queue (default 60; 300 for `remote`); a worker renews it every "
        "lease / 3 seconds",
    )

    @model_validator(mode="after")
    def _remote_lease(self) -> Execution:
        """A remote scan's default lease is longer (docs/cloud.md, cost): each renewal is
        a billed API request, and a lost Batch job is also seen by its state machine."""
        if self.type is ExecutionType.REMOTE and "lease_seconds" not in self.model_fields_set:
            self.lease_seconds = REMOTE_LEASE_S
        return self


_VERSION_PREFIXES = ("==", "!=", "<", ">", "~=", "===", ";", "@")
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*(?:\[[^\]]*\])?)\s*(.*?)\s*$")


class Requirement(_Section):
    """One package to install before the first trial."""

    package: str = Field(min_length=1, description="the package name, e.g. `tensorflow`")
    version: str | None = Field(
        None,
        description="an exact version (`2.3.1`) or a pip specifier (`>=2.1,<3`); none: the latest",
    )

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        if isinstance(data, str):
            match = _REQUIREMENT.match(data)
            if match is None:
                raise ValueError(
                    f"must be a pip requirement such as 'torch' or 'torch==2.1' (got {data!r})"
                )
            package, rest = match.groups()
            if rest.startswith("==") and not rest.startswith("===") and "," not in rest:
                rest = rest[2:].strip()
            return {"package": package, "version": rest or None}
        if isinstance(data, dict) and isinstance(data.get("version"), int | float):
            return {**data, "version": str(data["version"])}  # YAML's `version: 2.3`
        return data

    def pip_spec(self) -> str:
        """``tensorflow==2.3.1``, ``torch>=2.1``, or the bare package name."""
        if not self.version:
            return self.package
        if self.version.startswith("@"):
            return f"{self.package} {self.version}"
        if self.version.startswith(_VERSION_PREFIXES):
            return f"{self.package}{self.version}"
        return f"{self.package}=={self.version}"


def _requirements_form(data: Any) -> str:
    return "path" if isinstance(data, str) else "list"


Requirements = Annotated[
    Annotated[list[Requirement], Tag("list")] | Annotated[str, Tag("path")],
    Discriminator(_requirements_form),
]


class Metric(_Section):
    """The metric to optimise. The script reports it under `name` (or prints it, with
    `regex`)."""

    name: str = Field(min_length=1, description="the metric's name, as the script reports it")
    goal: Goal = Field(Goal.MINIMIZE, description="`minimize` or `maximize`")
    regex: str | None = Field(
        None,
        description="**scanfleet**: read the metric from the script's output instead: the "
        "number in the last match (its first group, or the whole match)",
    )

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"must be a valid regular expression ({exc})") from None
        return value


class Hyperband(_Section):
    """Hyperband (Optuna's HyperbandPruner): brackets of successive halving."""

    min_iter: int = Field(
        1, ge=1, description="steps a trial always runs before it can be pruned (>= 1)"
    )
    max_iter: int = Field(
        100, ge=1, description="steps of a trial that is never pruned (>= min_iter)"
    )
    reduction_factor: int = Field(
        3, ge=2, description="about 1/reduction_factor of the trials go on at each rung (>= 2)"
    )

    @model_validator(mode="after")
    def _ordered(self) -> Hyperband:
        if self.min_iter > self.max_iter:
            raise FieldProblems.at(
                "min_iter",
                f"must not exceed max_iter (got min_iter {self.min_iter}, "
                f"max_iter {self.max_iter})",
            )
        return self


class SuccessiveHalving(_Section):
    """Asynchronous successive halving (Optuna's SuccessiveHalvingPruner)."""

    min_iter: int = Field(
        1, ge=1, description="steps a trial always runs before it can be pruned (>= 1)"
    )
    reduction_factor: int = Field(
        4, ge=2, description="about 1/reduction_factor of the trials go on at each rung (>= 2)"
    )


class Median(_Section):
    """Prune a trial whose best value so far is worse than the median of the other
    trials at the same step (Optuna's MedianPruner)."""

    n_startup_trials: int = Field(
        5, ge=0, description="no pruning until this many trials have finished"
    )
    n_warmup_steps: int = Field(0, ge=0, description="no pruning of a trial before this step")
    interval_steps: int = Field(1, ge=1, description="check every this many steps (>= 1)")


_PRUNERS = ("hyperband", "successive_halving", "median")


class EarlyStopping(_Section):
    """Exactly one pruner. A pruner given alone with no settings (`hyperband:` or
    `hyperband: {}`) uses its defaults."""

    hyperband: Hyperband | None = Field(None, description="Picsellia's pruner")
    successive_halving: SuccessiveHalving | None = Field(
        None, description="**scanfleet**: successive halving"
    )
    median: Median | None = Field(None, description="**scanfleet**: the median rule")

    @model_validator(mode="before")
    @classmethod
    def _defaults_for_empty(cls, data: Any) -> Any:
        if isinstance(data, dict):
            given = [k for k in _PRUNERS if k in data]
            if len(given) == 1 and data[given[0]] is None:  # YAML's `hyperband:` alone
                return {**data, given[0]: {}}
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> EarlyStopping:
        chosen = [k for k in _PRUNERS if getattr(self, k) is not None]
        if len(chosen) != 1:
            raise FieldProblems.at(
                "",
                "choose exactly one of hyperband, successive_halving, median"
                + (f" (got {' and '.join(chosen)})" if chosen else ""),
            )
        return self


# Samplers the scan API's Lambda functions cannot run (the layer carries optuna without
# these modules): a remote scan chooses its trials there, so it is refused at validation.
CLOUD_UNAVAILABLE_SAMPLERS = {
    "cmaes": "the `cmaes` package",
    "qmc": "scipy",
    "gp": "torch and scipy",
}
CLOUD_SAMPLERS = ("tpe", "random", "nsga2")


class OptunaOptions(_Section):
    """Sampler settings for the `optuna` and `random` strategies."""

    sampler: Literal["tpe", "random", "cmaes", "gp", "qmc", "nsga2"] = Field(
        "tpe",
        description="the Optuna sampler; several `metrics` take `tpe`, `nsga2` or `random`",
    )
    seed: int | None = Field(None, description="seed of the sampler, for repeatable scans")
    n_startup_trials: int = Field(
        10, ge=0, description="trials sampled at random before the model takes over (tpe, gp)"
    )
    constant_liar: bool = Field(
        True,
        description="tpe: running trials count as bad ones, so parallel workers spread out",
    )
    multivariate: bool = Field(
        True, description="tpe: model the parameters jointly (better on correlated spaces)"
    )
    population_size: int = Field(50, ge=2, description="nsga2: individuals per generation (>= 2)")


class Completion(_Section):
    """When a scan stops before `max_run` trials (it always stops at `max_run`)."""

    target: float | None = Field(
        None, description="stop once the best value reaches this (by the metric's goal)"
    )
    patience: int | None = Field(
        None, ge=1, description="stop after this many finished trials without improvement"
    )
    max_failed: int | None = Field(
        None, ge=1, description="this many FAILED trials end the scan as FAILED"
    )
    max_wall_hours: float | None = Field(
        None,
        gt=0,
        description="no new trial once this many hours have passed since the scan was "
        "created (running trials finish)",
    )
    max_gpu_hours: float | None = Field(
        None,
        gt=0,
        description="no new trial once the trials have used this many GPU-hours "
        "(running time of every attempt × `resources.gpus`; running trials count so far)",
    )


class Explore(StrEnum):
    PERTURB = "perturb"
    RESAMPLE = "resample"


class PopulationBasedTraining(_Section):
    """Population-based training (Schedy, after Jaderberg et al. 2017). A population of
    `population_size` members trains in generations of `generation_steps` steps; each
    generation is one trial per member. Between generations the bottom `truncation`
    fraction exploits (takes the checkpoint and parameters of a member of the top
    fraction) and explores (perturbs or resamples those parameters)."""

    population_size: int = Field(8, ge=2, description="members trained side by side (>= 2)")
    generation_steps: int = Field(
        10, ge=1, description="steps each member trains in one generation (one trial)"
    )
    max_generations: int | None = Field(
        None, ge=1, description="generations to run; none: until `max_run` trials"
    )
    truncation: float = Field(
        0.25,
        gt=0,
        le=0.5,
        description="the bottom fraction that exploits a member of the top fraction",
    )
    perturb_factors: list[float] = Field(
        default_factory=lambda: [0.8, 1.2],
        min_length=1,
        description="`perturb` multiplies a parameter by one of these, then clips it to its range",
    )
    explore: dict[str, Explore] | None = Field(
        None,
        description="parameter: `perturb` or `resample`; none: numbers perturb, "
        "categories resample, constants stay",
    )
    seed: int | None = Field(None, description="seed of sampling, exploiting and exploring")

    @field_validator("perturb_factors")
    @classmethod
    def _positive(cls, value: list[float]) -> list[float]:
        if any(f <= 0 for f in value):
            raise ValueError(f"factors must be > 0 (got {value})")
        return value


class Seeds(_Section):
    """Seed gathering (hypnettorch): once the search is over, the best parameters run
    again with `n` seeds, and the scan reports the mean and spread of each metric."""

    n: int = Field(ge=2, le=1000, description="how many seeds (2 to 1000)")
    param: str = Field(
        "seed",
        min_length=1,
        description="the parameter the seed goes in (passed as `--seed=<k>` if not in the space)",
    )
    sem: bool = Field(False, description="report the standard error of the mean instead of the std")

    @model_validator(mode="before")
    @classmethod
    def _number_is_n(cls, data: Any) -> Any:
        return {"n": data} if isinstance(data, int) and not isinstance(data, bool) else data


class Resources(_Section):
    """What one trial needs from the machine that runs it."""

    gpus: int = Field(1, ge=0, description="GPUs per trial (0: CPU only)")


class Retries(_Section):
    """Two separate budgets per trial, so Spot reclaims never use up the retries meant
    for a crashing script."""

    max_errors: int = Field(
        2, ge=0, description="script failures re-run before the trial is FAILED"
    )
    max_preemptions: int = Field(
        50, ge=0, description="preemptions (Spot, SIGTERM, lost lease) tolerated per trial"
    )


_EMPTY_MEANS_NONE = ("image", "script", "command", "requirements", "base_model", "dataset")


class ScanConfig(_Section):
    """A scan: what to run, the search space, how to search it, and when to stop."""

    execution: Execution = Field(
        default_factory=Execution, description="how trials run: manual, agents or remote"
    )
    image: str | None = Field(
        None, description="container image that runs a trial (remote); '' means none"
    )
    script: str | None = Field(
        None,
        description="the training script, run as `python <script>`; '' means none",
    )
    command: list[str] | None = Field(
        None,
        min_length=1,
        description="the argv of a trial, a list or a shell-like string; "
        "replaces `python <script>`",
    )
    requirements: Requirements | None = Field(
        None,
        description="packages to install: a list of {package, version} or of 'pkg==ver' "
        "strings, one {package, version}, or a path to a requirements file",
        json_schema_extra={"doc_type": "list \\| mapping \\| path"},
    )
    strategy: Strategy = Field(description="how the next parameters are chosen")
    max_run: int = Field(
        100,
        ge=1,
        le=MAX_RUN,
        description=f"the most trials this scan runs, a whole number from 1 to {MAX_RUN:,}",
    )
    early_stopping: EarlyStopping | None = Field(
        None, description="pruning of poor learning curves: one pruner"
    )
    metric: Metric = Field(
        description="the metric to optimise and its goal: {name, goal} (with `metrics`: "
        "the first of them unless given)",
    )
    metrics: list[Metric] | None = Field(
        None,
        min_length=1,
        description="**scanfleet**: several metrics, each with its goal: a "
        "multi-objective scan, whose best trials are the Pareto front",
    )
    parameters: dict[str, ParameterSpec] = Field(
        description="the search space: parameter name: {value}, {values} or {distribution, "
        "min, max, ...}; strategy `queue` may leave it empty (`{}`: trials take any params)",
        json_schema_extra={"doc_type": "mapping of parameters"},
    )
    base_model: str | None = Field(
        None, description="a model every trial starts from (`<user>/<model>`)"
    )
    dataset: str | None = Field(
        None, description="a dataset every trial uses (`<dataset>/<version>`)"
    )
    optuna: OptunaOptions = Field(
        default_factory=OptunaOptions, description="sampler settings (optuna and random)"
    )
    conditions: list[Condition] = Field(
        default_factory=list, description="grid exceptions, applied in order (hypnettorch)"
    )
    tags: dict[str, str] = Field(
        default_factory=dict,
        description=f"labels to find scans by (key: value): at most {MAX_TAGS}, a key of 1 "
        f"to {MAX_TAG_KEY_CHARS} characters, a value of at most {MAX_TAG_VALUE_CHARS}",
    )
    pbt: PopulationBasedTraining | None = Field(
        None, description="population-based training settings (strategy `pbt`)"
    )
    seeds: Seeds | None = Field(
        None, description="re-run the best parameters with N seeds at the end: {n} or a number"
    )
    reuse_from: list[str] = Field(
        default_factory=list,
        description="earlier scans (ids or names; one or a list): a trial whose parameters "
        "equal a COMPLETED trial there takes its result instead of running",
    )
    warm_start_from: list[str] = Field(
        default_factory=list,
        description="earlier scans (ids or names; one or a list; optuna, random): their "
        "COMPLETED trials inside this space seed the sampler",
    )
    completion: Completion = Field(
        default_factory=Completion, description="when to stop before max_run"
    )
    resources: Resources = Field(default_factory=Resources, description="what one trial needs")
    retries: Retries = Field(
        default_factory=Retries, description="budgets for script errors and for preemptions"
    )

    # The folder of the file this config was loaded from (relative requirements paths).
    _source_dir: Path | None = PrivateAttr(None)

    @field_validator(*_EMPTY_MEANS_NONE, mode="before")
    @classmethod
    def _empty_means_none(cls, value: Any) -> Any:
        return None if value == "" or value == [] else value

    @field_validator("command", mode="before")
    @classmethod
    def _split_command(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return shlex.split(value)
            except ValueError as exc:
                raise ValueError(f"must be a shell-like command line ({exc})") from None
        if isinstance(value, list):
            return [str(v) if isinstance(v, int | float) else v for v in value]
        return value

    @field_validator("requirements", mode="before")
    @classmethod
    def _requirements_forms(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return [value]
        if value is None or isinstance(value, str | list):
            return value
        raise ValueError(
            "must be a list of {package, version} or of 'pkg==ver' strings, one "
            f"{{package, version}}, or the path of a requirements file (got {value!r})"
        )

    @model_validator(mode="before")
    @classmethod
    def _metric_from_metrics(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("metric") is None:
            metrics = data.get("metrics")
            if isinstance(metrics, list) and metrics:
                return {**data, "metric": metrics[0]}
        return data

    @field_validator("reuse_from", "warm_start_from", mode="before")
    @classmethod
    def _one_id_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _pbt_defaults(self) -> ScanConfig:
        if self.strategy is Strategy.PBT and self.pbt is None:
            self.pbt = PopulationBasedTraining()
        return self

    def objectives(self) -> list[Metric]:
        """The metrics optimised, each with its goal: ``metrics``, else ``[metric]``."""
        return list(self.metrics) if self.metrics else [self.metric]

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives()) > 1

    @field_validator("tags", mode="before")
    @classmethod
    def _tags_as_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            scalar = int | float | bool
            return {
                (str(k) if isinstance(k, scalar) else k): (str(v) if isinstance(v, scalar) else v)
                for k, v in value.items()
            }
        return value

    @field_validator("max_run", mode="before")
    @classmethod
    def _not_a_boolean(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(f"must be a whole number, not true/false (got {str(value).lower()})")
        return value

    @field_validator("tags")
    @classmethod
    def _tags_within_limits(cls, tags: dict[str, str]) -> dict[str, str]:
        if len(tags) > MAX_TAGS:
            raise FieldProblems.at("", f"{len(tags)} tags; at most {MAX_TAGS}")
        problems = []
        for key, value in tags.items():
            if not key or len(key) > MAX_TAG_KEY_CHARS:
                message = f"a tag key has 1 to {MAX_TAG_KEY_CHARS} characters (got {len(key)})"
                problems.append(ConfigProblem(key[:MAX_TAG_KEY_CHARS], message))
            elif len(value) > MAX_TAG_VALUE_CHARS:
                message = f"at most {MAX_TAG_VALUE_CHARS} characters (got {len(value)})"
                problems.append(ConfigProblem(key, message))
        if problems:
            raise FieldProblems(problems)
        return tags

    @model_validator(mode="after")
    def _sampler_runs_in_the_cloud(self) -> ScanConfig:
        """A remote scan's trials are chosen in AWS Lambda, whose layer lacks the modules
        of some samplers: refuse them here rather than fail the scan's first claims."""
        sampler = self.optuna.sampler
        if (
            self.strategy is Strategy.OPTUNA
            and self.execution.type is ExecutionType.REMOTE
            and sampler in CLOUD_UNAVAILABLE_SAMPLERS
        ):
            raise FieldProblems.at(
                "optuna.sampler",
                f"{sampler!r} cannot choose the trials of a remote scan: the scan's AWS Lambda "
                f"functions have no {CLOUD_UNAVAILABLE_SAMPLERS[sampler]}; use "
                f"{', '.join(CLOUD_SAMPLERS)}, or run the scan with `scanfleet local run` or "
                "a local server (`scanfleet local serve`) and agents",
            )
        return self

    @model_validator(mode="after")
    def _consistent(self) -> ScanConfig:
        problems = consistency_problems(self.model_dump(mode="json"))
        if problems:
            raise FieldProblems(problems)
        return self

    def requirement_specs(self, base_dir: str | Path | None = None) -> list[str]:
        """The requirements as pip specs (``["tensorflow==2.3.1"]``).

        When ``requirements`` is a path, the file is read (comments, blank lines and pip
        options dropped; ``-r other.txt`` followed). A relative path is taken from
        ``base_dir``, else from the folder of the config file it was loaded from, else
        from the current folder.

        Raises:
            ConfigError: the requirements file cannot be read (path ``requirements``).
        """
        if self.requirements is None:
            return []
        if isinstance(self.requirements, list):
            return [r.pip_spec() for r in self.requirements]
        base = Path(base_dir) if base_dir is not None else self._source_dir or Path.cwd()
        return _read_requirements(base / Path(self.requirements).expanduser(), set())

    def summary(self) -> str:
        """A few lines for people: what this scan will do (``scanfleet validate``)."""
        lines = [
            f"strategy: {self._describe_strategy()}",
            self._describe_metrics(),
            f"max_run: {self.max_run}",
            f"execution: {self._describe_execution()}",
            "parameters:" if self.parameters else "parameters: any (trials are added by hand)",
        ]
        width = max((len(name) for name in self.parameters), default=0)
        for name, spec in self.parameters.items():
            lines.append(f"  {name + ':':<{width + 1}} {spec.describe()}")
        if self.early_stopping is not None:
            lines.append(f"early stopping: {_describe_pruner(self.early_stopping)}")
        if self.conditions:
            lines.append(f"conditions: {len(self.conditions)}")
        stops = self.completion.model_dump(exclude_none=True)
        if stops:
            lines.append("stop early: " + ", ".join(f"{k} {v}" for k, v in stops.items()))
        if self.tags:
            lines.append("tags: " + ", ".join(f"{k}={v}" for k, v in self.tags.items()))
        return "\n".join(lines + self._describe_results_reuse())

    def _describe_strategy(self) -> str:
        strategy = self.strategy.value
        if self.strategy in (Strategy.OPTUNA, Strategy.RANDOM):
            settings = (
                [f"{self.optuna.sampler} sampler"] if self.strategy is Strategy.OPTUNA else []
            )
            if self.optuna.seed is not None:
                settings.append(f"seed {self.optuna.seed}")
            strategy += f" ({', '.join(settings)})" if settings else ""
        if self.pbt is not None:
            pbt = self.pbt
            generations = pbt.max_generations or "until max_run"
            strategy += (
                f" (population {pbt.population_size}, {pbt.generation_steps} steps per "
                f"generation, generations: {generations}, bottom {pbt.truncation:g} exploit)"
            )
        return strategy

    def _describe_metrics(self) -> str:
        if self.multi_objective:
            return "metrics (Pareto front): " + ", ".join(
                f"{m.name} ({m.goal.value})" for m in self.objectives()
            )
        return f"metric: {self.metric.name} ({self.metric.goal.value})" + (
            f", read from output by /{self.metric.regex}/" if self.metric.regex else ""
        )

    def _describe_results_reuse(self) -> list[str]:
        lines = []
        if self.seeds is not None:
            spread = "SEM" if self.seeds.sem else "std"
            lines.append(
                f"seeds: the best parameters again with {self.seeds.n} values of "
                f"{self.seeds.param!r} (mean ± {spread})"
            )
        if self.reuse_from:
            lines.append(f"reuse results from: {', '.join(self.reuse_from)}")
        if self.warm_start_from:
            lines.append(f"warm start from: {', '.join(self.warm_start_from)}")
        return lines

    def _describe_execution(self) -> str:
        text = self.execution.type.value
        if self.execution.type is not ExecutionType.MANUAL:
            text += f", {self.execution.max_worker} at once"
        runs = []
        if self.image:
            runs.append(f"image {self.image}")
        if self.command:
            runs.append(f"command {shlex.join(self.command)}")
        elif self.script:
            runs.append(f"script {self.script}")
        return text + (f"; runs {', '.join(runs)}" if runs else "")


def _describe_pruner(early_stopping: EarlyStopping) -> str:
    for name in _PRUNERS:
        pruner = getattr(early_stopping, name)
        if pruner is not None:
            settings = ", ".join(f"{k} {v}" for k, v in pruner.model_dump().items())
            return f"{name} ({settings})"
    return "none"


def _read_requirements(path: Path, seen: set[Path]) -> list[str]:
    path = path.resolve()
    if path in seen:
        return []
    seen.add(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        reason = "no such file" if isinstance(exc, FileNotFoundError) else str(exc)
        raise ConfigError(
            [ConfigProblem("requirements", f"cannot read the requirements file {path}: {reason}")]
        ) from None
    specs: list[str] = []
    for raw in text.replace("\\\n", "").splitlines():
        line = " ".join(re.sub(r"(^|\s)#.*$", "", raw).split())
        if not line:
            continue
        include = re.match(r"^(?:-r|--requirement)[\s=]+(\S+)$", line)
        if include:
            specs.extend(_read_requirements(path.parent / include.group(1), seen))
        elif not line.startswith("-"):
            specs.append(line)
    return specs


def consistency_problems(data: Mapping[str, Any]) -> list[ConfigProblem]:
    """Problems between fields, found on a config's dict form (raw input or a dump).

    It tolerates any input: what it cannot make sense of, the field checks report. So
    ``load_config`` also runs it on a config whose fields failed, to list every problem
    at once.
    """
    problems: list[ConfigProblem] = []
    strategy = data.get("strategy")
    parameters = data.get("parameters")
    if parameters == {} and strategy != Strategy.QUEUE.value:
        problems.append(ConfigProblem("parameters", "must not be empty"))
    parameters = parameters if isinstance(parameters, dict) else {}
    if strategy == Strategy.GRID.value:
        grid_kinds = {cls.model_fields["distribution"].default for cls in GRID_KINDS}
        for name, spec in parameters.items():
            kind = parameter_kind(spec)
            if kind is not None and kind not in grid_kinds:
                problems.append(
                    ConfigProblem(
                        f"parameters.{name}",
                        f"a grid scan takes only 'value' or 'values' parameters (got "
                        f"distribution {kind!r}): list the values to try, or use strategy "
                        "optuna or random",
                    )
                )
    execution = data.get("execution")
    if (
        isinstance(execution, dict)
        and execution.get("type") == ExecutionType.REMOTE.value
        and not any(data.get(key) for key in ("image", "script", "command"))
    ):
        problems.append(
            ConfigProblem(
                "execution.type",
                "remote execution needs something to run: set 'image', 'script' or 'command'",
            )
        )
    problems.extend(
        condition_problems(data.get("conditions"), strategy, parameters, Strategy.GRID.value)
    )
    problems.extend(_objective_problems(data, strategy))
    problems.extend(_pbt_problems(data, strategy, parameters))
    warm = data.get("warm_start_from")
    if warm and isinstance(strategy, str) and strategy in (Strategy.GRID, Strategy.PBT):
        problems.append(
            ConfigProblem(
                "warm_start_from", f"warm starts seed optuna and random scans (got {strategy!r})"
            )
        )
    return problems


_MULTI_OBJECTIVE_SAMPLERS = ("tpe", "nsga2", "random")


def _objective_problems(data: Mapping[str, Any], strategy: Any) -> list[ConfigProblem]:
    metrics = data.get("metrics")
    if not isinstance(metrics, list) or not metrics:
        return []
    names = [m.get("name") for m in metrics if isinstance(m, dict)]
    problems = [
        ConfigProblem(f"metrics.{i}.name", f"{name!r} is listed twice")
        for i, name in enumerate(names)
        if name in names[:i]
    ]
    metric = data.get("metric")
    if isinstance(metric, dict) and names and metric.get("name") not in names:
        problems.append(
            ConfigProblem(
                "metric.name",
                f"must be one of the metrics ({', '.join(map(str, names))}) when both are given",
            )
        )
    if len(names) < 2:
        return problems
    if data.get("early_stopping"):
        problems.append(
            ConfigProblem("early_stopping", "pruning needs a single metric (got several metrics)")
        )
    if strategy == Strategy.PBT:
        problems.append(
            ConfigProblem("metrics", "population-based training ranks members by one metric")
        )
    optuna_options = data.get("optuna")
    sampler = optuna_options.get("sampler") if isinstance(optuna_options, dict) else None
    if strategy == Strategy.OPTUNA and sampler not in (None, *_MULTI_OBJECTIVE_SAMPLERS):
        problems.append(
            ConfigProblem(
                "optuna.sampler",
                f"several metrics take the samplers {', '.join(_MULTI_OBJECTIVE_SAMPLERS)} "
                f"(got {sampler!r})",
            )
        )
    return problems


def _pbt_problems(
    data: Mapping[str, Any], strategy: Any, parameters: dict[str, Any]
) -> list[ConfigProblem]:
    pbt = data.get("pbt")
    if pbt is None:
        return []
    if strategy != Strategy.PBT:
        return [ConfigProblem("pbt", f"pbt settings need strategy pbt (got {strategy!r})")]
    if not isinstance(pbt, dict):
        return []
    problems = []
    if data.get("seeds"):
        problems.append(
            ConfigProblem(
                "seeds",
                "seed runs start from scratch, so they cannot repeat a pbt schedule; "
                "leave seeds out of a pbt scan",
            )
        )
    explore = pbt.get("explore")
    for name, how in explore.items() if isinstance(explore, dict) else ():
        kind = parameter_kind(parameters.get(name)) if name in parameters else None
        if parameters and name not in parameters:
            problems.append(
                ConfigProblem(
                    f"pbt.explore.{name}",
                    f"{name!r} is not a parameter" + did_you_mean(name, list(parameters)),
                )
            )
        elif kind == "constant":
            problems.append(ConfigProblem(f"pbt.explore.{name}", "a constant cannot be explored"))
        elif how == Explore.PERTURB and kind == "categorical":
            problems.append(
                ConfigProblem(
                    f"pbt.explore.{name}",
                    "perturb multiplies a number; a categorical parameter can only 'resample'",
                )
            )
    size, generations, max_run = (
        pbt.get("population_size", 8),
        pbt.get("max_generations"),
        data.get("max_run", 100),
    )
    if isinstance(size, int) and isinstance(max_run, int):
        needed = size * generations if isinstance(generations, int) else size
        if max_run < needed:
            what = (
                f"population_size × max_generations = {needed}"
                if generations
                else (f"population_size = {needed}")
            )
            problems.append(
                ConfigProblem("max_run", f"pbt needs at least {what} trials (got {max_run})")
            )
    return problems
