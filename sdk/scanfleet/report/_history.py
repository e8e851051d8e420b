"""The report's optimisation history: every finished trial by number, coloured by how it
ended in Optuna dashboard's colours (completed blue, pruned orange, failed red), the best
value so far as a line, and a menu to pick any metric the trials reported.

Optuna's own ``plot_optimization_history`` draws completed trials only; a failed trial has
no value, so it is drawn as a red × at the worst value shown, its reason in the hover."""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING, Any

from scanfleet.client import names_for, reason_line
from scanfleet.records import TrialRecord, TrialState

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from scanfleet.report._data import ScanResults

# Optuna dashboard's convention: Complete blue, Pruned orange, Fail red
STATE_COLORS = {
    TrialState.COMPLETED: "#1f77b4",
    TrialState.PRUNED: "#ff7f0e",
    TrialState.FAILED: "#d62728",
}
BEST_COLOR = "#2ca02c"  # the best value so far
HISTORY_NOTE = (
    "completed: blue, pruned: orange (their last value), failed: red × at the worst value"
    " shown (they have none; hover for the reason); the green line is the best so far"
)


def history_metrics(results: ScanResults) -> list[str]:
    """The metrics the history can show: the scan's objectives first, then every other
    metric a trial carries (``val_acc`` given to ``complete`` or reported)."""
    return names_for(results.scan.config, results.trials)[1]


def history_figure(results: ScanResults) -> go.Figure:
    """The history of the first metric, with a menu to show any other one instead."""
    import plotly.graph_objects as go

    goals = {m.name: m.goal.value for m in results.config.objectives()}
    metrics = history_metrics(results)
    figure = go.Figure()
    spans = []
    for i, metric in enumerate(metrics):
        traces = _traces(results.trials, metric, goals.get(metric))
        for trace in traces:
            trace.visible = i == 0
            figure.add_trace(trace)
        spans.append(len(traces))
    figure.update_layout(
        xaxis_title="trial", yaxis_title=metrics[0], legend={"orientation": "h", "y": -0.2}
    )
    if len(metrics) > 1:
        buttons = []
        for i, metric in enumerate(metrics):
            visible = [j == i for j, n in enumerate(spans) for _ in range(n)]
            buttons.append(
                {
                    "label": metric,
                    "method": "update",
                    "args": [{"visible": visible}, {"yaxis.title.text": metric}],
                }
            )
        figure.update_layout(
            updatemenus=[
                {"buttons": buttons, "direction": "down", "x": 0, "xanchor": "left", "y": 1.2}
            ]
        )
    return figure


def _traces(trials: list[TrialRecord], metric: str, goal: str | None) -> list[go.Scatter]:
    """One metric's traces: a marker set per state, and the best so far (objectives)."""
    import plotly.graph_objects as go

    valued = [(t, _finite(t.values.get(metric))) for t in trials]
    shown = [v for _, v in valued if v is not None]
    worst = (min(shown) if goal == "maximize" else max(shown)) if shown else 0.0
    traces = []
    for state in (TrialState.COMPLETED, TrialState.PRUNED):
        points = [(t, v) for t, v in valued if t.state is state and v is not None]
        traces.append(_markers(state, metric, points, "circle"))
    failed = [(t, worst) for t in trials if t.state is TrialState.FAILED]
    traces.append(_markers(TrialState.FAILED, metric, failed, "x"))
    if goal is not None:
        completed = [(t, v) for t, v in valued if t.state is TrialState.COMPLETED and v is not None]
        best: list[float] = []
        for _, value in completed:
            better = max if goal == "maximize" else min
            best.append(better(best[-1], value) if best else value)
        traces.append(
            go.Scatter(
                x=[t.number for t, _ in completed],
                y=best,
                mode="lines",
                name=f"best {metric}",
                line={"color": BEST_COLOR},
            )
        )
    return traces


def _markers(
    state: TrialState, metric: str, points: list[tuple[TrialRecord, float]], symbol: str
) -> go.Scatter:
    import plotly.graph_objects as go

    return go.Scatter(
        x=[t.number for t, _ in points],
        y=[v for _, v in points],
        mode="markers",
        name=f"{state.value.lower()} ({len(points)})",
        marker={"color": STATE_COLORS[state], "symbol": symbol, "size": 8},
        text=[_hover(t, metric) for t, _ in points],
        hoverinfo="text",
    )


def _hover(trial: TrialRecord, metric: str) -> str:
    if trial.state is TrialState.FAILED:
        reason = html.escape(reason_line(trial.failure_reason) or "-")
        return f"trial {trial.number} failed: {reason}"
    value = trial.values.get(metric)
    return f"trial {trial.number} {trial.state.value.lower()}: {metric}={value:.6g}"


def _finite(value: Any) -> float | None:
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None
