"""Behaviour of promlab.promql: typed results, steps within limits, Prometheus's errors."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from promlab import promql, traffic
from promlab.stack import Stack

IDLE_P95 = (
    "histogram_quantile(0.95, sum by (le) "
    '(rate(http_request_duration_seconds_bucket{job="web"}[1m]) * 0))'
)


def test_step_keeps_a_month_at_one_second_under_the_point_limit() -> None:
    end = datetime(2026, 1, 31, tzinfo=UTC)
    step = promql.choose_step(end - timedelta(days=30), end, 1)
    assert 30 * 86400 / step <= promql.MAX_POINTS


def test_default_step_gives_about_240_points() -> None:
    end = datetime(2026, 1, 1, tzinfo=UTC)
    step = promql.choose_step(end - timedelta(hours=1), end)
    assert 200 <= 3600 / step <= promql.DEFAULT_POINTS


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("5m", 300), ("2h", 7200), (15, 15)])
def test_durations_are_read_in_prometheus_units(text, seconds) -> None:
    assert promql.parse_seconds(text) == seconds


def test_unreadable_duration_names_the_accepted_forms() -> None:
    with pytest.raises(ValueError, match="'5m'"):
        promql.parse_seconds("five minutes")


def test_times_come_back_timezone_aware_in_utc() -> None:
    naive = datetime(2026, 5, 1, 12, 0)
    assert promql.to_datetime(naive).tzinfo == UTC
    assert promql.to_datetime(naive) == naive.astimezone(UTC)
    end = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert promql.to_datetime("15m", relative_to=end) == end - timedelta(minutes=15)


def test_prometheus_error_text_is_taken_from_the_client_exception() -> None:
    raw = 'HTTP Status Code 400 (b\'{"status":"error","errorType":"bad_data","error":"1:5: x"}\')'
    assert promql._prometheus_message(raw) == "bad_data: 1:5: x"


@pytest.mark.stack
def test_unknown_metric_gives_empty_typed_frames(stack: Stack) -> None:
    instant = promql.query("promlab_no_such_metric", stack)
    ranged = promql.query_range("rate(promlab_no_such_metric[1m])", stack, start="2m")
    assert instant.empty and list(instant.columns) == ["value"]
    assert ranged.empty and list(ranged.columns) == ["timestamp", "value"]
    assert str(ranged["timestamp"].dtype) == "datetime64[ns, UTC]"


@pytest.mark.stack
def test_rate_expression_returns_numbers_after_traffic(stack: Stack) -> None:
    traffic.burst(stack, requests_total=40)
    expr = 'sum(rate(http_requests_total{job="web"}[1m])) > 0'
    promql.wait_for(expr, stack, timeout=30)
    frame = promql.query_range(expr, stack, start="1m")
    assert frame["value"].dtype == float and frame["value"].max() > 0
    assert frame["timestamp"].dt.tz is not None


@pytest.mark.stack
def test_scalar_and_string_results_are_one_row(stack: Stack) -> None:
    assert list(promql.query("scalar(vector(2))", stack)["value"]) == [2.0]
    assert list(promql.query('"ok"', stack)["value"]) == ["ok"]


@pytest.mark.stack
def test_bad_promql_raises_with_prometheus_message(stack: Stack) -> None:
    with pytest.raises(promql.PromQLError, match="parse error") as caught:
        promql.query_range("rate(http_requests_total[1m]", stack)
    assert caught.value.prometheus_message.startswith("bad_data")


@pytest.mark.stack
def test_quantile_of_an_idle_histogram_stays_nan(stack: Stack) -> None:
    instant = promql.query(IDLE_P95, stack)
    ranged = promql.query_range(IDLE_P95, stack, start="1m")
    assert instant["value"].isna().all()
    assert len(ranged) > 0 and ranged["value"].isna().all()


@pytest.mark.stack
def test_too_fine_a_step_is_widened_not_refused(stack: Stack) -> None:
    # vector(1) has a value at every step, even before the stack existed.
    frame = promql.query_range("vector(1)", stack, start="2d", step=1)
    assert promql.MAX_POINTS - 10 <= len(frame) <= promql.MAX_POINTS + 1


@pytest.mark.stack
def test_alerts_frame_has_its_columns_even_when_nothing_fires(stack: Stack) -> None:
    frame = promql.alerts(stack)
    assert {"alertname", "state", "severity", "active_at"} <= set(frame.columns)
    assert isinstance(frame, pd.DataFrame)


@pytest.mark.stack
def test_waiting_for_a_series_that_never_comes_times_out(stack: Stack) -> None:
    with pytest.raises(TimeoutError, match="promlab_no_such_metric"):
        promql.wait_for("promlab_no_such_metric", stack, timeout=2)


@pytest.mark.stack
def test_metric_names_of_a_job_leave_out_prometheus_own_series(stack: Stack) -> None:
    names = promql.metric_names("web", stack)
    assert "http_requests_total" in names
    assert not {"up", "ALERTS", "ALERTS_FOR_STATE"} & set(names)
    assert not any(":" in n or n.startswith("scrape_") for n in names)
