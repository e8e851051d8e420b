"""Grid conditions (hypnettorch's grid exceptions) and the checks that need the grid."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from scanfleet.config._errors import ConfigProblem, FieldProblems
from scanfleet.config._parameters import ScalarValue, did_you_mean

# How many kinds of cells the ``when`` lists may tell apart: a cell's kind is, for each
# key some ``when`` tests, which ``when`` lists hold its value. The grid keeps a table of
# this size to place every command without listing the cells (docs/search.md).
MAX_CONDITION_KINDS = 50_000


class Condition(BaseModel):
    """A grid exception (hypnettorch): when every key of `when` holds one of its listed
    values, the cell is replaced by every combination of the `set` lists (several keys or
    values: several trials). A single value may stand for a list of one."""

    model_config = ConfigDict(extra="forbid")

    when: dict[str, list[ScalarValue]] = Field(
        min_length=1, description="parameter name: the values that trigger the condition"
    )
    set: dict[str, list[ScalarValue]] = Field(
        min_length=1, description="parameter name: the values it takes instead"
    )

    @field_validator("when", "set", mode="before")
    @classmethod
    def _one_value_is_a_list(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: v if isinstance(v, list) else [v] for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _lists_are_not_empty(self) -> Condition:
        problems = [
            ConfigProblem(f"{part}.{key}", "must list at least one value")
            for part, mapping in (("when", self.when), ("set", self.set))
            for key, values in mapping.items()
            if not values
        ]
        if problems:
            raise FieldProblems(problems)
        return self


def condition_problems(
    conditions: Any, strategy: Any, parameters: dict[str, Any], grid: str
) -> list[ConfigProblem]:
    """Conditions on a scan that is not a grid, keys that are not parameters, and more
    kinds of cells than ``MAX_CONDITION_KINDS``."""
    if not isinstance(conditions, list) or not conditions:
        return []
    if isinstance(strategy, str) and strategy != grid:
        return [
            ConfigProblem("conditions", f"conditions apply to grid scans only (got {strategy!r})")
        ]
    problems = []
    for i, condition in enumerate(conditions):
        if not isinstance(condition, dict):
            continue
        for part in ("when", "set"):
            keys = condition.get(part)
            for key in keys if isinstance(keys, dict) else ():
                if parameters and key not in parameters:
                    problems.append(
                        ConfigProblem(
                            f"conditions.{i}.{part}.{key}",
                            f"{key!r} is not a parameter"
                            + (
                                did_you_mean(key, list(parameters))
                                or f"; parameters: {', '.join(parameters)}"
                            ),
                        )
                    )
    kinds = _cell_kinds(conditions, parameters)
    if not problems and kinds > MAX_CONDITION_KINDS:
        problems.append(
            ConfigProblem(
                "conditions",
                f"the 'when' lists tell {kinds:,} kinds of grid cells apart (at most "
                f"{MAX_CONDITION_KINDS:,}): test fewer keys or values, or split the scan",
            )
        )
    return problems


def _cell_kinds(conditions: list[Any], parameters: dict[str, Any]) -> int:
    """For each parameter some ``when`` tests: how many distinct answers its values give
    to "which ``when`` lists hold me"; multiplied."""
    kinds = 1
    for name, spec in parameters.items():
        tested = [
            _as_list(c["when"][name])
            for c in conditions
            if isinstance(c, dict) and isinstance(c.get("when"), dict) and name in c["when"]
        ]
        if tested and isinstance(spec, dict):
            values = spec.get("values", [spec.get("value")])
            values = values if isinstance(values, list) else [values]
            kinds *= len({tuple(_holds(vals, v) for vals in tested) for v in values})
    return kinds


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _holds(values: list[Any], value: Any) -> bool:
    try:
        return value in values
    except TypeError:
        return False
