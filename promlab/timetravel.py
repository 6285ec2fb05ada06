"""Time travel: 30 days of synthetic history for one SLO, evaluated in seconds.

    with timetravel.TimeMachine(slo.load("api-availability")) as machine:
        view = machine.evaluate()       # error ratios, burn rates, alert state
        timetravel.figure(view)          # a plotly figure of all three

The history (good days, an idle stretch, a slow burn, a fast burn) is written
as OpenMetrics and turned into TSDB blocks with `promtool tsdb create-blocks-from
openmetrics`. A separate Prometheus, started on a free port just for it, loads
the blocks and answers range queries with the very expressions of the SLO's
recording rules and alerts, at production windows: real PromQL over real
blocks, not a re-implementation.

Why a separate Prometheus rather than the stack's: the stack's keeps 15 days
(its default retention), so the older half of the history would be deleted;
it would pick the blocks up only at its next block reload (about a minute);
and the synthetic series would mix with the live ones of the same names.
Recording rules only run forward in time, so over history the rule
expressions are queried directly; `for` is applied to the result here.
"""

import logging
import math
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import requests
from plotly.subplots import make_subplots

from promlab import binaries, ports, profiles, slo

log = logging.getLogger(__name__)

DAY = 86400
# Samples every minute, as a production scrape of 15s would after downsampling
# for a chart; a 5m window still holds five of them.
SAMPLE_SECONDS = 60
READY_TIMEOUT = 30


class TimeTravelError(RuntimeError):
    """The history could not be built, loaded or queried."""


@dataclass(frozen=True)
class Episode:
    """A stretch of history: from day `start` for `hours`, this share of requests fail."""

    name: str
    start: float
    hours: float
    error_ratio: float
    traffic: float = 1.0


def default_episodes(spec: slo.Spec) -> list[Episode]:
    """Return good days with an idle night, a slow burn and a fast burn.

    The slow burn fails 4x the budget for two days (a ticket, no page); the fast
    burn fails 40% of requests for an hour (a page).
    """
    return [
        Episode("idle night: no traffic at all", 5.0, 6, 0.0, traffic=0.0),
        Episode("slow burn: a bad release", 12.0, 48, 4 * spec.budget),
        Episode("fast burn: the database is down", 24.5, 1, 0.4),
    ]


@dataclass
class History:
    """Synthetic counters of one SLO: sample times and good and bad requests per sample."""

    spec: slo.Spec
    start: int
    end: int
    episodes: list[Episode] = field(default_factory=list)
    good: list[int] = field(default_factory=list)
    bad: list[int] = field(default_factory=list)

    @property
    def times(self) -> range:
        """Return the sample times (Unix seconds)."""
        return range(self.start, self.end + 1, SAMPLE_SECONDS)


def synthesize(
    spec: slo.Spec,
    days: int = 30,
    end: float | None = None,
    episodes: list[Episode] | None = None,
    rate: float = 20.0,
    baseline: float | None = None,
) -> History:
    """Return `days` of requests ending at `end` (default now): a daily cycle plus episodes.

    Args:
        rate: mean requests per second.
        baseline: share of requests failing outside episodes (default a tenth of
            the error budget: good days).
    """
    end_at = int((end or time.time()) // SAMPLE_SECONDS * SAMPLE_SECONDS)
    start = end_at - days * DAY
    episodes = default_episodes(spec) if episodes is None else episodes
    baseline = spec.budget / 10 if baseline is None else baseline
    history = History(spec, start, end_at, episodes)
    # Whole requests per sample: the fractions are carried so totals stay exact.
    carry_good = carry_bad = 0.0
    for t in history.times:
        day = (t - start) / DAY
        # Busy afternoons, quiet nights: 40% to 160% of the mean.
        load = 1 + 0.6 * math.sin(2 * math.pi * (day - 0.375))
        ratio = baseline
        for episode in episodes:
            if episode.start <= day < episode.start + episode.hours / 24:
                ratio = episode.error_ratio
                load *= episode.traffic
        requests_now = rate * load * SAMPLE_SECONDS
        carry_bad += requests_now * ratio
        carry_good += requests_now * (1 - ratio)
        history.bad.append(int(carry_bad))
        history.good.append(int(carry_good))
        carry_bad -= int(carry_bad)
        carry_good -= int(carry_good)
    return history


def openmetrics(history: History) -> str:
    """Return the history as OpenMetrics text: one counter per test_series of the spec."""
    if not history.spec.test_series:
        raise TimeTravelError(f"{history.spec.stem}: the spec has no test_series to synthesize")
    lines = []
    for series, kind in history.spec.test_series.items():
        total = 0
        for t, good, bad in zip(history.times, history.good, history.bad, strict=True):
            total += {"good": good, "bad": bad, "all": good + bad}[kind]
            lines.append(f"{series} {total} {t}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


class TimeMachine:
    """A private Prometheus over backfilled history; use it as a context manager.

    Args:
        spec: the SLO whose history to build and evaluate.
        history: the history (default `synthesize(spec)`: 30 days ending now).
        workdir: where the blocks and the Prometheus data go (default a temp folder,
            deleted on close).
    """

    def __init__(
        self, spec: slo.Spec, history: History | None = None, workdir: Path | None = None
    ) -> None:
        self.spec = spec
        self.history = history or synthesize(spec)
        self._own_dir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="promlab-timetravel-"))
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.seconds: dict[str, float] = {}

    def __enter__(self) -> "TimeMachine":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        """Return the private Prometheus's base URL."""
        return f"http://{ports.HOST}:{self.port}"

    def start(self) -> "TimeMachine":
        """Backfill the history into blocks and start a Prometheus on them."""
        began = time.perf_counter()
        data = self.workdir / "data"
        source = self.workdir / "history.om"
        source.write_text(openmetrics(self.history))
        # One block for the whole month instead of 360 two-hour ones.
        days = math.ceil((self.history.end - self.history.start) / DAY) + 1
        done = subprocess.run(
            [
                str(binaries.find_binary("promtool")),
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                "--quiet",
                f"--max-block-duration={days * 24}h",
                str(source),
                str(data),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise TimeTravelError(f"promtool could not backfill {source}: {done.stderr.strip()}")
        self.seconds["backfill"] = time.perf_counter() - began

        began = time.perf_counter()
        self.port = ports.free_port()
        config = self.workdir / "prometheus.yml"
        config.write_text("global:\n  evaluation_interval: 1m\n")
        self._log = (self.workdir / "prometheus.log").open("w")
        self.process = subprocess.Popen(
            [
                str(binaries.find_binary("prometheus")),
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                # Keep the whole history: the default 15d would delete half of it.
                "--storage.tsdb.retention.time=10y",
                f"--web.listen-address={ports.HOST}:{self.port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )
        self._wait_ready()
        self.seconds["start"] = time.perf_counter() - began
        log.info("time machine for %s ready on %s", self.spec.stem, self.url)
        return self

    def close(self) -> None:
        """Stop the private Prometheus and delete its folder (when it made it)."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
            self._log.close()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def query_range(self, expr: str, step: int) -> pd.Series:
        """Return one expression over the whole history, indexed by UTC time."""
        answer = requests.get(
            f"{self.url}/api/v1/query_range",
            params={
                "query": expr,
                "start": self.history.start,
                "end": self.history.end,
                "step": step,
            },
            timeout=120,
        )
        body = answer.json()
        if body.get("status") != "success":
            raise TimeTravelError(f"{expr!r}: {body.get('error', answer.text)}")
        result = body["data"]["result"]
        if not result:
            return pd.Series(dtype=float)
        values = result[0]["values"]
        index = pd.to_datetime([float(t) for t, _ in values], unit="s", utc=True)
        return pd.Series([float(v) for _, v in values], index=index)

    def evaluate(self, step: int = 600) -> "View":
        """Query error ratios, burn rates and alert conditions over the history.

        Args:
            step: seconds between evaluated points (600: 4,320 points for 30 days).
        """
        began = time.perf_counter()
        timing = slo.timing("production")
        ratios = {
            slo.format_duration(w): self.query_range(slo.error_ratio_expr(self.spec, w), step)
            for w in slo.windows(self.spec, timing)
            if w != self.spec.period
        }
        frame = pd.DataFrame(ratios)
        firing = {}
        for severity in ("critical", "warning"):
            condition = pd.Series(False, index=frame.index)
            for pair in (w for w in slo.BURN_WINDOWS if w.severity == severity):
                limit = slo.threshold(self.spec, pair.factor)
                long_ = frame[slo.format_duration(pair.long)] > limit
                short = frame[slo.format_duration(pair.short)] > limit
                condition |= long_ & short
            wait = profiles.parse_duration(slo.alert_for(timing, severity))
            firing[self.spec.alert_name(severity)] = _apply_for(condition, wait, step)
        budget = self._budget(step)
        self.seconds["evaluate"] = time.perf_counter() - began
        return View(self.spec, self.history, frame, pd.DataFrame(firing), budget)

    def _budget(self, step: int) -> pd.Series:
        # Requests and failures per step, summed from the start: the share of the
        # period's error budget spent so far.
        window = slo.format_duration(step)
        total = self.query_range(self.spec.total.replace("{window}", window), step)
        if self.spec.errors is not None:
            failed = self.query_range(self.spec.errors.replace("{window}", window), step)
        else:
            good = self.query_range(str(self.spec.good).replace("{window}", window), step)
            failed = total - good.reindex(total.index, fill_value=0)
        failed = failed.reindex(total.index, fill_value=0)
        allowed = total.cumsum() * self.spec.budget
        return (failed.cumsum() / allowed.where(allowed > 0)).fillna(0)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                log_tail = (self.workdir / "prometheus.log").read_text()[-800:]
                raise TimeTravelError(f"the time-travel Prometheus exited:\n{log_tail}")
            try:
                if requests.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise TimeTravelError(f"the time-travel Prometheus on {self.url} was not ready in time")


@dataclass
class View:
    """What time travel found: error ratios per window, alert state, budget spent."""

    spec: slo.Spec
    history: History
    ratios: pd.DataFrame
    firing: pd.DataFrame
    budget_spent: pd.Series

    def burn_rates(self) -> pd.DataFrame:
        """Return each window's error ratio divided by the error budget."""
        return self.ratios / self.spec.budget

    def incidents(self) -> pd.DataFrame:
        """Return one row per stretch an alert fired: alert, start, end, hours."""
        rows = []
        for alert, state in self.firing.items():
            edges = state.astype(int).diff().fillna(state.astype(int))
            starts = list(state.index[edges == 1])
            ends = list(state.index[edges == -1])
            for begin in starts:
                end = next((e for e in ends if e > begin), state.index[-1])
                hours = (end - begin).total_seconds() / 3600
                rows.append({"alert": alert, "start": begin, "end": end, "hours": hours})
        return pd.DataFrame(rows, columns=["alert", "start", "end", "hours"])


def _apply_for(condition: pd.Series, wait: float, step: int) -> pd.Series:
    # Firing once the condition held at every evaluation of the last `wait` seconds.
    needed = max(1, math.ceil(wait / step) + 1)
    return condition.astype(int).rolling(needed, min_periods=needed).min().fillna(0).astype(bool)


def figure(view: View) -> go.Figure:
    """Return a figure: error ratios, burn rates against thresholds, alerts, budget."""
    spec = view.spec
    fig = make_subplots(
        rows=4,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.04,
        row_heights=[0.3, 0.3, 0.15, 0.25],
        subplot_titles=(
            "error ratio per window",
            "burn rate (error ratio / budget) and thresholds",
            "alert firing",
            "error budget spent since the start of the period",
        ),
    )
    for window in view.ratios:
        fig.add_trace(
            go.Scatter(x=view.ratios.index, y=view.ratios[window], name=window, mode="lines"),
            row=1,
            col=1,
        )
    burn = view.burn_rates()
    for pair in slo.BURN_WINDOWS:
        long_ = slo.format_duration(pair.long)
        fig.add_trace(
            go.Scatter(
                x=burn.index, y=burn[long_], name=f"burn {long_}", mode="lines", showlegend=False
            ),
            row=2,
            col=1,
        )
        fig.add_hline(
            y=pair.factor,
            line_dash="dot",
            annotation_text=f"{pair.factor:g}x ({pair.severity})",
            row=2,
            col=1,
        )
    for alert in view.firing:
        fig.add_trace(
            go.Scatter(
                x=view.firing.index,
                y=view.firing[alert].astype(int),
                name=alert,
                mode="lines",
                line_shape="hv",
            ),
            row=3,
            col=1,
        )
    fig.add_trace(
        go.Scatter(
            x=view.budget_spent.index, y=view.budget_spent, name="budget spent", mode="lines"
        ),
        row=4,
        col=1,
    )
    fig.add_hline(y=1, line_dash="dot", annotation_text="budget gone", row=4, col=1)
    fig.update_yaxes(type="log", row=2, col=1)
    fig.update_layout(
        height=900,
        title=f"{spec.service} {spec.slo}: 30 days in seconds (objective {spec.objective:.4g})",
        margin={"l": 60, "r": 20, "t": 80, "b": 40},
    )
    return fig
