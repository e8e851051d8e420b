"""The commands of the READMEs (the top one and each example's) are ones a newcomer can
paste from the checkout (``.venv/bin/...``, as the top README's ``make run`` installs it)
and that ``scanfleet`` accepts; every example folder that needs more than ``local run``
has a README. This checks them in a second; ``tests/e2e/test_readme.py`` runs them."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from scanfleet.cli import build_parser

from tests.e2e.readme import ROOT, blocks

EXAMPLES = ROOT / "examples"
READMES = [ROOT / "README.md", *sorted(EXAMPLES.glob("*/README.md"))]
SHELL_ENDS = ("&", "&&", "|", ";", ">", ">>", "<")  # the command's own words end there


def commands(readme: Path) -> list[list[str]]:
    """The command lines of ``readme``'s bash blocks (skipped ones too), without their
    comments, redirections and trailing ``&``."""
    found = []
    for block in blocks(readme):
        if block.language != "bash":
            continue
        for line in block.code.splitlines():
            words = shlex.split(line, comments=True)
            ends = [i for i, w in enumerate(words) if w in SHELL_ENDS or w.startswith(("2>", ">"))]
            if words:
                found.append(words[: ends[0]] if ends else words)
    return found


@pytest.mark.parametrize("readme", READMES, ids=lambda p: p.parent.name or "top")
def test_readme_commands_run_from_the_checkout_and_parse(readme: Path) -> None:
    for argv in commands(readme):
        if argv[0] in ("scanfleet", "python"):
            pytest.fail(f"{readme}: {shlex.join(argv)}: use .venv/bin/{argv[0]}")
        if argv[0] == ".venv/bin/scanfleet":
            build_parser().parse_args(argv[1:])  # SystemExit(2) on a wrong command
        if argv[0] == ".venv/bin/python":
            assert (ROOT / argv[1]).is_file(), argv
        assert not any(w in ("SCAN", "<id>", "ID") for w in argv), f"{readme}: a placeholder"


@pytest.mark.parametrize(
    ("example", "script"),
    [("oscar_loop", "square.py"), ("schedy", "manual_and_random.py")],
)
def test_the_script_examples_have_a_readme_that_runs_them(example: str, script: str) -> None:
    readme = EXAMPLES / example / "README.md"
    assert [".venv/bin/python", f"examples/{example}/{script}"] in commands(readme)
