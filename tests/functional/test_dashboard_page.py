"""``scanfleet dashboard``'s page in headless Chromium (Debian's ``chromium``): optuna-dashboard
over the real local server shows the running scan's trials, and a trial that finishes
meanwhile shows finished on the next reload. Screenshots go to test-artifacts/."""

from __future__ import annotations

import html
import json
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scanfleet.client import Client, Scan
from scanfleet.records import TrialState
from scanfleet.report import DashboardServer, dashboard_server

from tests.functional.dashboard_scans import make_live_scan

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DASHBOARD_CACHE_S = 2.0  # optuna-dashboard keeps a study's trials this long (under 100 trials)


@pytest.fixture
def scan(client: Client) -> Scan:
    return make_live_scan(client)


@pytest.fixture
def dashboard(client: Client, scan: Scan) -> Iterator[DashboardServer]:
    server = dashboard_server(client, scan.id, port=0, ttl=0.5)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def page_text(url: str, profile: Path, screenshot: Path) -> str:
    """The text of the page at ``url`` once its scripts have run, in a fresh Chromium
    profile, with a screenshot of it. Fails (never skips) without Chromium."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install it with `apt-get install -y chromium`")
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot.unlink(missing_ok=True)
    done = subprocess.run(
        [
            str(CHROMIUM),
            *FLAGS,
            f"--user-data-dir={profile}",
            "--virtual-time-budget=20000",  # the page's fetches and renders run first
            "--hide-scrollbars",
            "--window-size=1400,1000",
            f"--screenshot={screenshot}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert screenshot.stat().st_size > 10_000
    body = done.stdout[done.stdout.find("<body") :]
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", body, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def test_the_dashboard_shows_the_running_scan_and_a_trial_finished_since_after_reload(
    dashboard: DashboardServer, scan: Scan, tmp_path: Path
) -> None:
    trials_page = f"{dashboard.url}/dashboard/studies/0/trials"
    text = page_text(trials_page, tmp_path / "one", ARTIFACTS / "dashboard-running-scan.png")
    assert f"live ({scan.id})" in text
    assert "7 Trials" in text
    for shown in (
        "Trial 0 Complete",
        "Trial 1 Pruned",
        "Trial 2 Complete",
        "Trial 3 Fail",
        "Trial 4 Complete Best Trial",
        "Trial 5 Running",
        "Trial 6 Waiting",
    ):
        assert shown in text
    assert "scanfleet.trial_id" in text  # trial 0's details, with scanfleet's bookkeeping

    running = next(t for t in scan.trials() if t.state is TrialState.RUNNING)
    running.report("loss", 0.1, step=2)
    running.complete(0.05)  # the best so far
    time.sleep(DASHBOARD_CACHE_S + 0.1)

    text = page_text(trials_page, tmp_path / "two", ARTIFACTS / "dashboard-after-reload.png")
    assert "Trial 5 Complete Best Trial" in text
    assert "Trial 4 Complete Trial 5" in text  # no longer the best
    assert "Trial 6 Waiting" in text and "7 Trials" in text


def test_the_dashboard_history_page_draws_the_scan(
    dashboard: DashboardServer, scan: Scan, tmp_path: Path
) -> None:
    text = page_text(
        f"{dashboard.url}/dashboard/studies/0", tmp_path / "p", ARTIFACTS / "dashboard-history.png"
    )
    assert f"live ({scan.id}) (id=0)" in text
    for section in ("History", "Hyperparameter Importance", "Timeline", "Intermediate values"):
        assert section in text
    assert "Best Trial (number=4)" in text
    assert "trial #5 (running)" in text  # the running trial's curve so far
    assert "scanfleet.status RUNNING" in text


def get_json(url: str, method: str = "GET") -> tuple[int, Any]:
    request = urllib.request.Request(url, data=b"{}" if method != "GET" else None, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_dashboard_api_answers_from_the_live_scan_and_refuses_writes(
    dashboard: DashboardServer, scan: Scan
) -> None:
    status, studies = get_json(f"{dashboard.url}/api/studies")
    assert status == 200
    assert [s["study_name"] for s in studies["study_summaries"]] == [f"live ({scan.id})"]
    status, detail = get_json(f"{dashboard.url}/api/studies/0")
    assert status == 200
    assert [t["state"] for t in detail["trials"]] == [
        "Complete",
        "Pruned",
        "Complete",
        "Fail",
        "Complete",
        "Running",
        "Waiting",
    ]
    for method, path in (
        ("PUT", "/api/studies/0/note"),
        ("POST", "/api/trials/5/tell"),
        ("DELETE", "/api/studies/0"),
        ("POST", "/api/studies"),
    ):
        status, answer = get_json(f"{dashboard.url}{path}", method)
        assert status == 403, path
        assert "read-only" in str(answer["reason"])
    assert get_json(f"{dashboard.url}/api/studies/0")[0] == 200  # still there
