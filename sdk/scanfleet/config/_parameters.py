"""The search space: one model per parameter kind, discriminated by ``distribution``.

Picsellia's short forms are accepted and normalised: ``{value: x}`` is a constant,
``{values: [...]}`` is categorical, and (Oscar) ``{min, max}`` alone is uniform.
Anything else goes to a model that only explains what is wrong, so a mistyped key or
distribution gets its own message at its own path.
"""

from __future__ import annotations

import difflib
import math
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

from scanfleet.config._errors import ConfigProblem, FieldProblems

Scalar = int | float | str | bool | None


def did_you_mean(word: object, choices: list[str] | tuple[str, ...]) -> str:
    """``"; did you mean 'x'?"`` when ``word`` is close to one of ``choices``, else ``""``."""
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _check_scalar(value: Any) -> Any:
    if value is None or isinstance(value, int | float | str | bool):
        return value
    raise ValueError(
        f"must be a number, text, true/false or null (got a {type(value).__name__}: {value!r})"
    )


# A Scalar validated with one clear message (a bare union reports one error per member).
ScalarValue = Annotated[Scalar, BeforeValidator(_check_scalar)]


class _Param(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    def describe(self) -> str:
        """One short phrase for people, e.g. ``log_uniform in [1e-05, 0.1]``."""
        raise NotImplementedError


class ConstantParam(_Param):
    """One fixed value, the same in every trial (Picsellia's short form: `{value: x}`)."""

    distribution: Literal["constant"] = Field("constant", description="`constant`")
    value: ScalarValue = Field(description="the value: a number, text, true/false or null")

    def describe(self) -> str:
        return f"constant {self.value!r}"


class CategoricalParam(_Param):
    """A list of values (Picsellia's short form: `{values: [...]}`): grid tries each in
    order, the other strategies sample among them."""

    distribution: Literal["categorical"] = Field("categorical", description="`categorical`")
    values: list[ScalarValue] = Field(
        min_length=1, description="the values to try: a non-empty list"
    )

    def describe(self) -> str:
        return f"one of {self.values!r}"


class _Bounded(_Param):
    min: float = Field(description="lower bound, a finite number below `max`")
    max: float = Field(description="upper bound, a finite number above `min`")

    @model_validator(mode="after")
    def _check_bounds(self) -> _Bounded:
        problems = self._bound_problems()
        if problems:
            raise FieldProblems(problems)
        return self

    def _bound_problems(self) -> list[ConfigProblem]:
        if self.min < self.max:
            return []
        return [
            ConfigProblem("min", f"must be less than max (got min {self.min:g}, max {self.max:g})")
        ]

    def describe(self) -> str:
        return f"{self.distribution} in [{self.min:g}, {self.max:g}]"  # type: ignore[attr-defined]


class UniformParam(_Bounded):
    """A real number drawn evenly between `min` and `max` (also Oscar's `{min, max}`)."""

    distribution: Literal["uniform"] = Field("uniform", description="`uniform`")


class LogUniformParam(_Bounded):
    """A real number drawn evenly in the log domain between `min` > 0 and `max`
    (learning rates, weight decay)."""

    distribution: Literal["log_uniform"] = Field("log_uniform", description="`log_uniform`")

    def _bound_problems(self) -> list[ConfigProblem]:
        problems = super()._bound_problems()
        if self.min <= 0:
            problems.append(
                ConfigProblem("min", f"must be greater than 0 for log_uniform (got {self.min:g})")
            )
        return problems


class IntUniformParam(_Bounded):
    """An integer drawn evenly from `min`, `min + step`, ... up to `max`."""

    distribution: Literal["int_uniform"] = Field("int_uniform", description="`int_uniform`")
    min: int = Field(description="lower bound, a whole number below `max`")
    max: int = Field(description="upper bound, a whole number above `min`")
    step: int = Field(1, gt=0, description="the distance between values, a whole number > 0")

    @property
    def low(self) -> int:
        return self.min

    @property
    def high(self) -> int:
        return self.max

    def describe(self) -> str:
        return f"int_uniform in [{self.min}, {self.max}]" + (
            f", step {self.step}" if self.step != 1 else ""
        )


class DiscreteUniformParam(_Bounded):
    """A real number drawn evenly from `min`, `min + q`, ... up to `max`."""

    distribution: Literal["discrete_uniform"] = Field(
        "discrete_uniform", description="`discrete_uniform`"
    )
    q: float = Field(gt=0, description="the step of discretisation, a number > 0")

    @property
    def grid_values(self) -> list[float]:
        n = int(math.floor((self.max - self.min) / self.q + 1e-9))
        return [round(self.min + i * self.q, 12) for i in range(n + 1)]

    def describe(self) -> str:
        return f"discrete_uniform in [{self.min:g}, {self.max:g}], q {self.q:g}"


PARAMETER_MODELS: dict[str, type[_Param]] = {
    "constant": ConstantParam,
    "categorical": CategoricalParam,
    "uniform": UniformParam,
    "int_uniform": IntUniformParam,
    "discrete_uniform": DiscreteUniformParam,
    "log_uniform": LogUniformParam,
}

DISTRIBUTIONS = tuple(PARAMETER_MODELS)

GRID_KINDS = (ConstantParam, CategoricalParam)

PARAMETER_KEYS = ("value", "values", "distribution", "min", "max", "step", "q")

_BOTH = "both_value_and_values"
_UNRECOGNISED = "unrecognised"


class _BothValueAndValues(_Param):
    """Never valid: gives 'both value and values' its own message."""

    @model_validator(mode="before")
    @classmethod
    def _reject(cls, data: Any) -> Any:
        raise FieldProblems.at(
            "", "give either 'value' (one fixed value) or 'values' (a list), not both"
        )


class _UnrecognisedParam(_Param):
    """Never valid: says what is wrong with a parameter of no known form."""

    @model_validator(mode="before")
    @classmethod
    def _reject(cls, data: Any) -> Any:
        raise FieldProblems(_unrecognised_problems(data))


def _unrecognised_problems(data: Any) -> list[ConfigProblem]:
    forms = "{value: x}, {values: [x, y]} or {distribution: <kind>, min: <low>, max: <high>}"
    if not isinstance(data, dict):
        return [ConfigProblem("", f"must be a mapping such as {forms} (got {data!r})")]
    if "distribution" in data:
        kind = data["distribution"]
        return [
            ConfigProblem(
                "distribution",
                f"must be one of {', '.join(DISTRIBUTIONS)} (got {kind!r})"
                + did_you_mean(kind, DISTRIBUTIONS),
            )
        ]
    unknown = [k for k in data if k not in PARAMETER_KEYS]
    if unknown:
        return [
            ConfigProblem(str(k), f"unknown key {k!r}" + _key_hint(k, data[k], forms))
            for k in unknown
        ]
    return [ConfigProblem("", f"a parameter needs 'value', 'values' or 'distribution': {forms}")]


def _key_hint(key: Any, value: Any, forms: str) -> str:
    hint = did_you_mean(key, PARAMETER_KEYS)
    if hint.endswith("'value'?") and isinstance(value, list):
        hint = hint.replace("'value'", "'values'")  # a list is what 'values' takes
    return hint or f"; a parameter is {forms}"


def _parameter_kind(data: Any) -> str:
    if isinstance(data, _Param):
        return str(getattr(data, "distribution", _UNRECOGNISED))
    if not isinstance(data, dict):
        return _UNRECOGNISED
    if "distribution" in data:
        kind = data["distribution"]
        return kind if isinstance(kind, str) and kind in PARAMETER_MODELS else _UNRECOGNISED
    if "value" in data and "values" in data:
        return _BOTH
    if "values" in data:
        return "categorical"
    if "value" in data:
        return "constant"
    if "min" in data or "max" in data:
        return "uniform"
    return _UNRECOGNISED


ParameterSpec = Annotated[
    Annotated[ConstantParam, Tag("constant")]
    | Annotated[CategoricalParam, Tag("categorical")]
    | Annotated[UniformParam, Tag("uniform")]
    | Annotated[LogUniformParam, Tag("log_uniform")]
    | Annotated[IntUniformParam, Tag("int_uniform")]
    | Annotated[DiscreteUniformParam, Tag("discrete_uniform")]
    | Annotated[_BothValueAndValues, Tag(_BOTH)]
    | Annotated[_UnrecognisedParam, Tag(_UNRECOGNISED)],
    Discriminator(_parameter_kind),
]


def parameter_kind(data: Any) -> str | None:
    """The distribution a raw parameter spec (or a parsed one) stands for, or None when it
    has no valid form."""
    kind = _parameter_kind(data)
    return kind if kind in PARAMETER_MODELS else None
