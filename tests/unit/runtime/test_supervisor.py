"""One run of a script under the supervisor: real child processes, real signals."""

from __future__ import annotations

import json
import re
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from scanfleet.runtime.supervisor import RunFiles, Supervisor, on_stop_signals


def supervisor(tmp_path: Path, script: str, **options: Any) -> Supervisor:
    (tmp_path / "script.py").write_text(textwrap.dedent(script))
    files = RunFiles(tmp_path, tmp_path / "scratch", "t1", 1)
    env = {"RESULT": str(files.result_file), "REQUEST": str(files.request_file)}
    return Supervisor(
        [sys.executable, "script.py"],
        cwd=tmp_path,
        env=env,
        files=files,
        log_path=tmp_path / "t1.log",
        **options,
    )


def test_output_goes_to_the_log_and_the_last_regex_match_is_the_metric(tmp_path: Path) -> None:
    run = supervisor(
        tmp_path,
        """
        for i in range(30):
            print(f"step {i} loss={1 / (i + 1):.4f}")
        print("done")
        raise SystemExit(3)
        """,
        pattern=re.compile(r"loss=([0-9.]+)"),
    )
    run.start("=== attempt 1")
    finished = run.copy_output()
    assert finished.exit_code == 3
    assert finished.regex_value == pytest.approx(1 / 30, abs=1e-4)
    assert len(finished.log_tail) == 20 and finished.log_tail[-1] == "done"
    log = (tmp_path / "t1.log").read_text().splitlines()
    assert log[0].startswith("=== attempt 1: ") and log[0].endswith("script.py")
    assert len(log) == 32


def test_a_script_that_ignores_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    run = supervisor(
        tmp_path,
        """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ready", flush=True)
        time.sleep(60)
        """,
        grace_period=0.3,
    )
    run.start("===")
    assert run.child is not None and run.child.stdout is not None
    assert run.child.stdout.readline() == b"ready\n"  # its SIGTERM handler is in place
    began = time.monotonic()
    run.stop(deadline_s=5.0, reason="test")  # it never listened: no checkpoint is asked
    assert run.copy_output().exit_code == -9
    assert time.monotonic() - began < 3
    assert not run.files.request_file.exists()


def test_a_listening_script_is_asked_for_a_checkpoint_before_it_is_stopped(
    tmp_path: Path,
) -> None:
    run = supervisor(
        tmp_path,
        """
        import json, os, time
        result, request = os.environ["RESULT"], os.environ["REQUEST"]
        def write(**state):
            with open(result + ".tmp", "w") as f:
                json.dump(state, f)
            os.replace(result + ".tmp", result)
        write(listening=True)
        while not os.path.exists(request):
            time.sleep(0.01)
        asked = json.load(open(request))
        write(listening=True, answered_request=asked["id"], checkpoint_step=7,
              reason=asked["reason"])
        time.sleep(60)  # stopped by SIGTERM
        """,
        grace_period=5.0,
    )
    run.start("===")
    while not run.files.script_listens():
        time.sleep(0.01)
    stopper = threading.Thread(target=run.stop, args=(10.0, "worker stopped by SIGTERM"))
    stopper.start()
    assert run.copy_output().exit_code == -15
    stopper.join(5)
    reported = json.loads(run.files.result_file.read_text())
    assert reported["answered_request"] == 1 and reported["checkpoint_step"] == 7
    assert reported["reason"] == "worker stopped by SIGTERM"


def test_stopping_a_script_that_has_ended_does_nothing(tmp_path: Path) -> None:
    run = supervisor(tmp_path, "print('bye')")
    run.start("===")
    assert run.copy_output().exit_code == 0
    run.stop(deadline_s=1.0, reason="late")
    run.terminate()
    assert run.child is not None and run.child.returncode == 0


def test_stop_signals_are_only_taken_on_the_main_thread() -> None:
    heard: list[str] = []
    thread = threading.Thread(target=on_stop_signals, args=(heard.append,))
    thread.start()
    thread.join()
    assert heard == []  # no handler installed, and no error from signal.signal
