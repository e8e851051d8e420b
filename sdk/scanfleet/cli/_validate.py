"""``scanfleet validate``: check a config and say what it will run."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from scanfleet.cli._common import SubParsers
from scanfleet.config import ScanConfig, check_command_script, load_config

if TYPE_CHECKING:
    from scanfleet.search import GridStrategy

# Variants of the cells conditions fire on that validate lists to count the distinct
# trials exactly (~2 s); past it, it says "at least".
_COUNT_VARIANTS_UP_TO = 200_000


def register(sub: SubParsers) -> None:
    p = sub.add_parser("validate", help="check a scan config and summarise it")
    p.add_argument("config", type=Path, help="the scan config (YAML or JSON)")
    p.set_defaults(handler=cmd_validate)


def cmd_validate(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    check_command_script(config)  # the script is beside the config, where it will run
    print(config.summary())
    if config.strategy.value == "grid":
        from scanfleet.search import GridStrategy

        print(_grid_line(GridStrategy(config), config))
    elif config.pbt is not None and config.pbt.max_generations is not None:
        size, generations = config.pbt.population_size, config.pbt.max_generations
        trials = min(size * generations, config.max_run)
        print(f"pbt: {generations} generations of {size}; {trials} trials will run")
    return 0


def _grid_line(grid: GridStrategy, config: ScanConfig) -> str:
    """``grid: 6 cells, 4 distinct; 4 trials will run``, with the commands the conditions'
    variants make when they are more than the cells, and "at least" for a count that
    stopped early."""
    cells, positions = grid.cells(), grid.size()
    seeds = f", then {config.seeds.n} seed runs" if config.seeds is not None else ""
    shape = f"{cells} cells" + (
        f" ({positions} with the conditions' variants)" if positions != cells else ""
    )
    tally = grid.tally_distinct(_COUNT_VARIANTS_UP_TO)
    if tally.exact:
        trials = min(tally.count, config.max_run)
        return f"grid: {shape}, {tally.count} distinct; {trials} trials will run{seeds}"
    most = min(positions, config.max_run)
    if tally.count >= config.max_run:
        runs = f"{config.max_run} trials will run"
    else:
        runs = f"{tally.count} to {most} trials will run"
    return (
        f"grid: {shape}, at least {tally.count} distinct (counting stopped after "
        f"{tally.visited:,} variants of the cells conditions fire on); {runs}{seeds}"
    )
