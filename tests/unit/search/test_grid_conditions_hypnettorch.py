"""The grid with conditions against a transcription of hypnettorch's own algorithm
(``hypnettorch/hpsearch/hpsearch.py``: ``_grid_to_commands`` and the conditions loop of
``run``): every variant of every fired condition, conditions in order, duplicates
removed. Trial identity (``canonical_params``) decides what a duplicate is."""

from __future__ import annotations

import time
import tracemalloc
from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from scanfleet.config import load_config
from scanfleet.records import canonical_params
from scanfleet.search import GridStrategy

Grid = dict[str, list[Any]]
Conditions = list[tuple[Grid, Grid]]


def grid_to_commands(grid: Grid) -> list[dict[str, Any]]:
    """hypnettorch's ``_grid_to_commands``: the full product, the last key fastest."""
    commands = []
    keys = list(grid)
    indices = [0] * len(keys)
    while True:
        commands.append({k: grid[k][indices[i]] for i, k in enumerate(keys)})
        for i in range(len(indices) - 1, -1, -1):
            indices[i] = (indices[i] + 1) % len(grid[keys[i]])
            if indices[i] != 0:
                break
        else:
            return commands


def hypnettorch_commands(grid: Grid, conditions: Conditions) -> list[dict[str, Any]]:
    """The commands before hypnettorch removes duplicates."""
    commands = grid_to_commands(grid)
    conditions = [c for c in conditions if all(k in grid for k in c[0])]
    for cond, action in conditions:
        kept, new = [], []
        for command in commands:
            if not all(k in command and command[k] in cond[k] for k in cond):
                kept.append(command)
                continue
            for cmd in grid_to_commands(action):
                new.append({**cmd, **{k: v for k, v in command.items() if k not in cmd}})
        commands = kept + new
    return commands


def strategy_of(grid: Grid, conditions: Conditions) -> GridStrategy:
    config = {
        "strategy": "grid",
        "metric": {"name": "m"},
        "parameters": {name: {"values": values} for name, values in grid.items()},
        "conditions": [{"when": w, "set": s} for w, s in conditions],
    }
    return GridStrategy(load_config(config))


def the_loaded(strategy: GridStrategy) -> tuple[Grid, Conditions]:
    """The grid and conditions as the config parsed them (the values pydantic kept)."""
    grid = dict(zip(strategy.names, strategy.axes, strict=True))
    return grid, [(dict(c.when), dict(c.set)) for c in strategy.config.conditions]


def test_a_condition_setting_two_keys_yields_every_variant() -> None:
    grid = {"p0": ["b", 0.5, 8], "p1": ["a", 8]}
    conditions = [({"p1": [8]}, {"p1": [0.5, 3, "b"], "p0": [8, 0.5]})]
    g = strategy_of(grid, conditions)
    expected = {canonical_params(c) for c in hypnettorch_commands(grid, conditions)}
    assert len(expected) == 9
    assert {canonical_params(p) for p in g.iter_params()} == expected
    assert g.count_distinct() == 9 == g.planned_trials()


def test_two_conditions_firing_on_one_cell_yield_the_product_of_their_variants() -> None:
    grid = {"a": [0, 1], "b": ["x"], "c": [True]}
    conditions = [
        ({"a": [1]}, {"b": ["y", "z"]}),
        ({"a": [1]}, {"c": [False, None, 2.5]}),
    ]
    g = strategy_of(grid, conditions)
    assert g.count_distinct() == 1 + 2 * 3
    assert Counter(map(canonical_params, g.iter_params())) == Counter(
        map(canonical_params, hypnettorch_commands(grid, conditions))
    )


def test_a_million_cell_grid_with_conditions_costs_nothing_to_create() -> None:
    grid = {name: list(range(10)) for name in "abcdef"}
    conditions = [({"a": [3], "f": [1, 2]}, {"b": [0, 1, 2], "c": [0, 1]})]
    tracemalloc.start()
    start = time.perf_counter()
    g = strategy_of(grid, conditions)
    first, last = g.params_at(0), g.params_at(g.size() - 1)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    fired = 10**4 * 2  # a == 3 and f in (1, 2): the other four keys are free
    assert g.size() == 10**6 - fired + fired * 6
    assert first == dict.fromkeys("abcdef", 0) and last == dict.fromkeys("abcdef", 9)
    assert elapsed < 0.5 and peak < 5_000_000
    # the counting is exact without listing the unfired cells
    assert g.count_distinct() == 10**6 - fired + 10**2 * 2 * 6


_VALUES = st.sampled_from([0, 1, 2, 0.5, "a", "b", True, False, None])


@st.composite
def grids_with_conditions(draw: st.DrawFn) -> tuple[Grid, Conditions]:
    names = [f"p{i}" for i in range(draw(st.integers(1, 3)))]
    grid = {n: draw(st.lists(_VALUES, min_size=1, max_size=3)) for n in names}
    keys = st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True)
    conditions = []
    for _ in range(draw(st.integers(0, 3))):
        when = {k: draw(st.lists(_VALUES, min_size=1, max_size=2)) for k in draw(keys)}
        set_ = {k: draw(st.lists(_VALUES, min_size=1, max_size=3)) for k in draw(keys)}
        conditions.append((when, set_))
    return grid, conditions


@settings(max_examples=300, deadline=None)
@given(grids_with_conditions())
def test_the_grid_enumerates_what_hypnettorch_enumerates(case: tuple[Grid, Conditions]) -> None:
    g = strategy_of(*case)
    commands = hypnettorch_commands(*the_loaded(g))
    assert g.size() == len(commands)
    positions = [canonical_params(p) for p in g.iter_params()]
    assert Counter(positions) == Counter(map(canonical_params, commands))
    distinct = len(set(positions))
    assert g.count_distinct() == distinct == g.planned_trials()
    for limit in (0, 1, 4):  # a bounded count is exact or says it is a lower bound
        tally = g.tally_distinct(limit)
        assert tally.count == distinct if tally.exact else tally.count <= distinct


@settings(max_examples=100, deadline=None)
@given(grids_with_conditions())
def test_the_enumeration_visits_each_cells_commands_in_cell_order(
    case: tuple[Grid, Conditions],
) -> None:
    g = strategy_of(*case)
    grid, conditions = the_loaded(g)
    expected = [
        canonical_params(c)
        for cell in grid_to_commands(grid)
        for c in hypnettorch_commands({k: [v] for k, v in cell.items()}, conditions)
    ]
    assert [canonical_params(g.params_at(i)) for i in range(g.size())] == expected
