"""Behaviour of promlab.charts: traces per label set, gaps, errors shown, clean stops."""

import threading
import time

import pandas as pd
import plotly.graph_objects as go
import pytest

from promlab import charts, panels, promql, traffic
from promlab.stack import Stack

RATE_BY_JOB = 'sum by (job) (rate(http_requests_total{job=~"web|api"}[1m]))'
TYPO = "sum(rate(http_requests_total[1m])"
IDLE_P95 = (
    "histogram_quantile(0.95, sum by (le) "
    '(rate(http_request_duration_seconds_bucket{job="web"}[1m]) * 0))'
)


class DownStack:
    """Look like a stack whose Prometheus does not answer."""

    def url(self, name: str) -> str:
        """Return a URL nothing listens on."""
        return "http://127.0.0.1:9"


def frame(rows: list[tuple[str, int, float]]) -> pd.DataFrame:
    """Build a range-query frame from (job, unix seconds, value) rows."""
    data = pd.DataFrame(rows, columns=["job", "timestamp", "value"])
    data["timestamp"] = pd.to_datetime(data["timestamp"], unit="s", utc=True)
    return data


@pytest.fixture
def scraped(stack: Stack) -> Stack:
    """Return the session stack once request rates of both tiers exist."""
    promql.wait_for(f"count({RATE_BY_JOB}) == 2", stack, timeout=60)
    return stack


def chart_threads() -> list[threading.Thread]:
    """Return the live chart refresh threads."""
    return [t for t in threading.enumerate() if t.name == "promlab-chart"]


def test_figure_widget_accepts_traces_and_updates_in_this_kernel() -> None:
    figure = go.FigureWidget()
    figure.add_scatter(x=[1, 2, 3], y=[1, None, 3])
    figure.data[0].y = [3, 2, 1]
    assert figure.data[0].y == (3, 2, 1)


def test_one_trace_per_label_set_named_by_the_labels_that_differ() -> None:
    data = frame([("web", 0, 1.0), ("api", 0, 2.0), ("web", 5, 1.5), ("api", 5, 2.5)])
    data["instance"] = "127.0.0.1:1"
    traces = charts.to_traces({"rate": data})
    assert [t.name for t in traces] == ["job=api", "job=web"]


def test_missing_samples_and_nan_become_gaps() -> None:
    data = frame([("web", 0, 1.0), ("web", 5, float("nan")), ("api", 10, 2.0), ("web", 30, 3.0)])
    web = next(t for t in charts.to_traces({"r": data}) if t.name == "job=web")
    assert web.y[0] == 1.0 and web.y[1] is None and web.y[-1] == 3.0
    assert None in web.y[2:-1]


def test_several_expressions_prefix_their_names() -> None:
    data = frame([("web", 0, 1.0), ("api", 0, 2.0)])
    names = [t.name for t in charts.to_traces({"a": data, "b": data}, prefix=True)]
    assert names == ["a: job=api", "a: job=web", "b: job=api", "b: job=web"]


def test_legend_template_names_each_series_by_its_labels() -> None:
    data = frame([("web", 0, 1.0), ("api", 0, 2.0)])
    data["route"] = "/items"
    traces = charts.to_traces({"{{job}} {{ route }}": data, "other": data}, prefix=True)
    assert [t.name for t in traces] == [
        "api /items",
        "web /items",
        "other: job=api",
        "other: job=web",
    ]


def test_empty_results_give_no_traces() -> None:
    empty = pd.DataFrame({"timestamp": pd.Series(dtype="datetime64[ns, UTC]"), "value": []})
    assert charts.to_traces({"x": empty}) == []


def test_unreachable_prometheus_shows_in_the_widget_and_prints_nothing(capfd) -> None:
    chart = charts.live("up", DownStack(), period=0.2)
    time.sleep(0.5)
    chart.stop()
    assert "did not answer" in chart.status.value
    assert capfd.readouterr() == ("", "")


@pytest.mark.stack
def test_static_figure_has_a_trace_per_tier(scraped: Stack) -> None:
    traffic.burst(scraped, requests_total=20)
    figure = charts.static(RATE_BY_JOB, scraped, window="2m")
    assert type(figure) is go.Figure
    assert sorted(t.name for t in figure.data) == ["job=api", "job=web"]


@pytest.mark.stack
def test_static_figure_raises_prometheus_error_for_a_typo(stack: Stack) -> None:
    with pytest.raises(promql.PromQLError, match="parse error"):
        charts.static(TYPO, stack)


@pytest.mark.stack
def test_idle_quantile_is_drawn_as_a_gap(scraped: Stack) -> None:
    figure = charts.static(IDLE_P95, scraped, window="1m")
    assert len(figure.data) == 1 and all(y is None for y in figure.data[0].y)


@pytest.mark.stack
def test_typo_shows_prometheus_error_and_the_next_expression_works(scraped: Stack) -> None:
    broken = charts.live(TYPO, scraped, period=60)
    try:
        assert "parse error" in broken.status.value and "parse error" in broken.error
        assert len(broken.figure.data) == 0
        broken.set_exprs(RATE_BY_JOB)
        assert broken.error is None and len(broken.figure.data) == 2
    finally:
        broken.stop()
    fixed = charts.live(RATE_BY_JOB, scraped, period=60)
    fixed.stop()
    assert fixed.error is None and len(fixed.figure.data) == 2


@pytest.mark.stack
def test_live_chart_redraws_then_stops_and_joins(stack: Stack) -> None:
    chart = charts.live(RATE_BY_JOB, stack, period=0.2)
    time.sleep(0.7)
    chart.stop()
    done = chart.refreshes
    time.sleep(0.4)
    assert done >= 3 and chart.refreshes == done
    assert not chart_threads()


@pytest.mark.stack
def test_closing_the_widget_stops_the_chart(stack: Stack) -> None:
    chart = charts.live(RATE_BY_JOB, stack, period=0.2)
    chart.widget.close()
    deadline = time.monotonic() + 5
    while chart.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not chart.running


@pytest.mark.stack
def test_stop_all_stops_every_live_chart(stack: Stack) -> None:
    first = charts.live(RATE_BY_JOB, stack, period=0.5)
    second = charts.live("up", stack, period=0.5)
    assert charts.stop_all() == 2
    assert not first.running and not second.running and not chart_threads()


@pytest.mark.stack
def test_dashboard_view_charts_every_panel_of_the_file(scraped: Stack) -> None:
    traffic.burst(scraped, requests_total=20)
    view = charts.dashboard("promlab-web", scraped, period=60)
    view.stop()
    titles = [panel.title for panel in panels.dashboard("promlab-web").panels]
    assert [chart.figure.layout.title.text for chart in view.charts] == titles
    assert view.errors == {}
    routes = {trace.name for trace in view.charts[0].figure.data}
    assert "/" in routes and not chart_threads()


def test_unknown_dashboard_lists_the_known_ones() -> None:
    with pytest.raises(KeyError, match="promlab-api"):
        charts.dashboard("promlab-cache", DownStack())
