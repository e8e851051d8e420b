"""What a trial pays in imports before its first line of work, and what a cold API
Lambda pays: ``python -X importtime`` of each path, by module group, beside a bare
``python -c pass`` (issue 15).

    .venv/bin/python bench/import_time.py [--runs 7] [--sdk PATH]

Rows:
- trial path: ``import scanfleet`` + ``current_trial()`` + ``report`` + ``save_checkpoint``
  + ``complete`` under a worker's environment (calls answered by a stub server on
  loopback, so the import cost alone is compared; target: <= 60 ms over Python start-up);
- full client: ``from scanfleet.client import Client`` (the typed SDK, for reference);
- API Lambda: ``import lambdas.api`` (cold start; target <= 300 ms, and no optuna on
  paths other than the claim).

``importtime`` figures are the self time of each module, summed per group (the first
dotted name; scanfleet by its second); each figure is the lowest of ``--runs`` runs
(wall times too): on a shared, loaded machine the lowest is the least disturbed.
``--sdk`` measures another checkout's sdk (``PYTHONPATH``).
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TRIAL = """
import scanfleet
trial = scanfleet.current_trial()
trial.report("loss", 1.0, 1)
trial.save_checkpoint(1)
trial.complete(0.5)
"""
CLIENT = "from scanfleet.client import Client"
LAMBDA = "import lambdas.api"
HEAVY = ("pydantic", "boto3", "botocore", "optuna")


class _Stub(http.server.BaseHTTPRequestHandler):
    """Answers every call as the API would answer a trial's calls."""

    def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        answer: dict[str, object] = {"step": 1, "prune": False, "reason": "kept"}
        if not self.path.endswith("/reports"):  # a trial record, as the API answers
            answer = {"scan_id": "s", "trial_id": "s-1", "number": 0, "params": {"x": 1},
                      "state": "COMPLETED", "attempt": 1, "values": {"loss": 0.5}}  # fmt: skip
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


Sample = tuple[dict[str, float], set[str], float, float]


def import_times(code: str, env: dict[str, str]) -> Sample:
    """Self ms per module group, the modules imported, the wall ms and the CPU ms (user +
    system, of the child: less disturbed by other processes than wall time) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    wall = (time.perf_counter() - start) * 1e3
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1e3
    groups: dict[str, float] = defaultdict(float)
    modules: set[str] = set()
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, self_us, _, name = (part.strip() for part in line.replace("|", ":", 2).split(":", 3))
        name = name.strip()
        modules.add(name)
        groups[_group(name)] += int(self_us) / 1e3
    return dict(groups), modules, wall, cpu


PYDANTIC_DEPS = ("pydantic_core", "typing_extensions", "annotated_types", "typing_inspection")


def _group(module: str) -> str:
    parts = module.split(".")
    if parts[0] in PYDANTIC_DEPS:
        return "pydantic"
    if parts[0] == "scanfleet" and len(parts) > 1:
        return f"scanfleet.{parts[1]}"
    return parts[0] if parts[0] in HEAVY or parts[0] in ("scanfleet", "lambdas") else "stdlib+other"


def measure(code: str, env: dict[str, str], runs: int) -> Sample:
    samples = [import_times(code, env) for _ in range(runs)]
    names = {g for s in samples for g in s[0]}
    lowest = min(samples, key=lambda s: sum(s[0].values()))
    walls, cpus = min(s[2] for s in samples), min(s[3] for s in samples)
    return {g: lowest[0].get(g, 0.0) for g in names}, lowest[1], walls, cpus


def print_path(title: str, sample: Sample, bare: Sample) -> None:
    groups, modules, wall, cpu = sample
    total, bare_total = sum(groups.values()), sum(bare[0].values())
    heavy = sorted({m.split(".")[0] for m in modules if m.split(".")[0] in HEAVY})
    print(f"\n{title}")
    print(f"  {'module group':<28}{'self ms':>9}")
    for group, ms in sorted(groups.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {group:<28}{ms:>9.1f}")
    print(f"  {'total importtime':<28}{total:>9.1f}   bare python -c pass: {bare_total:.1f}")
    print(f"  {'added to start-up':<28}{total - bare_total:>9.1f}   (importtime, lowest run)")
    print(f"  {'modules imported':<28}{len(modules):>9}   bare: {len(bare[1])}")
    print(
        f"  {'CPU, whole process':<28}{cpu:>9.1f}   bare: {bare[3]:.1f}; added {cpu - bare[3]:.1f}"
    )
    print(
        f"  {'wall, whole process':<28}{wall:>9.1f}   bare: {bare[2]:.1f};"
        f" added {wall - bare[2]:.1f}"
    )
    print(f"  heavy packages loaded: {', '.join(heavy) or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--sdk", default=str(ROOT / "sdk"), help="the sdk folder to measure")
    args = parser.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SCANFLEET_", "PYTHON"))}
        env["PYTHONPATH"] = os.pathsep.join([args.sdk, str(ROOT)])
        trial_env = {
            **env,
            "SCANFLEET_API_URL": f"http://127.0.0.1:{server.server_address[1]}",
            "SCANFLEET_TOKEN": "t",
            "SCANFLEET_TRIAL_ID": "s-1",
            "SCANFLEET_PARAMS": '{"x": 1}',
            "SCANFLEET_CHECKPOINT_DIR": str(Path(tmp) / "work"),
            "SCANFLEET_CHECKPOINT_URL": str(Path(tmp) / "checkpoints"),
        }
        lambda_env = {**env, "SCANFLEET_TABLE_NAME": "bench", "SCANFLEET_BUCKET_NAME": "bench",
                      "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                      "AWS_SECRET_ACCESS_KEY": "testing"}  # fmt: skip
        bare = measure("pass", env, args.runs)
        print(f"sdk: {args.sdk}; lowest of {args.runs} runs; Python {sys.version.split()[0]}")
        for title, code, run_env in (
            ("trial path (current_trial, report, save_checkpoint, complete)", TRIAL, trial_env),
            ("full client (from scanfleet.client import Client)", CLIENT, env),
            ("API Lambda cold import (import lambdas.api)", LAMBDA, lambda_env),
        ):
            try:
                sample = measure(code, run_env, args.runs)
            except subprocess.CalledProcessError as exc:
                print(f"\n{title}: failed: {exc.stderr.strip().splitlines()[-1:]}")
                continue
            print_path(title, sample, bare)
    server.shutdown()


if __name__ == "__main__":
    main()
