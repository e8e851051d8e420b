"""Every command and every option of ``scanfleet`` says what it is in ``--help``, and
``--version`` prints the package's version."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator

import pytest
from scanfleet import __version__
from scanfleet.cli import build_parser, main


def walk(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, argparse.Action]]:
    """Every action of ``parser`` and of its subcommands, with the command path to it."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helped = {choice.dest: choice for choice in action._choices_actions}
            for name, child in action.choices.items():
                yield f"{path} {name}", helped.get(name, action)  # no help: not in the list
                yield from walk(child, f"{path} {name}")
        else:
            yield path, action


def test_every_command_and_option_has_help_text() -> None:
    missing = []
    seen = 0
    for path, action in walk(build_parser(), "scanfleet"):
        seen += 1
        if isinstance(action, argparse._SubParsersAction):
            missing.append(f"{path}: no help line in its group's list")
        elif not (action.help or "").strip() or action.help == argparse.SUPPRESS:
            missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    assert not missing, "\n".join(missing)
    assert seen > 100  # the walk reached the subcommands' options


def test_scans_help_lists_every_scans_command_with_a_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["scans", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for command in ("list", "show", "trials", "best", "export", "cancel", "extend", "delete"):
        line = next(line for line in out.splitlines() if line.strip().startswith(command + " "))
        assert len(line.split()) > 2, line  # the name, then its help


def test_version_prints_the_package_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "scanfleet.cli", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"scanfleet {__version__}\n"
