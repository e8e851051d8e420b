"""Looking at a scan: the HTML report, the Optuna journal export (for optuna-dashboard)
and the live terminal view of ``scanfleet scans watch``.

Needs the ``server`` extra (optuna, plotly, rich); importing this package imports none of
them until a function that needs one runs.
"""

from scanfleet.report._data import ScanResults
from scanfleet.report._html import ReportDependencyError, render_report, write_report
from scanfleet.report._journal import study_name, write_journal
from scanfleet.report._watch import ScanWatcher, WatchView, render_frame, watch

__all__ = [
    "ReportDependencyError",
    "ScanResults",
    "ScanWatcher",
    "WatchView",
    "render_frame",
    "render_report",
    "study_name",
    "watch",
    "write_journal",
    "write_report",
]
