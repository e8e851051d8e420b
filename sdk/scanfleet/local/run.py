"""``scanfleet local run``: the API on loopback over SQLite, N worker processes, live
progress, and a results folder. Running it again resumes the scan."""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scanfleet import names
from scanfleet.config import check_command_script, load_config, local_inputs
from scanfleet.local.auth import TokenStore, owner_id
from scanfleet.local.failure_notes import FailureNotes
from scanfleet.local.results import ResultsWriter, results_folder
from scanfleet.local.server import LocalServer, open_local_service
from scanfleet.local.state_dir import prepare_state_dir
from scanfleet.records import ScanStatus, TrialState
from scanfleet.report import ScanResults
from scanfleet.runtime.slots import gpu_devices, partition
from scanfleet.service import TAG_REUSED_FROM, ScanService, ScanSummary

RUNNING = frozenset({TrialState.RUNNING})
STOP_GRACE_S = 15.0  # SIGTERM to SIGKILL, when the run stops


@dataclass
class RunOptions:
    config_path: Path
    workers: int = 4
    state_dir: Path = Path(".scanfleet")
    out_dir: Path = Path("scanfleet-results")
    name: str | None = None
    refresh_s: float = 0.5
    gpus: str | None = None  # the GPUs to share among the workers: a count or device ids
    progress: bool | None = None  # None: a live bar on a terminal, plain lines otherwise


def default_scan_name(config_path: Path) -> str:
    """The config's folder (``examples/pbt/scan.yaml`` → ``pbt``); a config with another
    file name adds its stem (``examples/reuse/wider.yaml`` → ``reuse-wider``), so each
    config of a folder makes its own scan and results folder."""
    path = config_path.resolve()
    return path.parent.name if path.stem == "scan" else f"{path.parent.name}-{path.stem}"


def worker_gpus(
    spec: str | None, workers: int, per_trial: int, env: Mapping[str, str]
) -> list[str | None]:
    """The ``--gpus`` of each worker: the GPUs of ``spec`` split into slots of
    ``per_trial`` devices (``runtime.slots``), dealt out to at most ``workers`` workers;
    each worker runs one trial per slot it holds. A CPU-only scan gets ``workers``
    workers that hide the GPUs from their trials. Without ``spec``: ``workers`` workers
    with the environment's GPUs.

    Raises:
        SlotError: ``spec`` is malformed or holds fewer GPUs than one trial needs.
    """
    if spec is None:
        return [None] * workers
    devices = gpu_devices(spec, env)
    if per_trial == 0:
        return [",".join(devices)] * workers
    slots = partition(devices, per_trial)
    count = min(workers, len(slots))
    return [",".join(d for slot in slots[i::count] for d in slot) for i in range(count)]


def run_token(config_path: Path, name: str, text: str) -> str:
    """The same config file, name and content resume the same scan."""
    key = f"{config_path.resolve()}\n{name}\n{text}"
    return "local-run-" + hashlib.sha256(key.encode()).hexdigest()[:24]


class LocalRun:
    def __init__(self, options: RunOptions) -> None:
        self.options = options
        self.stop_signal: int | None = None
        self.workers: list[subprocess.Popen[bytes]] = []

    def run(self) -> int:
        opts = self.options
        text = opts.config_path.read_text()
        config = load_config(opts.config_path)
        check_command_script(config)  # the workers run it in the config's folder
        config, script_content = local_inputs(config)
        name = opts.name or default_scan_name(opts.config_path)
        gpus = worker_gpus(opts.gpus, opts.workers, config.resources.gpus, os.environ)
        prepare_state_dir(opts.state_dir)
        service = open_local_service(opts.state_dir)
        tokens = TokenStore(opts.state_dir)
        owner_token = tokens.default_token
        owner = owner_id(owner_token)
        # an edited script is a new scan: the stored copy is what a scan runs
        token = run_token(opts.config_path, name, text + (script_content or ""))
        scan, created = service.create_scan(
            name, config, owner=owner, client_token=token, script_content=script_content
        )
        out, moved = results_folder(opts.out_dir, name, scan.scan_id)
        results = ResultsWriter(out, config, scan.scan_id)
        if created and moved:
            print(
                f"the config changed since the last run of {name}; created a new scan"
                f" {scan.scan_id} (results in {out})",
                flush=True,
            )
        else:
            print(
                f"scan {scan.scan_id} ({name}): {'created' if created else 'resumed'};"
                f" results in {out}",
                flush=True,
            )
        self._requeue_orphans(service, scan.scan_id, owner)
        self._install_signal_handlers()
        failures = FailureNotes(out / "logs", service.list_trials(scan.scan_id, owner=owner))
        with LocalServer(service, tokens) as server:
            if not service.get_scan(scan.scan_id, owner=owner).status.is_finished():
                self._start_workers(server.url, owner_token, scan.scan_id, out, gpus)
            code = self._watch(service, scan.scan_id, owner, results, failures)
            self._stop_workers()
        summary = service.summarize(scan.scan_id, owner=owner)
        trials = service.list_trials(scan.scan_id, owner=owner)
        results.append(trials)
        for line in failures.new_lines(trials):
            print(line, file=sys.stderr, flush=True)
        results.write_best(
            summary.scan.model_dump(mode="json"),
            summary.best_trial,
            best_trials=summary.best_trials,
            seeds=summary.seeds,
        )
        reused = sum(1 for t in trials if TAG_REUSED_FROM in t.tags)
        print(_final_line(summary, config.metric.name, out, reused), flush=True)
        failed = failures.summary(trials)
        if failed:
            print(failed, flush=True)
        scan_results = ScanResults.from_service(service, scan.scan_id, owner=owner)
        print(results.write_report(scan_results), flush=True)
        counts = summary.counts
        if code == 0 and counts[TrialState.FAILED] and not counts[TrialState.COMPLETED]:
            return 1  # every trial that ended failed: nothing to use, say so to a script
        return code

    # ---- pieces ----------------------------------------------------------------------

    def _requeue_orphans(self, service: ScanService, scan_id: str, owner: str) -> None:
        """Trials RUNNING in this state dir when the run starts belong to workers of a run
        that died: put them back in the queue (a preemption, not the script's fault)."""
        for trial in service.list_trials(scan_id, owner=owner, states=RUNNING):
            with contextlib.suppress(Exception):
                service.fail(
                    trial.trial_id,
                    "local run restarted",
                    owner=owner,
                    attempt=trial.attempt,
                    preempted=True,
                )

    def _start_workers(
        self, url: str, token: str, scan_id: str, out: Path, gpus: list[str | None]
    ) -> None:
        opts = self.options
        env = dict(os.environ)
        env.update({names.ENV_API_URL: url, names.ENV_TOKEN: token})
        env[names.ENV_STATE_DIR] = str(opts.state_dir.resolve())  # checkpoints live there
        # on Ctrl-C a worker asks its script for a checkpoint; it must finish inside our grace
        env.setdefault(names.ENV_CHECKPOINT_DEADLINE, str(STOP_GRACE_S - 5))
        workdir = opts.config_path.resolve().parent
        for i, devices in enumerate(gpus):
            argv = [
                sys.executable, "-m", "scanfleet.cli", "worker",
                "--scan", scan_id,
                "--logs", str((out / "logs").resolve()),
                "--workdir", str(workdir),
                "--worker-id", f"local-{os.getpid()}-{i}",
            ]  # fmt: skip
            if devices is not None:
                argv += ["--gpus", devices]
            self.workers.append(
                subprocess.Popen(
                    argv,
                    env=env,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                    stdout=subprocess.DEVNULL,
                    stderr=(out / f"worker-{i}.log").open("ab"),
                )
            )

    def _watch(
        self,
        service: ScanService,
        scan_id: str,
        owner: str,
        results: ResultsWriter,
        failures: FailureNotes,
    ) -> int:
        display = _Display(self.options.progress)
        try:
            while True:
                summary = service.summarize(scan_id, owner=owner)
                trials = service.list_trials(scan_id, owner=owner)
                results.append(trials)
                for line in failures.new_lines(trials):
                    print(line, file=sys.stderr, flush=True)
                display.update(summary)
                if summary.scan.status.is_finished():
                    return 0 if summary.scan.status is ScanStatus.COMPLETED else 1
                if self.stop_signal is not None:
                    return 128 + self.stop_signal
                if self.workers and all(w.poll() is not None for w in self.workers):
                    logs = results.folder / "worker-*.log"
                    print(
                        "\nall workers exited before the scan finished: "
                        + (failures.last_words() or "see their logs")
                        + f"\nthe workers' logs: {logs}",
                        file=sys.stderr,
                    )
                    return 1
                time.sleep(self.options.refresh_s)
        finally:
            display.close()

    def _stop_workers(self, grace_s: float = STOP_GRACE_S) -> None:
        for w in self.workers:
            if w.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    w.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for w in self.workers:
            try:
                w.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                w.kill()

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def on_signal(signum: int, frame: Any) -> None:
            self.stop_signal = signum

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)


def _die_with_parent() -> None:
    from scanfleet.runtime.supervisor import die_with_parent as die

    die()


def _final_line(summary: ScanSummary, metric: str, out: Path, reused: int = 0) -> str:
    c = summary.counts
    best = summary.best_trial
    best_text = "no best"
    if best is not None:
        params = " ".join(
            f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in best.params.items()
        )
        best_text = f"best {metric}={best.values.get(metric, math.nan):.6g} at {params}"
    if len(summary.best_trials) > 1:
        best_text += f"; Pareto front of {len(summary.best_trials)} trials in best.json"
    if summary.seeds is not None:
        best_text += "\nseeds: " + "; ".join(summary.seeds.lines())
    return (
        f"\n{summary.scan.status.value}"
        f"{' (' + summary.scan.status_reason + ')' if summary.scan.status_reason else ''}:"
        f" {c[TrialState.COMPLETED]} completed, {c[TrialState.PRUNED]} pruned,"
        f" {c[TrialState.FAILED]} failed"
        f"{f' ({reused} reused from earlier scans, not run)' if reused else ''};"
        f" {best_text}\nresults: {out}/trials.csv, {out}/best.json"
    )


class _Display:
    """A rich progress bar on a terminal; a plain line on each change otherwise."""

    def __init__(self, live: bool | None) -> None:
        self.live = sys.stdout.isatty() if live is None else live
        self._last = ""
        self._progress: Any = None
        self._task: Any = None
        if self.live:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
            )
            self._progress.start()
            self._task = self._progress.add_task("scan", total=None, detail="")

    def update(self, summary: ScanSummary) -> None:
        c = summary.counts
        finished = c[TrialState.COMPLETED] + c[TrialState.PRUNED] + c[TrialState.FAILED]
        metric = str(summary.scan.config["metric"]["name"])
        best = summary.best_trial
        best_text = f"best {metric}={best.values.get(metric):.6g}" if best else ""
        detail = (
            f"done {c[TrialState.COMPLETED]}  running {c[TrialState.RUNNING]}"
            f"  pruned {c[TrialState.PRUNED]}  failed {c[TrialState.FAILED]}  {best_text}"
        )
        total = summary.planned_trials
        if self._progress is not None:
            self._progress.update(
                self._task,
                description=summary.scan.name,
                completed=finished,
                total=total,
                detail=detail,
            )
        elif detail != self._last:
            print(f"[{finished}/{total}] {detail}", flush=True)
            self._last = detail

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
