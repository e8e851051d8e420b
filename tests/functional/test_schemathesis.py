"""Schemathesis against the real local server: every operation of the OpenAPI document, no
server error, no answer the document does not describe.

``st run`` (schemathesis' own CLI, in a subprocess: its Hypothesis settings stay out of
this process) fuzzes the document the server serves, with the server's token, in all four
phases: examples, coverage (boundary and wrong-type values of every field), fuzzing, and
the stateful phase, which follows the document's links through a scan's life (create →
claim → heartbeat, report, checkpoint → complete → best trials, seeds, extend, tags,
cancel). Every check runs but ``positive_data_acceptance``: a scan config, a trial's params
and a worker's values are checked against the scan (a valid config, its search space, its
metrics), which no schema can say, so a schema-valid body may rightly get a 400 (the hooks
of ``schemathesis_hooks.py`` give the positive cases real configs, params and metrics).

Bounded for CI: a fixed seed, 25 examples per operation, at most 40 stateful scenarios of
at most 12 steps; about 1,600 requests, 20-45 s on two cores.
"""

from __future__ import annotations

import json
import logging
import os
import re
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
SEED = 20261203

# schemathesis.toml; the token comes from the environment
CONFIG = f"""
seed = {SEED}
max-failures = 50
[auth.openapi.bearerAuth]
bearer = "${{SCANFLEET_TOKEN}}"
[generation]
max-examples = 25
database = "none"
[phases.coverage]
unexpected-methods = ["PUT", "PATCH", "DELETE", "TRACE", "OPTIONS"]
[phases.stateful]
max-steps = 12
[phases.stateful.inference]
algorithms = []  # the document's links only
[phases.stateful.generation]
mode = "positive"  # wrong input is the other phases' part; this one goes deep
max-examples = 40
[checks]
enabled = true
positive_data_acceptance.enabled = false
"""

_REQUEST_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<target>\S+) HTTP/1\.[01]" (?P<status>\d{3})')


class _RequestLog(logging.Handler):
    """The local server's access log (``scanfleet.local.server`` at DEBUG), as (method,
    path, status) per answer."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.answers: list[tuple[str, str, int]] = []

    def emit(self, record: logging.LogRecord) -> None:
        found = _REQUEST_LINE.search(record.getMessage())
        if found:
            path = found["target"].split("?", 1)[0]
            self.answers.append((found["method"], path, int(found["status"])))


@pytest.fixture
def request_log() -> Iterator[_RequestLog]:
    logger = logging.getLogger("scanfleet.local.server")
    handler, level = _RequestLog(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, re.Pattern[str]]]:
    return [
        (method.upper(), path, re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"))
        for path, ops in doc["paths"].items()
        for method in ops
    ]


def _answers_by_operation(
    doc: dict[str, Any], answers: list[tuple[str, str, int]]
) -> dict[str, Counter[int]]:
    """Statuses per documented operation (``"GET /scans/{scan_id}"``); answers to a method
    a path does not have are counted under ``"other <METHOD>"``."""
    operations = _operations(doc)
    out: dict[str, Counter[int]] = defaultdict(Counter)
    for method, path, status in answers:
        label = next(
            (f"{m} {p}" for m, p, pattern in operations if m == method and pattern.match(path)),
            f"other {method}",
        )
        out[label][status] += 1
    return out


def _run_schemathesis(url: str, token: str, tmp_path: Path) -> tuple[dict[str, Any], str]:
    document = requests.get(f"{url}/openapi.json", headers={"Authorization": f"Bearer {token}"})
    document.raise_for_status()
    (tmp_path / "openapi.json").write_text(document.text)
    (tmp_path / "schemathesis.toml").write_text(CONFIG)
    report = tmp_path / "report.json"
    command = [
        *(sys.executable, "-m", "schemathesis.cli"),
        *("--config-file", str(tmp_path / "schemathesis.toml")),
        *("run", str(tmp_path / "openapi.json"), "--url", url),
        *("--workers", "1", "--no-color"),
        *("--report", "json", "--report-json-path", str(report)),
    ]
    env = {**os.environ, "SCANFLEET_TOKEN": token, "SCHEMATHESIS_HOOKS": str(HOOKS)}
    env.pop("HYPOTHESIS_PROFILE", None)
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=280, check=False
    )
    if not report.exists():
        pytest.fail(f"schemathesis wrote no report:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return json.loads(report.read_text()), done.stdout


def test_schemathesis_finds_no_server_error_and_no_answer_the_document_does_not_describe(
    local_api: Any, request_log: _RequestLog, tmp_path: Path
) -> None:
    started = time.monotonic()
    report, output = _run_schemathesis(local_api.url, local_api.tokens.default_token, tmp_path)
    elapsed = time.monotonic() - started
    doc = json.loads((tmp_path / "openapi.json").read_text())
    by_operation = _answers_by_operation(doc, request_log.answers)
    statuses = Counter(status for _, _, status in request_log.answers)
    succeeded = [op for op, got in by_operation.items() if any(200 <= s < 300 for s in got)]
    succeeded = [op for op in succeeded if not op.startswith("other")]
    failures = {f"{f['code']} {f['title']}": f["count"] for f in report["failures"]}
    stateful = re.search(
        r"Scenarios:\s+(\d+)\s+API Links:\s+(\d+) covered / \d+ selected / (\d+)", output
    )
    print(  # the figures of the run (pytest -s), for the record
        f"\nschemathesis: {report['operations']['tested']}/{report['operations']['total']}"
        f" operations, {report['test_cases']['generated']} test cases,"
        f" {len(request_log.answers)} requests, failures {failures or 'none'},"
        f" errors {len(report['errors'])}, {elapsed:.0f} s;"
        f" stateful: {stateful[1] if stateful else '?'} scenarios, links"
        f" {stateful[2] if stateful else '?'}/{stateful[3] if stateful else '?'} followed;"
        f" operations with a success {len(succeeded)};"
        f" answers by status {dict(sorted(statuses.items()))}"
    )
    tail = output[-6000:]
    assert report["failures"] == [], tail
    assert report["errors"] == [], tail
    assert report["stop_reason"] == "completed", tail
    assert report["operations"]["tested"] == report["operations"]["total"] == len(_operations(doc))
    server_errors = [answer for answer in request_log.answers if answer[2] >= 500]
    assert server_errors == []
    # every operation did its work at least once: a success, or the refusal of a state
    # (409, 410) that only an existing scan or trial of the caller can give; the stateful
    # phase got through the links from a new scan to a claimed trial
    table = "\n".join(f"{op}: {dict(sorted(by_operation[op].items()))}" for op in by_operation)
    worked = {op for op, got in by_operation.items() if any(_did_its_work(s) for s in got)}
    documented = {f"{method} {path}" for method, path, _ in _operations(doc)}
    # a checkpoint's location must lie inside <root>/<scan>/<trial>/, a value built from
    # ids the fuzzer cannot compose: its 400 is the containment rule at work, and its
    # successes are tested in test_checkpoint_locations.py
    assert sorted(documented - worked - NEEDS_A_CONTAINED_LOCATION) == [], table
    assert set(by_operation["POST /trials/{trial_id}/checkpoints"]) <= {400, 401, 404, 409, 415}
    assert (
        by_operation["POST /scans"][201] and by_operation["POST /scans/{scan_id}/trials/claim"][200]
    )


NEEDS_A_CONTAINED_LOCATION = {"POST /trials/{trial_id}/checkpoints"}


def _did_its_work(status: int) -> bool:
    return 200 <= status < 300 or status in (409, 410)


def test_answers_are_not_held_back_by_nagles_algorithm(local_api: Any) -> None:
    """Headers and body leave in two writes; with Nagle's algorithm on the server's socket
    the body waited for the client's delayed ACK: 40 ms more on every answer of a kept-alive
    connection (schemathesis' 1,200 requests took 65 s instead of 20 s)."""
    session = requests.Session()
    session.get(f"{local_api.url}/health").raise_for_status()  # the connection is open
    times = []
    for _ in range(15):
        started = time.perf_counter()
        session.get(f"{local_api.url}/health").raise_for_status()
        times.append(time.perf_counter() - started)
    assert statistics.median(times) < 0.030, times
