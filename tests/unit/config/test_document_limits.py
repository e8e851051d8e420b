"""Hostile config documents: alias bombs, deep nesting and huge files end in a
ConfigError (exit 2 from the CLI) at once, never in a MemoryError or RecursionError."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from scanfleet.config import ConfigError, load_config

HEAD = "strategy: grid\nmetric: {name: m}\n"


def alias_bomb() -> str:
    """632 bytes that expand to 9^9 values (the report's file had this shape)."""
    lines = [HEAD.strip(), "x0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 9):
        lines.append(f"x{i}: &x{i} [" + ", ".join([f"*x{i - 1}"] * 9) + "]")
    lines.append("parameters: {p: {values: *x8}}")
    return "\n".join(lines) + "\n"


def refused_quickly(source: Any) -> str:
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(ConfigError) as caught:
        load_config(source)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 1.0 and peak < 50_000_000, (elapsed, peak)
    (problem,) = caught.value.problems
    return str(problem)


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    assert path.stat().st_size < 700
    assert "holds more than 100,000 values (YAML aliases count once per use)" in (
        refused_quickly(path)
    )


NESTINGS: dict[str, Callable[[int], str]] = {
    "yaml flow": lambda n: HEAD + "parameters: " + "[" * n + "]" * n + "\n",
    "yaml block": lambda n: HEAD + "parameters:\n" + "".join(" " * i + "- \n" for i in range(n)),
    "json list": lambda n: '{"strategy": "grid", "parameters": ' + "[" * n + "]" * n + "}",
    "json mapping": lambda n: '{"parameters": ' + '{"a": ' * n + "1" + "}" * n + "}",
}


@pytest.mark.parametrize("kind", NESTINGS)
def test_deep_nesting_is_refused_with_the_bound(kind: str, tmp_path: Path) -> None:
    # as deep as the size bound lets (a block level costs its indentation, a JSON key 6)
    depth = {"yaml block": 500, "json mapping": 30_000}.get(kind, 100_000)
    suffix = ".json" if kind.startswith("json") else ".yaml"
    path = tmp_path / f"deep{suffix}"
    path.write_text(NESTINGS[kind](depth))
    assert "nests more than 64 levels deep" in refused_quickly(path)
    assert "nests more than 64 levels deep" in refused_quickly(path.read_text())


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    assert "contains itself" in refused_quickly(HEAD + "parameters: &p {p: {values: *p}}\n")


def test_a_deep_dict_is_refused_too() -> None:
    data: dict[str, Any] = {"strategy": "grid"}
    inner = data
    for _ in range(5_000):
        inner["a"] = {}
        inner = inner["a"]
    assert "nests more than 64 levels deep" in refused_quickly(data)


def test_a_file_over_the_size_bound_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    values = json.dumps(list(range(200_000)))
    path.write_text(HEAD + f"parameters: {{p: {{values: {values}}}}}\n")
    assert "a config may hold 262,144 bytes" in refused_quickly(path)


def test_a_realistic_config_nests_and_lists_well_within_the_bounds() -> None:
    values = list(range(2_000))
    config = load_config(HEAD + f"parameters: {{p: {{values: {values}}}}}\n")
    assert len(config.parameters["p"].values) == 2_000  # type: ignore[union-attr]


def test_validate_exits_2_on_a_bomb_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    done = subprocess.run(
        [sys.executable, "-m", "scanfleet.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2, done.stderr
    assert "holds more than 100,000 values" in done.stderr
    assert "Traceback" not in done.stderr
