"""The commands of the examples' READMEs are ones a newcomer can paste from the checkout
(``.venv/bin/...``, as the top README's ``make run`` installs it) and that ``scanfleet``
accepts; every example folder that needs more than ``local run`` has a README."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from scanfleet.cli import build_parser

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def commands(readme: Path) -> list[list[str]]:
    """The indented command lines of ``readme``, without their comments."""
    lines = [line.strip() for line in readme.read_text().splitlines() if line.startswith("    ")]
    return [shlex.split(line, comments=True) for line in lines if not line.startswith("#")]


@pytest.mark.parametrize(
    "readme", sorted(EXAMPLES.glob("*/README.md")), ids=lambda p: p.parent.name
)
def test_readme_commands_run_from_the_checkout_and_parse(readme: Path) -> None:
    for argv in commands(readme):
        if argv[0] in ("scanfleet", "python"):
            pytest.fail(f"{readme}: {shlex.join(argv)}: use .venv/bin/{argv[0]}")
        if argv[0] == ".venv/bin/scanfleet":
            build_parser().parse_args(argv[1:])  # SystemExit(2) on a wrong command
        if argv[0] == ".venv/bin/python":
            assert (EXAMPLES.parent / argv[1]).is_file(), argv


@pytest.mark.parametrize(
    ("example", "script"),
    [("oscar_loop", "square.py"), ("schedy", "manual_and_random.py")],
)
def test_the_script_examples_have_a_readme_that_runs_them(example: str, script: str) -> None:
    readme = EXAMPLES / example / "README.md"
    assert [".venv/bin/python", f"examples/{example}/{script}"] in commands(readme)
