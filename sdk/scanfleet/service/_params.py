"""Checks on parameters given by hand (``add_trial``): they must fit the search space, so
every stored trial can be told to Optuna when the study is rebuilt."""

from __future__ import annotations

from typing import Any

from scanfleet.config import (
    CategoricalParam,
    ConstantParam,
    DiscreteUniformParam,
    IntUniformParam,
    ScanConfig,
)
from scanfleet.errors import InvalidParamsError


def complete_params(config: ScanConfig, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with constants filled in, checked against the space.

    Raises:
        InvalidParamsError: an unknown name, a missing one, or a value outside the space.
    """
    if not config.parameters:  # a queue without a declared space takes any params
        return dict(params)
    problems: list[str] = []
    unknown = sorted(set(params) - set(config.parameters))
    if unknown:
        problems.append(f"unknown parameter(s): {', '.join(unknown)}")
    full: dict[str, Any] = {}
    for name, spec in config.parameters.items():
        if name not in params:
            if isinstance(spec, ConstantParam):
                full[name] = spec.value
            else:
                problems.append(f"missing parameter: {name}")
            continue
        value = params[name]
        problem = _outside(spec, value)
        if problem:
            problems.append(f"{name}: {problem}")
        full[name] = value
    if problems:
        raise InvalidParamsError("; ".join(problems), details=problems)
    return full


def _outside(spec: Any, value: Any) -> str | None:
    if isinstance(spec, ConstantParam):
        return None if value == spec.value else f"must be {spec.value!r}"
    if isinstance(spec, CategoricalParam):
        return None if value in spec.values else f"must be one of {spec.values!r}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "must be a number"
    if isinstance(spec, IntUniformParam) and not float(value).is_integer():
        return "must be an integer"
    if not spec.min <= value <= spec.max:
        return f"must be between {spec.min} and {spec.max}"
    if isinstance(spec, DiscreteUniformParam):
        k = (value - spec.min) / spec.q
        if abs(k - round(k)) > 1e-6:
            return f"must be min + k * {spec.q}"
    return None
