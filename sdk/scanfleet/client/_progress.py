"""The one-line progress of ``Scan.wait(progress=True)`` on stderr.

With rich installed and a terminal: a live line. Otherwise plain text: rewritten in place
(``\\r``) on a terminal, one line per change when stderr is a file or a pipe (CI logs).
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any, TextIO


class ProgressLine:
    def __init__(self, stream: TextIO | None = None, *, use_rich: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._tty = tty
        self._live: Any = None
        self._last = ""
        if use_rich is None:
            use_rich = tty
        if use_rich:
            self._live = _rich_live(self.stream)

    def update(self, line: str) -> None:
        if line == self._last:
            return
        if self._live is not None:
            from rich.text import Text

            self._live.update(Text(line), refresh=True)
        elif self._tty:
            pad = " " * max(0, len(self._last) - len(line))
            self.stream.write("\r" + line + pad)
            self.stream.flush()
        else:
            self.stream.write(line + "\n")
            self.stream.flush()
        self._last = line

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        elif self._tty and self._last:
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> ProgressLine:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _rich_live(stream: TextIO) -> Any:
    """A started ``rich.live.Live`` on ``stream``, or None without rich."""
    try:
        from rich.console import Console
        from rich.live import Live
    except ImportError:
        return None
    live = Live(
        console=Console(file=stream, force_terminal=True),
        auto_refresh=False,
        transient=False,
    )
    live.start()
    return live
