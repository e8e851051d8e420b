from __future__ import annotations

import time
import tracemalloc
from typing import Any

from scanfleet.config import load_config
from scanfleet.search import GridStrategy


def grid(params: dict[str, Any], conditions: list[Any] | None = None) -> GridStrategy:
    config = {"strategy": "grid", "metric": {"name": "l"}, "parameters": params}
    if conditions:
        config["conditions"] = conditions
    return GridStrategy(load_config(config))


def test_order_is_stable_with_the_last_parameter_fastest() -> None:
    g = grid({"a": {"values": [1, 2]}, "b": {"values": ["x", "y", "z"]}, "c": {"value": 0}})
    assert g.size() == 6
    assert [(p["a"], p["b"]) for p in g.iter_params()] == [
        (1, "x"), (1, "y"), (1, "z"), (2, "x"), (2, "y"), (2, "z"),
    ]  # fmt: skip


def test_a_million_cell_grid_costs_nothing_to_create() -> None:
    params = {name: {"values": list(range(10))} for name in "abcdef"}
    tracemalloc.start()
    start = time.perf_counter()
    g = grid(params)
    last = g.params_at(999_999)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert g.size() == 1_000_000
    assert last == {name: 9 for name in "abcdef"}
    assert g.params_at(123_456) == dict(zip("abcdef", [1, 2, 3, 4, 5, 6], strict=True))
    assert elapsed < 0.5 and peak < 5_000_000


def test_conditions_replace_values_in_order_and_expand_cells() -> None:
    g = grid(
        {"opt": {"values": ["sgd", "adam"]}, "momentum": {"values": [0.9]},
         "lr": {"values": [0.1, 0.01]}},
        conditions=[
            {"when": {"opt": ["adam"]}, "set": {"momentum": [0.0]}},
            {"when": {"opt": ["adam"], "momentum": [0.0]}, "set": {"lr": [1e-3, 1e-4]}},
        ],
    )  # fmt: skip
    cells = [tuple(p.values()) for p in g.iter_params()]
    distinct = set(cells)
    assert ("sgd", 0.9, 0.1) in distinct and ("sgd", 0.9, 0.01) in distinct
    assert ("adam", 0.0, 1e-3) in distinct and ("adam", 0.0, 1e-4) in distinct
    assert not any(c[0] == "adam" and c[1] == 0.9 for c in distinct)
    assert g.count_distinct() == 4 == len(distinct)
