"""promlab.timetravel: 30 days of backfilled history, evaluated by a private Prometheus."""

import pandas as pd
import pytest

from promlab import slo, timetravel

DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def view():
    """Return the evaluated default history of api availability (about 3 s)."""
    spec = slo.load("api-availability")
    with timetravel.TimeMachine(spec) as machine:
        yield machine.evaluate()


def test_history_counts_every_request_once():
    spec = slo.load("api-availability")
    history = timetravel.synthesize(spec, days=2, end=1_800_000_000, rate=10)
    assert len(history.good) == len(history.times) == 2 * 1440 + 1
    mean = (sum(history.good) + sum(history.bad)) / (2 * timetravel.DAY)
    assert 9 < mean < 11


def test_openmetrics_holds_monotonic_counters_and_ends_with_eof():
    spec = slo.load("web-availability")
    history = timetravel.synthesize(spec, days=1, end=1_800_000_000)
    lines = timetravel.openmetrics(history).splitlines()
    assert lines[-1] == "# EOF"
    for series in spec.test_series:
        values = [int(line.split()[-2]) for line in lines if line.startswith(series + " ")]
        assert values == sorted(values)
        assert len(values) == len(history.times)


@pytest.mark.slow
def test_fast_burn_pages_once_and_only_during_the_outage(view):
    incidents = view.incidents()
    pages = incidents[incidents["alert"] == view.spec.alert_name("critical")]
    assert len(pages) == 1
    outage = next(e for e in timetravel.default_episodes(view.spec) if "fast" in e.name)
    began = view.ratios.index[0] + outage.start * DAY
    assert began <= pages["start"].iloc[0] <= began + pd.Timedelta(minutes=30)


@pytest.mark.slow
def test_slow_burn_opens_a_ticket_but_no_page(view):
    incidents = view.incidents()
    slow = next(e for e in timetravel.default_episodes(view.spec) if "slow" in e.name)
    began = view.ratios.index[0] + slow.start * DAY
    during = incidents[(incidents["start"] >= began) & (incidents["start"] < began + 2 * DAY)]
    assert list(during["alert"]) == [view.spec.alert_name("warning")]


@pytest.mark.slow
def test_idle_night_and_good_days_record_ratios_without_nan(view):
    assert not view.ratios.isna().any().any()
    idle = next(e for e in timetravel.default_episodes(view.spec) if "idle" in e.name)
    start = view.ratios.index[0] + idle.start * DAY
    night = view.ratios.loc[start + pd.Timedelta(hours=1) : start + pd.Timedelta(hours=5), "5m"]
    assert (night == 0).all()
    first_week = view.firing.loc[: view.firing.index[0] + 7 * DAY]
    assert not first_week.any().any()


@pytest.mark.slow
def test_figure_draws_ratios_burn_rates_alerts_and_budget(view):
    figure = timetravel.figure(view)
    names = {trace.name for trace in figure.data}
    assert {"5m", "1h", "3d", "budget spent", view.spec.alert_name("critical")} <= names
