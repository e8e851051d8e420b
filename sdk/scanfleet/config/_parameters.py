"""The search space: one model per parameter kind, discriminated by ``distribution``.

Picsellia's short forms are accepted and normalised: ``{value: x}`` is a constant,
``{values: [...]}`` is categorical, and (Oscar) ``{min, max}`` alone is uniform.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

Scalar = int | float | str | bool | None


class _Param(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConstantParam(_Param):
    """One fixed value."""

    distribution: Literal["constant"] = "constant"
    value: Scalar


class CategoricalParam(_Param):
    """A list of values, tried in order by grid, sampled by the other strategies."""

    distribution: Literal["categorical"] = "categorical"
    values: list[Scalar] = Field(min_length=1)


class _Bounded(_Param):
    min: float
    max: float

    @model_validator(mode="after")
    def _min_below_max(self) -> _Bounded:
        if not self.min < self.max:
            raise ValueError(f"min ({self.min}) must be less than max ({self.max})")
        return self


class UniformParam(_Bounded):
    distribution: Literal["uniform"] = "uniform"


class LogUniformParam(_Bounded):
    distribution: Literal["log_uniform"] = "log_uniform"

    @model_validator(mode="after")
    def _positive(self) -> LogUniformParam:
        if self.min <= 0:
            raise ValueError(f"log_uniform needs min > 0 (got {self.min})")
        return self


class IntUniformParam(_Bounded):
    distribution: Literal["int_uniform"] = "int_uniform"
    step: int = Field(1, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _integer_bounds(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in ("min", "max"):
                v = data.get(key)
                if isinstance(v, float) and not v.is_integer():
                    raise ValueError(f"int_uniform needs integer {key} (got {v})")
        return data

    @property
    def low(self) -> int:
        return int(self.min)

    @property
    def high(self) -> int:
        return int(self.max)


class DiscreteUniformParam(_Bounded):
    distribution: Literal["discrete_uniform"] = "discrete_uniform"
    q: float = Field(gt=0)

    @property
    def grid_values(self) -> list[float]:
        n = int(math.floor((self.max - self.min) / self.q + 1e-9))
        return [round(self.min + i * self.q, 12) for i in range(n + 1)]


def _parameter_kind(data: Any) -> str | None:
    if isinstance(data, BaseModel):
        return getattr(data, "distribution", None)
    if not isinstance(data, dict):
        return None
    if "distribution" in data:
        kind = data["distribution"]
        return kind if isinstance(kind, str) else None
    if "value" in data and "values" in data:
        return "both_value_and_values"
    if "values" in data:
        return "categorical"
    if "value" in data:
        return "constant"
    if "min" in data or "max" in data:
        return "uniform"
    return None


class _BothValueAndValues(_Param):
    """Never valid: gives the 'both value and values' error its own message."""

    @model_validator(mode="before")
    @classmethod
    def _reject(cls, data: Any) -> Any:
        raise ValueError("give either 'value' or 'values', not both")


ParameterSpec = Annotated[
    Annotated[ConstantParam, Tag("constant")]
    | Annotated[CategoricalParam, Tag("categorical")]
    | Annotated[UniformParam, Tag("uniform")]
    | Annotated[LogUniformParam, Tag("log_uniform")]
    | Annotated[IntUniformParam, Tag("int_uniform")]
    | Annotated[DiscreteUniformParam, Tag("discrete_uniform")]
    | Annotated[_BothValueAndValues, Tag("both_value_and_values")],
    Discriminator(
        _parameter_kind,
        custom_error_type="invalid_parameter",
        custom_error_message=(
            "a parameter needs 'value', 'values', or 'distribution' in constant, "
            "categorical, uniform, int_uniform, discrete_uniform, log_uniform"
        ),
    ),
]

DISTRIBUTIONS = (
    "constant",
    "categorical",
    "uniform",
    "int_uniform",
    "discrete_uniform",
    "log_uniform",
)

GRID_KINDS = (ConstantParam, CategoricalParam)

PARAMETER_MODELS: dict[str, type[_Param]] = {
    "constant": ConstantParam,
    "categorical": CategoricalParam,
    "uniform": UniformParam,
    "log_uniform": LogUniformParam,
    "int_uniform": IntUniformParam,
    "discrete_uniform": DiscreteUniformParam,
    "both_value_and_values": _BothValueAndValues,
}
