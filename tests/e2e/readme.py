"""What running a README takes: its ``bash`` and ``python`` blocks (with the
``<!-- readme-test: skip (why) -->`` marks the README itself carries), a fresh copy of
the checkout that reuses the checkout's virtual environment, and a terminal session —
one shell and one Python interpreter, as a person following the README has them."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = ("bash", "python")
SKIP = re.compile(r"<!--\s*readme-test:\s*skip\s*\((?P<why>.+)\)\s*-->")
DONE = "@@readme-test-done"


@dataclass(frozen=True)
class Block:
    """One fenced block: its language, its text, where it starts, and why it is skipped
    (None: it runs)."""

    language: str
    code: str
    line: int
    skip: str | None = None

    def where(self, readme: Path) -> str:
        return f"{readme.relative_to(ROOT)}:{self.line}"


def blocks(readme: Path) -> list[Block]:
    """The ``bash`` and ``python`` blocks of ``readme``, in order. A block whose previous
    non-blank line is ``<!-- readme-test: skip (why) -->`` carries ``why``."""
    found: list[Block] = []
    lines = readme.read_text().splitlines()
    previous = ""
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        if line.startswith("```") and line[3:].strip():
            end = next(i for i in range(index + 1, len(lines)) if lines[i].strip() == "```")
            if line[3:].strip() in LANGUAGES:
                mark = SKIP.fullmatch(previous)
                code = "\n".join(lines[index + 1 : end]) + "\n"
                why = mark.group("why") if mark else None
                found.append(Block(line[3:].strip(), code, index + 1, why))
            index, previous = end + 1, ""
            continue
        previous = line or previous
        index += 1
    return found


def fresh_checkout(destination: Path) -> Path:
    """The checkout's tracked files (as they are in the working tree) copied to
    ``destination``, with a ``.venv`` whose parts are links to the checkout's: nothing
    is installed again, and ``make`` finds it installed."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    venv = destination / ".venv"
    venv.mkdir()
    for entry in (ROOT / ".venv").iterdir():
        if not entry.name.startswith(".installed"):
            (venv / entry.name).symlink_to(entry)
    for marker in (".installed", ".installed-dev"):  # newer than the copied pyproject.toml
        (venv / marker).touch()
    return destination


_DRIVER = """
import json, os, sys, traceback
scope = {"__name__": "__main__"}
for request in sys.stdin:
    block = json.loads(request)
    os.environ.clear()
    os.environ.update(block["env"])
    os.chdir(block["cwd"])
    status = 0
    try:
        exec(compile(block["code"], block["name"], "exec"), scope)
    except BaseException:
        traceback.print_exc()
        status = 1
    sys.stdout.flush()
    print("%s", block["n"], status, flush=True)
"""


class _Output:
    """A child's output, line by line, read on a thread of its own (background jobs
    write to it too)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: IO[bytes]) -> None:
        for raw in stream:
            self.lines.put(raw.decode(errors="replace"))
        self.lines.put(None)

    def until_done(self, n: int, timeout: float) -> tuple[int | None, str]:
        """The output up to block ``n``'s end mark: (its status, the output); status None
        when the child ended or ``timeout`` passed first."""
        out: list[str] = []
        end = time.monotonic() + timeout
        while (left := end - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                return None, "".join(out) + "[the session ended]\n"
            if line.startswith(f"{DONE} {n} "):
                return int(line.split()[2]), "".join(out)
            out.append(line)
            self.seen.append(line)
        return None, "".join(out) + f"[no end within {timeout:.0f} s]\n"


class Session:
    """A terminal in ``root``: one bash (``set -e``: a failing command ends it; exports,
    ``cd`` and background jobs carry over from block to block) and one Python
    interpreter started on the first Python block, seeing the shell's environment."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = dict(env)
        self.cwd = str(root)
        self.state = root / ".readme-test"
        self.state.mkdir()
        self.shell = self._start(["bash", "--norc", "--noprofile"])
        self.shell_out = _Output(self.shell.stdout)  # type: ignore[arg-type]
        self.python: subprocess.Popen[bytes] | None = None
        self.python_out: _Output | None = None
        self.count = 0

    def _start(self, argv: list[str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            argv, cwd=self.cwd, env=self.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def run(self, block: Block, name: str, timeout: float) -> tuple[int | None, str]:
        """Run ``block``; its status (0: fine; None: ended or timed out) and output."""
        self.count += 1
        if block.language == "bash":
            return self._bash(block.code, timeout)
        return self._python(block.code, name, timeout)

    def _bash(self, code: str, timeout: float) -> tuple[int | None, str]:
        n = self.count
        script = self.state / f"{n}.sh"
        script.write_text(code)
        env_file, cwd_file = self.state / "env", self.state / "cwd"
        command = (
            f"set -eo pipefail; source {script} < /dev/null; set +eo pipefail; "
            f"env -0 > {env_file}; pwd > {cwd_file}; echo '{DONE} {n} 0'\n"
        )
        assert self.shell.stdin is not None
        self.shell.stdin.write(command.encode())
        self.shell.stdin.flush()
        status, out = self.shell_out.until_done(n, timeout)
        if status == 0:
            pairs = env_file.read_bytes().decode().split("\0")
            self.env = dict(p.split("=", 1) for p in pairs if "=" in p)
            self.cwd = cwd_file.read_text().strip()
        return status, out

    def _python(self, code: str, name: str, timeout: float) -> tuple[int | None, str]:
        if self.python is None:
            python = str(self.root / ".venv" / "bin" / "python")
            self.python = self._start([python, "-u", "-c", _DRIVER % DONE])
            self.python_out = _Output(self.python.stdout)  # type: ignore[arg-type]
        assert self.python.stdin is not None and self.python_out is not None
        request = {"code": code, "name": name, "env": self.env, "cwd": self.cwd, "n": self.count}
        self.python.stdin.write((json.dumps(request) + "\n").encode())
        self.python.stdin.flush()
        return self.python_out.until_done(self.count, timeout)

    def close(self) -> None:
        """End the shell, its background jobs (their process group) and the interpreter."""
        children = [child for child in (self.shell, self.python) if child is not None]
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for child in children:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, sig)
            for child in children:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(timeout=10)
            time.sleep(0.5 if sig == signal.SIGTERM else 0)
