"""The READMEs are executable: every ``bash`` and ``python`` block of README.md and of each
example's README runs as it is written, in order, in a fresh copy of the checkout — one
shell and one Python session per README, as a person following it has them. Blocks that
cannot run here carry ``<!-- readme-test: skip (why) -->`` in the README itself."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.readme import ROOT, Session, blocks, fresh_checkout

BLOCK_TIMEOUT_S = 180  # one block; `make run` takes ~30 s on 2 busy cores
READMES = [ROOT / "README.md", *sorted((ROOT / "examples").glob("*/README.md"))]


def readme_id(readme: Path) -> str:
    return str(readme.parent.relative_to(ROOT) / readme.name)


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    """A terminal in a fresh copy of the checkout, whose own package runs (first on
    PYTHONPATH: the venv's editable install points at the checkout); no scanfleet
    setting leaks in."""
    checkout = fresh_checkout(tmp_path / "checkout")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANFLEET_")}
    env["PYTHONPATH"] = str(checkout / "sdk")
    terminal = Session(checkout, env)
    try:
        yield terminal
    finally:
        terminal.close()


@pytest.mark.parametrize("readme", READMES, ids=readme_id)
def test_every_block_of_the_readme_runs_as_written(readme: Path, session: Session) -> None:
    runnable = [b for b in blocks(readme) if b.skip is None]
    assert runnable, f"{readme_id(readme)} has no block to run"
    timings = []
    for block in runnable:
        start = time.monotonic()
        status, out = session.run(block, block.where(readme), BLOCK_TIMEOUT_S)
        timings.append(f"{block.where(readme)} {time.monotonic() - start:.1f} s")
        if status != 0:
            tail = "\n".join(out.splitlines()[-60:])
            pytest.fail(f"{block.where(readme)} ({block.language}) failed:\n{block.code}\n"
                        f"--- its output (last lines) ---\n{tail}")  # fmt: skip
    print("\n".join(timings))


def test_a_skipped_block_says_why_and_the_readmes_skip_little() -> None:
    """What cannot run here is marked with its reason; the rest of the tour runs."""
    top = blocks(ROOT / "README.md")
    skipped = [b for b in top if b.skip is not None]
    assert all((b.skip or "").strip() for b in skipped)
    assert len(skipped) <= 3 and any("make test" in b.code for b in skipped)
    for readme in READMES[1:]:
        assert all(b.skip is None for b in blocks(readme)), readme_id(readme)
