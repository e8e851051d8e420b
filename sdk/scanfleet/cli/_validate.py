"""``scanfleet validate``: check a config and say what it will run."""

from __future__ import annotations

import argparse
from pathlib import Path

from scanfleet.cli._common import SubParsers
from scanfleet.config import load_config


def register(sub: SubParsers) -> None:
    p = sub.add_parser("validate", help="check a scan config and summarise it")
    p.add_argument("config", type=Path)
    p.set_defaults(handler=cmd_validate)


def cmd_validate(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    print(config.summary())
    if config.strategy.value == "grid":
        from scanfleet.search import GridStrategy

        grid = GridStrategy(config)
        distinct = grid.count_distinct()
        trials = min(distinct, config.max_run) if distinct is not None else config.max_run
        seeds = f", then {config.seeds.n} seed runs" if config.seeds is not None else ""
        print(f"grid: {grid.size()} cells, {distinct} distinct; {trials} trials will run{seeds}")
    elif config.pbt is not None and config.pbt.max_generations is not None:
        size, generations = config.pbt.population_size, config.pbt.max_generations
        trials = min(size * generations, config.max_run)
        print(f"pbt: {generations} generations of {size}; {trials} trials will run")
    return 0
