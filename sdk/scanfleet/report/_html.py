"""The HTML report of a scan: Optuna's plotly figures over the rebuilt study and a sortable
trial table, in one file that opens offline (plotly.js is inlined once)."""

from __future__ import annotations

import html
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scanfleet.client import REASON_COLUMN, names_for, reason_line, row_columns, trial_row
from scanfleet.display import format_params, format_value
from scanfleet.records import TrialRecord, TrialState
from scanfleet.report._data import ScanResults
from scanfleet.report._history import HISTORY_NOTE, STATE_COLORS, history_figure

if TYPE_CHECKING:
    import optuna
    import plotly.graph_objects as go

MAX_CURVES = 300  # past this the learning curves shown are the best and the last pruned
MAX_TABLE_ROWS = 5000  # past this the table shows the best ones; the CSV export has them all
PRUNED_COLOR = STATE_COLORS[TrialState.PRUNED]  # Optuna dashboard's: pruned orange
FAILED_COLOR = STATE_COLORS[TrialState.FAILED]  # failed red


class ReportDependencyError(ImportError):
    def __init__(self) -> None:
        super().__init__(
            "the HTML report needs plotly, which is not installed: pip install 'scanfleet[server]'"
        )


@dataclass
class Section:
    title: str
    figure: go.Figure | None = None
    note: str = ""  # why there is no figure, or what to read in it


def write_report(results: ScanResults, path: str | Path) -> Path:
    """Render the report of ``results`` to ``path`` (one self-contained HTML file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render_report(results), encoding="utf-8")
    tmp.replace(path)
    return path


def render_report(results: ScanResults) -> str:
    try:
        import plotly.offline
    except ImportError:
        raise ReportDependencyError() from None
    sections = figure_sections(results)
    body = "\n".join(_section_html(s) for s in sections)
    return _PAGE.format(
        title=html.escape(f"{results.scan.name} ({results.scan.scan_id}) — scanfleet report"),
        plotly_js=plotly.offline.get_plotlyjs().replace("</script", "<\\/script"),
        header=_header_html(results),
        sections=body,
        table=_table_html(results),
        pruned=PRUNED_COLOR,
        failed=FAILED_COLOR,
    )


def figure_sections(results: ScanResults) -> list[Section]:
    """Every plot of the report, in order; a plot that cannot be drawn (too few trials,
    one value only) is a note saying why."""
    study = results.study()
    names = results.metric_names()
    several = len(study.directions) > 1
    first = names[0]
    target: Callable[[optuna.trial.FrozenTrial], float] | None = (
        (lambda t: t.values[0]) if several else None
    )
    finished = sum(t.state is TrialState.COMPLETED for t in results.trials)

    def plot(title: str, make: Callable[[], go.Figure], needs: int = 1) -> Section:
        if finished < needs:
            return Section(title, note=f"needs {needs} completed trial(s); {finished} so far")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return Section(title, make())
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:
            return Section(title, note=f"not drawn: {exc}")

    from optuna import visualization as vis
    from optuna.importance import PedAnovaImportanceEvaluator

    sections = []
    if several:
        sections.append(
            plot("Pareto front", lambda: vis.plot_pareto_front(study, target_names=names))
        )
    sections += [
        _history_section(results),
        plot(
            "Parallel coordinates",
            lambda: vis.plot_parallel_coordinate(study, target=target, target_name=first),
        ),
        plot(
            "Parameter importances",
            lambda: vis.plot_param_importances(
                study, PedAnovaImportanceEvaluator(), target=target, target_name=first
            ),
            needs=2,
        ),
        plot("Slices", lambda: vis.plot_slice(study, target=target, target_name=first)),
        _curves_section(results, study),
    ]
    return sections


def _history_section(results: ScanResults) -> Section:
    """Every finished trial (completed, pruned and failed, each in its colour) and a menu
    of every metric the trials carry (``_history``)."""
    title = "Optimisation history"
    ended = sum(t.state.is_finished() for t in results.trials)
    if not ended:
        return Section(title, note="needs 1 finished trial(s); 0 so far")
    return Section(title, history_figure(results), note=HISTORY_NOTE)


def _curves_section(results: ScanResults, study: optuna.Study) -> Section:
    title = f"Intermediate values ({results.curve_metric})"
    if not results.curves:
        metric = results.curve_metric or "the scan's metric"
        return Section(title, note=f"no trial reported intermediate values of {metric}")
    from optuna.visualization import plot_intermediate_values

    shown = curves_shown(results)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        figure = plot_intermediate_values(study if shown is results else shown.study())
    mark_pruned(figure, shown)
    figure.update_layout(showlegend=len(figure.data) <= 30)
    note = "pruned trials: orange, dotted, × at the step they stopped"
    drawn = sum(1 for t in results.trials if t.trial_id in results.curves)
    if len(shown.trials) < drawn:
        note += f"; the {len(shown.trials)} best and last pruned curves of {drawn}"
    return Section(title, figure, note=note)


def curves_shown(results: ScanResults) -> ScanResults:
    """The trials whose curves are drawn: all of them up to MAX_CURVES, else the best half
    of the unpruned ones (by their last value) and the last pruned ones (thousands of
    lines are both unreadable and slow to draw)."""
    with_curves = [t for t in results.trials if results.curves.get(t.trial_id)]
    if len(with_curves) <= MAX_CURVES:
        return results
    maximize = results.config.metric.goal.value == "maximize"

    def last_value(trial: TrialRecord) -> float:
        curve = results.curves[trial.trial_id]
        return -curve[max(curve)] if maximize else curve[max(curve)]

    pruned = [t for t in with_curves if t.state is TrialState.PRUNED]
    others = sorted((t for t in with_curves if t.state is not TrialState.PRUNED), key=last_value)
    keep_pruned = pruned[-(MAX_CURVES // 2) :] if pruned else []
    kept = others[: MAX_CURVES - len(keep_pruned)] + keep_pruned
    return replace(results, trials=sorted(kept, key=lambda t: t.number))


def mark_pruned(figure: go.Figure, results: ScanResults) -> int:
    """Restyle the curves of pruned trials (Optuna names each curve ``Trial<number>``,
    numbered as ``results.trials``); returns how many were marked."""
    pruned = {f"Trial{i}" for i, t in enumerate(results.trials) if t.state is TrialState.PRUNED}
    marked = 0
    for trace in figure.data:
        if trace.name in pruned:
            sizes = [0] * (len(trace.x) - 1) + [12]
            trace.update(
                name=f"{trace.name} (pruned)",
                line={"color": PRUNED_COLOR, "dash": "dot"},
                mode="lines+markers",
                marker={"symbol": "x", "size": sizes, "color": PRUNED_COLOR},
            )
            marked += 1
    return marked


# ---- HTML pieces -------------------------------------------------------------------------


def _section_html(section: Section) -> str:
    slug = section.title.lower().split(" (")[0].replace(" ", "-")
    inner = ""
    if section.figure is not None:
        inner = section.figure.to_html(
            full_html=False, include_plotlyjs=False, config={"responsive": True}
        )
    note = f'<p class="note">{html.escape(section.note)}</p>' if section.note else ""
    return f'<section id="{slug}"><h2>{html.escape(section.title)}</h2>{note}{inner}</section>'


def _header_html(results: ScanResults) -> str:
    scan, config = results.scan, results.config
    counts = results.counts()
    count_text = ", ".join(f"{n} {s.value.lower()}" for s, n in counts.items() if n)
    best = _best(results)
    best_text = "none yet"
    if best is not None:
        value = best.values.get(config.metric.name)
        best_text = (
            f"trial {best.number}: {config.metric.name}={format_value(value)}"
            f" {format_params(best.params)}"
        )
    facts = [
        ("scan", f"{scan.name} ({scan.scan_id})"),
        ("status", scan.status.value + (f" — {scan.status_reason}" if scan.status_reason else "")),
        ("strategy", config.strategy.value),
        ("objective", ", ".join(f"{m.name} ({m.goal.value})" for m in config.objectives())),
        ("trials", f"{len(results.trials)}: {count_text or 'none'}"),
        ("best", best_text),
        ("generated", time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())),
    ]
    rows = "".join(f"<tr><th>{k}</th><td>{html.escape(v)}</td></tr>" for k, v in facts)
    return f'<table class="facts">{rows}</table>'


def _best(results: ScanResults) -> TrialRecord | None:
    config = results.config
    metric, maximize = config.metric.name, config.metric.goal.value == "maximize"
    done = [
        t for t in results.trials if t.state is TrialState.COMPLETED and t.value(metric) is not None
    ]
    if not done:
        return None
    return (max if maximize else min)(done, key=lambda t: t.value(metric) or 0.0)


def _table_html(results: ScanResults) -> str:
    params, metrics = names_for(results.scan.config, results.trials)
    columns = row_columns(params, metrics)
    trials = results.trials
    note = ""
    if len(trials) > MAX_TABLE_ROWS:
        metric = results.config.metric.name
        sign = -1 if results.config.metric.goal.value == "maximize" else 1
        ranked = sorted(
            trials, key=lambda t: (t.value(metric) is None, sign * (t.value(metric) or 0.0))
        )
        trials = sorted(ranked[:MAX_TABLE_ROWS], key=lambda t: t.number)
        note = (
            f'<p class="note">the {MAX_TABLE_ROWS} best of {len(results.trials)} trials;'
            " `scanfleet scans export` writes them all</p>"
        )
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for trial in trials:
        row = trial_row(trial, params, metrics)
        cells = "".join(_cell_html(c, row[c]) for c in columns)
        body.append(f'<tr class="state-{trial.state.value.lower()}">{cells}</tr>')
    return (
        f'<section id="trials"><h2>Trials</h2>{note}<p class="note">click a column to sort</p>'
        f'<table id="trial-table" class="trials"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></section>"
    )


def _cell_html(column: str, value: Any) -> str:
    """A table cell; a failure reason shows on one line, in full when hovered."""
    if column == REASON_COLUMN and value:
        full = html.escape(str(value), quote=True)
        return f'<td class="reason" title="{full}">{html.escape(reason_line(value))}</td>'
    return f"<td>{_cell(value)}</td>"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return format_value(value)
    return html.escape(str(value))


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{title}</title>
<script>
window.reportErrors = [];
window.addEventListener("error", function (e) {{
  window.reportErrors.push(String(e.message || e));
  var box = document.getElementById("report-errors");
  if (box) {{ box.textContent = window.reportErrors.join("\\n"); }}
}});
</script>
<script>{plotly_js}</script>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }}
h1 {{ font-size: 1.4em; }} h2 {{ font-size: 1.15em; margin-top: 2em; }}
.note {{ color: #666; font-size: 0.9em; }}
table.facts th {{ text-align: left; padding-right: 1em; }}
table.trials {{ border-collapse: collapse; font-size: 0.85em; }}
table.trials th, table.trials td {{ border: 1px solid #ddd; padding: 2px 6px; }}
table.trials th {{ cursor: pointer; background: #f4f4f4; position: sticky; top: 0; }}
tr.state-pruned td {{ color: {pruned}; }} tr.state-failed td {{ color: {failed}; }}
td.reason {{ max-width: 40em; }}
#report-errors {{ color: #b00; }}
</style></head>
<body>
<h1>{title}</h1>
{header}
<pre id="report-errors"></pre>
{sections}
{table}
<div id="report-status" data-state="loading" data-plots="0"></div>
<script>
(function () {{
  var table = document.getElementById("trial-table");
  var heads = table.tHead.rows[0].cells;
  for (var i = 0; i < heads.length; i++) {{
    heads[i].addEventListener("click", sortBy.bind(null, i));
  }}
  function sortBy(col) {{
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var down = table.getAttribute("data-sort") === String(col);
    rows.sort(function (a, b) {{
      var x = a.cells[col].textContent, y = b.cells[col].textContent;
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      if (x === "" && y !== "") {{ return 1; }}
      if (y === "" && x !== "") {{ return -1; }}
      return down ? -c : c;
    }});
    table.setAttribute("data-sort", down ? "" : String(col));
    rows.forEach(function (r) {{ body.appendChild(r); }});
  }}
}})();
window.addEventListener("load", function () {{
  var status = document.getElementById("report-status");
  status.setAttribute("data-plots", String(document.querySelectorAll(".main-svg").length));
  status.setAttribute("data-errors", String(window.reportErrors.length));
  status.setAttribute("data-state", "loaded");
}});
</script>
</body></html>
"""
