"""Headless Chromium (Debian's ``chromium``) over a local file: the DOM after the page's
scripts ran, and a screenshot."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"


def chromium(page: Path, profile: Path, *args: str) -> str:
    """Run Chromium on ``page`` with a fresh profile; returns its stdout. Fails (never
    skips) when Chromium is not installed."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the report tests render the page in headless Chromium;"
            " install it with `apt-get install -y chromium`"
        )
    done = subprocess.run(
        [
            str(CHROMIUM),
            *FLAGS,
            f"--user-data-dir={profile}",
            "--virtual-time-budget=15000",  # lets the page's load handlers run first
            *args,
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def dump_dom(page: Path, profile: Path) -> str:
    return chromium(page, profile, "--dump-dom")


def screenshot(page: Path, profile: Path, name: str) -> Path:
    """A full-width screenshot kept under test-artifacts/ (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    out = ARTIFACTS / name
    out.unlink(missing_ok=True)
    chromium(page, profile, "--hide-scrollbars", "--window-size=1400,5200", f"--screenshot={out}")
    assert out.exists() and out.stat().st_size > 10_000
    return out
