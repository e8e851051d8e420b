"""The one-line progress of Scan.wait(progress=True)."""

from __future__ import annotations

import io

from scanfleet.client._progress import ProgressLine


def test_plain_text_prints_a_line_per_change_when_not_a_terminal() -> None:
    out = io.StringIO()
    with ProgressLine(out) as line:
        line.update("done 1/9")
        line.update("done 1/9")
        line.update("done 2/9")
    assert out.getvalue() == "done 1/9\ndone 2/9\n"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_text_rewrites_the_line_on_a_terminal() -> None:
    out = Terminal()
    with ProgressLine(out, use_rich=False) as line:
        line.update("done 10/90")
        line.update("done 9/9")
    assert out.getvalue() == "\rdone 10/90\rdone 9/9  \n"


def test_rich_shows_the_line_when_asked() -> None:
    out = io.StringIO()
    with ProgressLine(out, use_rich=True) as line:
        line.update("scan sc1 done 3/9")
    assert "scan sc1 done 3/9" in out.getvalue()
