"""``scanfleet dashboard [SCAN]`` as a user runs it: a real process serving optuna-dashboard
over the real local server, for one scan (by name or id) or all of the caller's, stopped
with Ctrl-C; and what it says when it cannot serve."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from scanfleet.cli import main
from scanfleet.client import Client

from tests.functional.dashboard_scans import GRID, make_live_scan

SCANFLEET = [sys.executable, "-m", "scanfleet.cli"]


def child_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SCANFLEET_")}


@contextmanager
def dashboard_process(*args: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``scanfleet dashboard ARGS --port 0`` running; yields the page it prints and the
    process, then stops it with Ctrl-C."""
    process = subprocess.Popen(
        [*SCANFLEET, "dashboard", *args, "--port", "0"],
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"(http://\S+)", line)
        assert process.stderr is not None
        assert found, (line, process.stderr.read() if process.poll() is not None else "")
        yield line, process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        finally:
            process.kill()


def studies_at(page_line: str) -> list[str]:
    found = re.search(r"(http://[^/\s]+)", page_line)
    assert found
    with urllib.request.urlopen(f"{found.group(1)}/api/studies", timeout=30) as answer:
        return [s["study_name"] for s in json.loads(answer.read())["study_summaries"]]


def test_dashboard_of_a_scan_by_name_serves_its_study_until_ctrl_c(
    client: Client, api: list[str]
) -> None:
    scan = make_live_scan(client)
    with dashboard_process("live", *api) as (line, process):
        assert f"optuna-dashboard of scan live ({scan.id}), read-only: http://127.0.0.1:" in line
        assert line.rstrip().endswith("/dashboard/studies/0  (Ctrl-C stops)")
        assert studies_at(line) == [f"live ({scan.id})"]
    assert process.returncode == 130
    assert process.stderr is not None and process.stderr.read() == "scanfleet: interrupted\n"


def test_dashboard_without_a_scan_serves_every_scan_of_the_caller(
    client: Client, api: list[str]
) -> None:
    first = make_live_scan(client, "first")
    second = client.create_scan("second", GRID)
    with dashboard_process(*api) as (line, _):
        assert "optuna-dashboard of your scans, read-only:" in line
        assert studies_at(line) == [f"first ({first.id})", f"second ({second.id})"]


def test_dashboard_of_an_unknown_scan_says_so(
    api: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dashboard", "nosuchscan", *api, "--port", "0"]) == 1
    assert "no scan with id or name 'nosuchscan'" in capsys.readouterr().err


def test_dashboard_on_a_port_in_use_says_to_pick_another(
    client: Client, api: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    client.create_scan("live", GRID)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["dashboard", "live", *api, "--port", str(port)]) == 2
    assert capsys.readouterr().err == (
        f"error: port {port} on 127.0.0.1 is in use: pass another --port (0: any)\n"
    )


def test_dashboard_without_optuna_dashboard_says_what_to_install(
    client: Client,
    api: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client.create_scan("live", GRID)
    monkeypatch.setitem(sys.modules, "optuna_dashboard", None)  # as if not installed
    assert main(["dashboard", "live", *api]) == 2
    assert capsys.readouterr().err == (
        "error: the live dashboard needs optuna-dashboard, which is not installed:"
        " pip install 'scanfleet[dashboard]'\n"
    )


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--refresh", "-1"], "error: --refresh must be >= 0 seconds\n"),
        (["--port", "70000"], "error: --port must be between 0 and 65535, not 70000\n"),
    ],
)
def test_dashboard_options_out_of_range_are_named(
    api: list[str], option: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dashboard", "live", *api, *option]) == 2
    assert capsys.readouterr().err == message
