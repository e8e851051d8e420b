"""The scan config: every key of the Picsellia scan document, plus our documented
additions (see ``docs/config.md``)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from scanfleet.config._parameters import GRID_KINDS, ParameterSpec, Scalar


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


class Goal(StrEnum):
    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"


class Execution(_Section):
    type: ExecutionType = Field(
        ExecutionType.AGENTS,
        description="manual: you claim trials through the SDK; agents: `scanfleet worker` "
        "processes claim them; remote: AWS Batch jobs run them",
    )
    max_worker: int = Field(1, ge=1, description="trials run at once (remote: Batch jobs)")
    lease_seconds: float = Field(
        60.0, gt=0, description="a worker silent this long loses its trial to the queue"
    )


class Requirement(_Section):
    package: str = Field(min_length=1)
    version: str | None = None

    def pip_spec(self) -> str:
        return f"{self.package}=={self.version}" if self.version else self.package


class Metric(_Section):
    name: str = Field(min_length=1, description="as the script reports it")
    goal: Goal = Goal.MINIMIZE
    regex: str | None = Field(
        None,
        description="read the metric from the script's stdout: the last match of this "
        "regex's first group (or of 'name=value' when the regex has no group)",
    )


class Hyperband(_Section):
    min_iter: int = Field(1, ge=1)
    max_iter: int = Field(100, ge=1)
    reduction_factor: int = Field(3, ge=2)

    @model_validator(mode="after")
    def _ordered(self) -> Hyperband:
        if self.min_iter > self.max_iter:
            raise ValueError(
                f"min_iter ({self.min_iter}) must not exceed max_iter ({self.max_iter})"
            )
        return self


class SuccessiveHalving(_Section):
    min_iter: int = Field(1, ge=1)
    reduction_factor: int = Field(4, ge=2)


class Median(_Section):
    n_startup_trials: int = Field(5, ge=0)
    n_warmup_steps: int = Field(0, ge=0)
    interval_steps: int = Field(1, ge=1)


class EarlyStopping(_Section):
    """Exactly one pruner."""

    hyperband: Hyperband | None = None
    successive_halving: SuccessiveHalving | None = None
    median: Median | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> EarlyStopping:
        chosen = [k for k in ("hyperband", "successive_halving", "median") if getattr(self, k)]
        if len(chosen) != 1:
            raise ValueError(
                "choose exactly one of hyperband, successive_halving, median"
                + (f" (got {', '.join(chosen)})" if chosen else "")
            )
        return self


class OptunaOptions(_Section):
    sampler: Literal["tpe", "random", "cmaes", "gp", "qmc"] = "tpe"
    seed: int | None = None
    n_startup_trials: int = Field(10, ge=0)
    constant_liar: bool = Field(True, description="treat running trials as bad (TPE)")
    multivariate: bool = Field(
        True, description="TPE models the parameters jointly (better on correlated spaces)"
    )


class Condition(_Section):
    """hypnettorch grid exception: when every key in ``when`` takes one of its listed
    values, the keys in ``set`` take the listed values instead."""

    when: dict[str, list[Scalar]] = Field(min_length=1)
    set: dict[str, list[Scalar]] = Field(min_length=1)


class Completion(_Section):
    target: float | None = Field(None, description="stop once the best value reaches this")
    patience: int | None = Field(
        None, ge=1, description="stop after this many finished trials without improvement"
    )
    max_failed: int | None = Field(
        None, ge=1, description="this many FAILED trials end the scan as FAILED"
    )


class Resources(_Section):
    gpus: int = Field(1, ge=0)


class Retries(_Section):
    max_errors: int = Field(
        2, ge=0, description="script failures re-run before the trial is FAILED"
    )
    max_preemptions: int = Field(
        50, ge=0, description="preemptions (Spot, SIGTERM, lost lease) tolerated per trial"
    )


class ScanConfig(_Section):
    execution: Execution = Field(
        default_factory=Execution, description="how trials run: manual, agents or remote"
    )
    image: str | None = Field(None, description="container image of a trial (remote)")
    script: str | None = Field(None, description="the training script, run as python <script>")
    command: list[str] | None = Field(
        None,
        description="argv of one trial; params are appended as --name=value flags",
    )
    requirements: list[Requirement] | str | None = Field(
        None,
        description="packages installed before the first trial: a list of {package, "
        "version} or of 'pkg==ver' strings, or a path to a requirements file",
    )
    strategy: Strategy = Field(description="how the next parameters are chosen")
    max_run: int = Field(100, ge=1, description="the most trials this scan creates")
    early_stopping: EarlyStopping | None = Field(
        None, description="pruning of poor learning curves (one pruner)"
    )
    metric: Metric = Field(description="the metric to optimise and its goal")
    parameters: dict[str, ParameterSpec] = Field(
        min_length=1, description="the search space, by parameter name"
    )
    base_model: str | None = Field(None, description="a model every trial starts from")
    dataset: str | None = Field(None, description="a dataset every trial uses")
    optuna: OptunaOptions = Field(
        default_factory=OptunaOptions, description="sampler settings (optuna and random)"
    )
    conditions: list[Condition] = Field(
        default_factory=list, description="grid exceptions, applied in order (hypnettorch)"
    )
    tags: dict[str, str] = Field(
        default_factory=dict, description="labels to filter scans by (key: value)"
    )
    completion: Completion = Field(
        default_factory=Completion, description="when to stop before max_run"
    )
    resources: Resources = Field(default_factory=Resources, description="what one trial needs")
    retries: Retries = Field(
        default_factory=Retries, description="budgets for script errors and preemptions"
    )

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if data.get("script") == "":
            data["script"] = None  # Picsellia's example has script: ''
        if isinstance(data.get("command"), str):
            import shlex

            data["command"] = shlex.split(data["command"])
        reqs = data.get("requirements")
        if isinstance(reqs, dict):
            data["requirements"] = [reqs]
        elif isinstance(reqs, list):
            data["requirements"] = [
                {"package": r.split("==")[0], "version": r.split("==")[1] if "==" in r else None}
                if isinstance(r, str)
                else r
                for r in reqs
            ]
        tags = data.get("tags")
        if isinstance(tags, dict):
            data["tags"] = {str(k): str(v) for k, v in tags.items()}
        return data

    @model_validator(mode="after")
    def _grid_needs_values(self) -> ScanConfig:
        if self.strategy is Strategy.GRID:
            bad = [n for n, p in self.parameters.items() if not isinstance(p, GRID_KINDS)]
            if bad:
                raise ValueError(
                    f"@parameters.{bad[0]}: a grid scan takes only 'value' or 'values'"
                    f" parameters; a distribution needs strategy optuna or random"
                    + (f" (also: {', '.join(bad[1:])})" if bad[1:] else "")
                )
        return self

    @model_validator(mode="after")
    def _remote_needs_something_to_run(self) -> ScanConfig:
        if self.execution.type is ExecutionType.REMOTE and not (
            self.image or self.script or self.command
        ):
            raise ValueError(
                "@execution.type: remote execution needs 'image', 'script' or 'command'"
            )
        return self

    def summary(self) -> str:
        """A few lines for people: what this scan will do."""
        lines = [
            f"strategy: {self.strategy.value}"
            + (f" ({self.optuna.sampler})" if self.strategy is Strategy.OPTUNA else ""),
            f"metric: {self.metric.name} ({self.metric.goal.value})",
            f"max_run: {self.max_run}",
            f"execution: {self.execution.type.value}, max_worker {self.execution.max_worker}",
            "parameters:",
        ]
        for name, spec in self.parameters.items():
            lines.append(f"  {name}: {_describe(spec)}")
        if self.early_stopping is not None:
            chosen = self.early_stopping.model_dump(exclude_none=True)
            lines.append(f"early stopping: {chosen}")
        if self.conditions:
            lines.append(f"conditions: {len(self.conditions)}")
        return "\n".join(lines)


def _describe(spec: Any) -> str:
    kind = spec.distribution
    if kind == "constant":
        return f"constant {spec.value!r}"
    if kind == "categorical":
        return f"one of {spec.values!r}"
    extra = ""
    if kind == "int_uniform":
        extra = f" step {spec.step}"
    elif kind == "discrete_uniform":
        extra = f" q {spec.q}"
    return f"{kind} [{spec.min:g}, {spec.max:g}]{extra}"
