"""Looking at a scan: the HTML report, the Optuna journal export (for optuna-dashboard),
the live terminal view of ``scanfleet scans watch`` and the live optuna-dashboard of
``scanfleet dashboard`` (``ScanStorage``: a read-only Optuna storage over the API).

Needs the ``server`` extra (optuna, plotly, rich); importing this package imports none of
them until a function that needs one runs.
"""

from typing import TYPE_CHECKING, Any

from scanfleet.report._dashboard_server import (
    DashboardDependencyError,
    DashboardServer,
    dashboard_server,
)
from scanfleet.report._data import ScanResults
from scanfleet.report._html import ReportDependencyError, render_report, write_report
from scanfleet.report._journal import study_name, write_journal
from scanfleet.report._watch import ScanWatcher, WatchView, render_frame, watch

if TYPE_CHECKING:
    from scanfleet.report._dashboard import ReadOnlyStorageError, ScanStorage

__all__ = [
    "DashboardDependencyError",
    "DashboardServer",
    "ReadOnlyStorageError",
    "ReportDependencyError",
    "ScanResults",
    "ScanStorage",
    "ScanWatcher",
    "WatchView",
    "dashboard_server",
    "render_frame",
    "render_report",
    "study_name",
    "watch",
    "write_journal",
    "write_report",
]


def __getattr__(name: str) -> Any:
    """``ScanStorage`` and ``ReadOnlyStorageError`` subclass Optuna's classes: optuna is
    imported when they are first asked for."""
    if name in ("ScanStorage", "ReadOnlyStorageError"):
        from scanfleet.report import _dashboard

        return getattr(_dashboard, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
