"""Charts of PromQL expressions: live plotly FigureWidgets and static figures.

    chart = charts.live({"web": 'sum(rate(http_requests_total{job="web"}[1m]))'})
    chart          # shows the figure; it redraws every `period` seconds
    chart.stop()

One trace per label set and expression, named by the labels that tell the series
apart. Missing samples and NaN (histogram_quantile with no traffic) are drawn as
gaps. A bad expression shows Prometheus's message under the figure; the others keep
drawing. The refresh thread only changes widget state, never prints, and stops when
the widget is closed.
"""

import logging
import re
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from html import escape
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from promlab import panels, promql
from promlab.stack import Stack

log = logging.getLogger(__name__)

Exprs = str | Sequence[str] | Mapping[str, str]
# Longest legend entry before it is shortened; plotly gives the legend no wrap.
LEGEND_WIDTH = 60
HEIGHT = 320
# A Grafana-style legend template: "{{route}}" becomes the series' route label.
TEMPLATE = re.compile(r"\{\{\s*(\w+)\s*\}\}")

_live: "weakref.WeakSet[LiveChart]" = weakref.WeakSet()


@dataclass(frozen=True)
class Trace:
    """One line to draw: its legend name and points (None for a gap)."""

    name: str
    x: list[datetime]
    y: list[float | None]


def name_exprs(exprs: Exprs) -> dict[str, str]:
    """Return {legend name: expression}; a bare expression names itself.

    A name may be a legend template such as "{{route}}": each series is then named
    by its own labels, as in Grafana.
    """
    if isinstance(exprs, str):
        return {exprs: exprs}
    if isinstance(exprs, Mapping):
        return dict(exprs)
    return {expr: expr for expr in exprs}


def fetch(
    exprs: Mapping[str, str],
    stack: Stack | None,
    window: float | str,
    step: float | str | None = None,
) -> tuple[list[Trace], dict[str, str]]:
    """Query each expression over the last `window`; return traces and errors by name."""
    seconds = promql.parse_seconds(window)
    frames: dict[str, pd.DataFrame] = {}
    errors: dict[str, str] = {}
    for name, expr in exprs.items():
        try:
            frames[name] = promql.query_range(
                expr, stack, start=timedelta(seconds=seconds), step=step
            )
        except promql.PromQLError as error:
            errors[name] = error.prometheus_message
        except promql.PrometheusUnavailableError as error:
            errors[name] = str(error)
    return to_traces(frames, len(exprs) > 1), errors


def to_traces(frames: Mapping[str, pd.DataFrame], prefix: bool = False) -> list[Trace]:
    """Turn range-query frames into traces on one shared time grid, gaps as None.

    Args:
        frames: {expression name: a frame from `promql.query_range`}.
        prefix: start each legend with the expression name (for several expressions).
    """
    stamps = sorted({ts for frame in frames.values() for ts in frame["timestamp"]})
    if not stamps:
        return []
    grid = pd.DatetimeIndex(stamps)
    # A stretch longer than 1.5 steps with no sample anywhere is a gap, not a line.
    step = pd.Series(grid).diff().min() if len(grid) > 1 else pd.Timedelta(seconds=1)
    breaks = grid[:-1][np.diff(grid.asi8) > 1.5 * step.value] + step
    grid = grid.append(pd.DatetimeIndex(breaks)).sort_values()
    local = grid.tz_convert(datetime.now().astimezone().tzinfo).tz_localize(None)
    x = list(local.to_pydatetime())
    traces = []
    for name, frame in frames.items():
        labels = [c for c in frame.columns if c not in ("timestamp", "value", "__name__")]
        if frame.empty:
            continue
        groups = frame.groupby(labels, dropna=False, sort=True) if labels else [((), frame)]
        varying = [c for c in labels if frame[c].nunique(dropna=False) > 1]
        for key, series in groups:
            values = dict(zip(labels, key if isinstance(key, tuple) else (key,), strict=True))
            label = ", ".join(f"{k}={values[k]}" for k in varying)
            legend = label or name
            if TEMPLATE.search(name):
                legend = TEMPLATE.sub(partial(_label, values), name)
            elif prefix and label:
                legend = f"{name}: {label}"
            y = series.set_index("timestamp")["value"].reindex(grid)
            points = [None if pd.isna(v) else float(v) for v in y]
            traces.append(Trace(_shorten(legend), x, points))
    return traces


def static(
    exprs: Exprs,
    stack: Stack | None = None,
    window: float | str = "5m",
    step: float | str | None = None,
    title: str | None = None,
    yaxis: str | None = None,
) -> go.Figure:
    """Return a plain plotly Figure of `exprs` over the last `window` (for tests, documents).

    Raises:
        PromQLError: an expression is not valid PromQL (the first one's message).
    """
    named = name_exprs(exprs)
    traces, errors = fetch(named, stack, window, step)
    if errors:
        name, message = next(iter(errors.items()))
        raise promql.PromQLError(named[name], message)
    figure = go.Figure(layout=_layout(title or _title(named), yaxis))
    figure.add_traces([_scatter(trace) for trace in traces])
    return figure


class LiveChart:
    """A FigureWidget that redraws PromQL expressions every `period` seconds.

    Display it as the last line of a cell. `stop()` ends the refreshes; closing the
    widget does too. Bad expressions show Prometheus's message under the figure.

    Args:
        exprs: an expression, a list, or {legend name: expression}.
        stack: the stack whose Prometheus answers (default `Stack()`).
        window: how far back to draw, seconds or "5m".
        period: seconds between redraws.
        step: seconds between points (default: about 240 points per window).
        title, yaxis: figure and y-axis titles.
    """

    def __init__(
        self,
        exprs: Exprs,
        stack: Stack | None = None,
        window: float | str = "5m",
        period: float = 5.0,
        step: float | str | None = None,
        title: str | None = None,
        yaxis: str | None = None,
    ) -> None:
        self.stack = stack or Stack()
        self.exprs = name_exprs(exprs)
        self.window = window
        self.period = period
        self.step = step
        self.errors: dict[str, str] = {}
        self.refreshes = 0
        self._title = title
        self.figure = go.FigureWidget(layout=_layout(title or _title(self.exprs), yaxis))
        self.status = widgets.HTML()
        self.widget = widgets.VBox([self.figure, self.status])
        self.widget.observe(self._on_close, names="comm")
        self.figure.observe(self._on_close, names="comm")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._draw = threading.Lock()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"LiveChart({list(self.exprs)}, {state}, {self.refreshes} refreshes)"

    @property
    def running(self) -> bool:
        """Return True while the refresh thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def error(self) -> str | None:
        """Return the errors of the last refresh as one text, or None."""
        if not self.errors:
            return None
        return "\n".join(f"{name}: {message}" for name, message in self.errors.items())

    def set_exprs(self, exprs: Exprs) -> None:
        """Draw other expressions from the next refresh on (a refresh follows at once)."""
        self.exprs = name_exprs(exprs)
        if not self._title:
            self.figure.layout.title.text = _title(self.exprs)
        self.refresh()

    def start(self) -> "LiveChart":
        """Draw once now, then keep redrawing in a background thread."""
        if self.running:
            return self
        self.refresh()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="promlab-chart", daemon=True)
        _live.add(self)
        self._thread.start()
        return self

    def stop(self, timeout: float = 20) -> None:
        """Stop redrawing and wait for a refresh in progress to finish."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        _live.discard(self)

    def refresh(self) -> float:
        """Query every expression and redraw; return the seconds it took."""
        began = time.perf_counter()
        traces, self.errors = fetch(self.exprs, self.stack, self.window, self.step)
        with self._draw:
            self._redraw(traces)
        self.refreshes += 1
        self.status.value = self._status_html(traces)
        return time.perf_counter() - began

    def _redraw(self, traces: list[Trace]) -> None:
        names = [trace.name for trace in traces]
        if [t.name for t in self.figure.data] != names:
            self.figure.data = ()
            self.figure.add_traces([_scatter(trace) for trace in traces])
            return
        with self.figure.batch_update():
            for shown, trace in zip(self.figure.data, traces, strict=True):
                shown.x, shown.y = trace.x, trace.y

    def _status_html(self, traces: list[Trace]) -> str:
        stamp = time.strftime("%H:%M:%S")
        lines = [
            f"<b>{escape(name)}</b>: Prometheus says: <code>{escape(message)}</code>"
            for name, message in self.errors.items()
        ]
        if lines:
            return "<div style='color:#b00020'>" + "<br>".join(lines) + "</div>"
        if not traces or all(v is None for t in traces for v in t.y):
            return f"<small>{stamp}: no data yet (no traffic, or the series does not exist)</small>"
        return f"<small>{stamp}: {len(traces)} series</small>"

    def _loop(self) -> None:
        while not self._stop.wait(self.period):
            if self.widget.comm is None or self.figure.comm is None:
                break
            try:
                self.refresh()
            except Exception as error:
                # Never raise or print from here: show it in the widget instead.
                log.debug("chart refresh failed", exc_info=True)
                self.status.value = (
                    f"<div style='color:#b00020'>refresh failed: "
                    f"{escape(type(error).__name__)}: {escape(str(error))}</div>"
                )
        _live.discard(self)

    def _on_close(self, change: dict) -> None:
        if change["new"] is None:
            self._stop.set()


def live(exprs: Exprs, stack: Stack | None = None, **options: Any) -> LiveChart:
    """Return a started `LiveChart` of `exprs` (options as for `LiveChart`)."""
    return LiveChart(exprs, stack, **options).start()


class DashboardView:
    """Live charts of every panel of one dashboard in configs/panels.yml.

    The same queries Grafana's generated dashboard shows, drawn in the notebook.
    Display it as the last line of a cell; `stop()` ends every chart's refreshes.
    """

    def __init__(self, board: panels.Dashboard, stack: Stack | None, **options: Any) -> None:
        self.board = board
        self.charts = [
            LiveChart(
                {query.legend or panel.title: query.expr for query in panel.queries},
                stack,
                title=panel.title,
                yaxis=panel.unit,
                **options,
            )
            for panel in board.panels
        ]
        heading = widgets.HTML(f"<h3>{escape(board.title)}</h3>")
        self.widget = widgets.VBox([heading, *(chart.widget for chart in self.charts)])

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return f"DashboardView({self.board.uid!r}, {len(self.charts)} charts)"

    @property
    def errors(self) -> dict[str, str]:
        """Return {panel title: Prometheus's message} for panels whose query failed."""
        return {chart._title or "": chart.error for chart in self.charts if chart.error}

    def start(self) -> "DashboardView":
        """Start every chart."""
        for chart in self.charts:
            chart.start()
        return self

    def stop(self) -> None:
        """Stop every chart."""
        for chart in self.charts:
            chart.stop()


def dashboard(uid: str, stack: Stack | None = None, **options: Any) -> DashboardView:
    """Return the started live view of dashboard `uid` from configs/panels.yml.

    Options are as for `LiveChart` (window, period, step).

    Raises:
        KeyError: no such dashboard; the message lists the known ones.
    """
    return DashboardView(panels.dashboard(uid), stack, **options).start()


def stop_all() -> int:
    """Stop every live chart of this process; return how many were running."""
    charts = [chart for chart in list(_live) if chart.running]
    for chart in charts:
        chart.stop()
    return len(charts)


def _scatter(trace: Trace) -> go.Scatter:
    # connectgaps=False: a None is drawn as a break in the line.
    return go.Scatter(x=trace.x, y=trace.y, name=trace.name, mode="lines", connectgaps=False)


def _layout(title: str, yaxis: str | None) -> go.Layout:
    return go.Layout(
        title={"text": escape(title)},
        height=HEIGHT,
        margin={"l": 50, "r": 20, "t": 40, "b": 40},
        xaxis={"title": {"text": "time (local)"}},
        yaxis={"title": {"text": yaxis or ""}, "rangemode": "tozero"},
        legend={"orientation": "h", "y": -0.25},
    )


def _title(exprs: Mapping[str, str]) -> str:
    return _shorten(", ".join(exprs), 90)


def _label(values: Mapping[str, Any], match: re.Match) -> str:
    return str(values.get(match.group(1), ""))


def _shorten(text: str, width: int = LEGEND_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
