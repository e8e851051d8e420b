"""Bounds on single fields: ``max_run`` (a whole number from 1 to 1,000,000, never a
boolean) and ``tags`` (the API's limits: 50 tags, keys of 1 to 128 characters, values of
at most 1,024), each refused with its field path."""

from __future__ import annotations

from typing import Any

import pytest
from scanfleet.config import ConfigError, load_config

BASE = {"strategy": "grid", "metric": {"name": "m"}, "parameters": {"a": {"values": [1]}}}


def problems_of(**fields: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config({**BASE, **fields})
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (2**63, "must be less than or equal to 1000000 (got a 19-digit number)"),
        (10**100, "must be less than or equal to 1000000 (got a 101-digit number)"),
        (1_000_001, "must be less than or equal to 1000000 (got 1000001)"),
        (True, "must be a whole number, not true/false (got true)"),
        (False, "must be a whole number, not true/false (got false)"),
    ],
)
def test_max_run_out_of_bounds_is_refused_at_its_path(value: Any, message: str) -> None:
    assert problems_of(max_run=value) == [f"max_run: {message}"]


def test_max_run_up_to_the_bound_is_kept() -> None:
    assert load_config({**BASE, "max_run": 1_000_000}).max_run == 1_000_000
    assert load_config("strategy: grid\nmetric: {name: m}\nparameters: {a: {value: 1}}\n"
                       "max_run: 3\n").max_run == 3  # fmt: skip


def test_more_than_fifty_tags_is_one_problem() -> None:
    assert problems_of(tags={f"k{i}": "v" for i in range(51)}) == ["tags: 51 tags; at most 50"]
    assert len(load_config({**BASE, "tags": {f"k{i}": i for i in range(50)}}).tags) == 50


def test_a_tag_key_or_value_too_long_is_refused_at_its_path() -> None:
    tags = {"k" * 129: "v", "team": "x" * 1_025, "ok": "y" * 1_024, "k" * 128: "fine"}
    assert problems_of(tags=tags) == [
        f"tags.{'k' * 128}: a tag key has 1 to 128 characters (got 129)",
        "tags.team: at most 1024 characters (got 1025)",
    ]
    assert problems_of(tags={"": "v"}) == ["tags: a tag key has 1 to 128 characters (got 0)"]
