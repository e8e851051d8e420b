"""Grid conditions in the config: what they may hold, with the field path of a mistake."""

from __future__ import annotations

from typing import Any

import pytest
from scanfleet.config import ConfigError, load_config


def config(conditions: list[Any], parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "strategy": "grid",
        "metric": {"name": "m"},
        "parameters": parameters or {"a": {"values": [1, 2]}, "b": {"values": ["x"]}},
        "conditions": conditions,
    }


def problems_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(data)
    return [str(p) for p in caught.value.problems]


def test_an_empty_list_in_a_condition_is_refused_at_its_path() -> None:
    # an empty `set` list would remove the cells it fires on; an empty `when` never fires
    assert problems_of(config([{"when": {"a": [1]}, "set": {"b": []}}])) == [
        "conditions.0.set.b: must list at least one value"
    ]
    assert problems_of(config([{"when": {"a": []}, "set": {"b": "y"}}])) == [
        "conditions.0.when.a: must list at least one value"
    ]


def test_when_lists_that_tell_too_many_kinds_of_cells_apart_are_refused() -> None:
    parameters = {name: {"values": list(range(40))} for name in "abc"}
    conditions = [{"when": {n: list(range(39)) for n in "abc"}, "set": {"a": [0]}}]
    assert load_config(config(conditions, parameters))  # 2 kinds per key: 8
    conditions = [
        {"when": {n: [i] for n in "abc"}, "set": {"a": [0]}} for i in range(39)
    ]  # 40 kinds per key: 64,000
    (problem,) = problems_of(config(conditions, parameters))
    assert problem.startswith("conditions: the 'when' lists tell 64,000 kinds of grid cells")
