"""Service level objectives: a spec turned into SLI recording rules and burn-rate alerts.

    spec = slo.load("api-availability")        # configs/slo/api-availability.yml
    files = slo.generate(spec, "classroom")    # {file name: YAML text}

A spec names a service, an SLI (errors/total or good/total PromQL with a
`{window}` placeholder), an objective (0.995) and a period (30d). From it come:

- recording rules `slo:sli_error:ratio_rate<window>{service, slo}`: the share of
  requests that failed the SLI, for every window the alerts need and the period;
- two alerts in the style of the SRE workbook's multi-window, multi-burn-rate
  alerting (chapter 5, "Alerting on SLOs"):
  `<Service><Slo>FastBurn` (severity critical, a page) when 14.4 times the
  sustainable error rate is burnt over 1h and over 5m, or 6 times over 6h and 30m;
  `<Service><Slo>SlowBurn` (severity warning, a ticket) when 3 times over 1d and
  2h, or once over 3d and 6h. The long window says the burn matters, the short one
  that it is still going on, so the alert resolves minutes after the fix.
- promtool unit tests that fire each alert and show it silent.

No traffic is not an error. A ratio errors/total is 0/0 = NaN when nothing was
requested, and NaN spreads into every burn rate and period average computed from
it. Here a window without requests records 0 (nothing failed), and a service
whose counters do not exist at all records nothing (the absent-job alerts cover
that); a unit test shows both.

Profiles: "production" uses the windows above. "classroom" compresses time by
`CLASSROOM_TIME_SCALE` (5): an hour becomes 12 minutes, the 5m window 1m, 30 days
6 days, so a full outage pages within one to two and a half minutes. 1m is four
scrapes of the production profile's 15s (field case C08), so the shipped classroom
files also load under the slower scrape. A stack started with
profile="production" runs the production windows: `profiles.render_rules`
generates the slo-* files again from configs/slo for that profile.

How two well-known generators differ (both follow the same workbook):
- Sloth records `slo:sli_error:ratio_rate<window>` per window from the SLI with a
  `{{.window}}` placeholder, as here, but its period ratio is the average of the
  5m ratios over the period, which weighs a quiet night like a busy day; this
  module rates the counters over the whole period instead. Sloth emits one page
  and one ticket alert, each an `or` of two window pairs, as here, and divides
  without a no-traffic guard, so an idle service records NaN.
- Pyrra records the raw counters' increase over the period, and the error ratio
  per window under the name `<metric>:burnrate<window>`; it emits one alert per
  window pair (four, each with its own `for`, told apart by `long` and `short`
  labels, all named `ErrorBudgetBurn` by default), and derives its windows from
  the period instead of using the 30-day ones as they are.
"""

import logging
import math
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from promlab import binaries, profiles
from promlab.paths import CONFIGS

# What exercise cells leave for the learner to fill in.
BLANK = "___"

log = logging.getLogger(__name__)

SPECS_DIR = CONFIGS / "slo"
RULES_DIR = CONFIGS / "prometheus" / "rules"
TESTS_DIR = CONFIGS / "prometheus" / "tests"
CLASSROOM_TIME_SCALE = 5
# A rate window must span at least this many scrape intervals (C08).
MIN_SCRAPES_PER_WINDOW = 4
RECORD = "slo:sli_error:ratio_rate{window}"
RUNBOOK = "http://127.0.0.1:8888/lab/tree/05-burn-rate-alerts.ipynb"

# Days at most: "30d" reads better than Prometheus's own "4w2d" in a rule name.
_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class SLOSpecError(ValueError):
    """An SLO spec is missing a field or holds a value that cannot work."""


@dataclass(frozen=True)
class BurnWindow:
    """One long/short window pair of a burn-rate alert, in production seconds."""

    long: int
    short: int
    factor: float
    severity: str


# SRE workbook, table 5-8, for a 30-day period: what share of the budget burns
# before each pair fires (2%, 5%, 10%, 10%) decides its factor.
BURN_WINDOWS: tuple[BurnWindow, ...] = (
    BurnWindow(3600, 300, 14.4, "critical"),
    BurnWindow(6 * 3600, 1800, 6, "critical"),
    BurnWindow(86400, 2 * 3600, 3, "warning"),
    BurnWindow(3 * 86400, 6 * 3600, 1, "warning"),
)
# Production `for` per alert kind; the short window already confirms the burn,
# so `for` only rides out one noisy evaluation.
ALERT_FOR = {"critical": 120, "warning": 900}
KIND = {"critical": "FastBurn", "warning": "SlowBurn"}


@dataclass(frozen=True)
class Spec:
    """An SLO: what is measured (the SLI), how good it must be, over what period."""

    service: str
    slo: str
    description: str
    objective: float
    period: int
    errors: str | None = None
    good: str | None = None
    total: str = ""
    test_series: dict[str, str] = field(default_factory=dict)

    @property
    def budget(self) -> float:
        """Return the error budget: the share of requests allowed to fail."""
        return round(1 - self.objective, 12)

    @property
    def labels(self) -> dict[str, str]:
        """Return the labels every recorded series of this SLO carries."""
        return {"service": self.service, "slo": self.slo}

    @property
    def stem(self) -> str:
        """Return the file name stem of the generated files, e.g. slo-api-availability."""
        return f"slo-{self.service}-{self.slo}"

    def alert_name(self, severity: str) -> str:
        """Return the alert name for a severity, e.g. ApiAvailabilityFastBurn."""
        words = f"{self.service}_{self.slo}".split("_")
        return "".join(w.capitalize() for w in words) + KIND[severity]


@dataclass(frozen=True)
class Timing:
    """How a profile stretches time: the factor, and its scrape and evaluation intervals."""

    name: str
    scale: int
    scrape_interval: int
    evaluation_interval: int

    def window(self, production_seconds: int) -> int:
        """Return a production duration compressed by this profile's scale."""
        return production_seconds // self.scale


def timing(profile: str = profiles.DEFAULT) -> Timing:
    """Return the SLO timing of a stack profile ("classroom" compresses time).

    Raises:
        SLOSpecError: a window would span fewer than four scrapes (C08).
    """
    loaded = profiles.load(profile)
    scale = CLASSROOM_TIME_SCALE if profile == "classroom" else 1
    result = Timing(
        profile,
        scale,
        int(loaded.seconds("scrape_interval")),
        int(loaded.seconds("evaluation_interval")),
    )
    shortest = min(result.window(w.short) for w in BURN_WINDOWS)
    if shortest < MIN_SCRAPES_PER_WINDOW * result.scrape_interval:
        raise SLOSpecError(
            f"profile {profile}: the shortest window would be {shortest}s, under "
            f"{MIN_SCRAPES_PER_WINDOW} scrapes of {result.scrape_interval}s; "
            "a rate over it can come back empty. Lower the time scale."
        )
    return result


def format_duration(seconds: float) -> str:
    """Return seconds as a Prometheus duration: 300 -> "5m", 5400 -> "1h30m"."""
    left = int(seconds)
    if left != seconds or left <= 0:
        raise ValueError(f"{seconds!r} is not a positive whole number of seconds")
    parts = []
    for unit, size in _UNITS:
        if left >= size:
            parts.append(f"{left // size}{unit}")
            left %= size
    return "".join(parts)


def names() -> list[str]:
    """List the SLO specs shipped under configs/slo/."""
    return sorted(p.stem for p in SPECS_DIR.glob("*.yml"))


def load(name_or_path: str | Path) -> Spec:
    """Read an SLO spec by name (configs/slo/<name>.yml) or path, and check it.

    Raises:
        SLOSpecError: a missing field, an SLI without `{window}`, an objective
            outside (0, 1), or a period that is not a duration.
    """
    path = Path(name_or_path)
    if not path.suffix:
        path = SPECS_DIR / f"{name_or_path}.yml"
    if not path.is_file():
        raise SLOSpecError(f"no SLO spec {path}; shipped specs: {', '.join(names())}")
    return parse(path.read_text(), str(path))


def parse(text: str, source: str = "<spec>") -> Spec:
    """Build a Spec from YAML text (see configs/slo/ for examples)."""
    doc = yaml.safe_load(text) or {}
    sli = doc.get("sli") or {}
    try:
        spec = Spec(
            service=str(doc["service"]),
            slo=str(doc["slo"]),
            description=str(doc.get("description", "")),
            objective=float(doc["objective"]),
            period=int(profiles.parse_duration(str(doc.get("period", "30d")))),
            errors=sli.get("errors"),
            good=sli.get("good"),
            total=str(sli["total"]),
            test_series={str(k): str(v) for k, v in (doc.get("test_series") or {}).items()},
        )
    except KeyError as missing:
        raise SLOSpecError(
            f"{source}: missing {missing}; a spec needs service, slo, objective and "
            "sli.total with sli.errors or sli.good"
        ) from None
    except (profiles.ProfileError, ValueError) as error:
        raise SLOSpecError(f"{source}: {error}") from None
    check(spec, source)
    return spec


def check(spec: Spec, source: str = "<spec>") -> None:
    """Raise SLOSpecError when the spec cannot produce working rules."""
    for what, value in (("service", spec.service), ("slo", spec.slo)):
        if not _NAME.match(value):
            raise SLOSpecError(f"{source}: {what} {value!r} must be lower_snake_case")
    if (spec.errors is None) == (spec.good is None):
        raise SLOSpecError(f"{source}: give exactly one of sli.errors and sli.good")
    for expr in (spec.errors or spec.good, spec.total):
        if "{window}" not in str(expr):
            raise SLOSpecError(
                f"{source}: {expr!r} has no {{window}} placeholder; write "
                "rate(metric[{window}]) so each window gets its own rule"
            )
    if not 0 < spec.objective < 1:
        raise SLOSpecError(f"{source}: objective {spec.objective} must be between 0 and 1")
    kinds = set(spec.test_series.values())
    if not kinds <= {"good", "bad", "all"}:
        raise SLOSpecError(f"{source}: test_series values must be good, bad or all")


def windows(spec: Spec, timing_: Timing) -> list[int]:
    """Return every window (seconds) a rule is recorded for, shortest first."""
    needed = {timing_.window(s) for w in BURN_WINDOWS for s in (w.long, w.short)}
    needed.add(timing_.window(spec.period))
    return sorted(needed)


def record_name(seconds: int) -> str:
    """Return the recording rule name for a window, e.g. slo:sli_error:ratio_rate5m."""
    return RECORD.format(window=format_duration(seconds))


def selector(spec: Spec, seconds: int) -> str:
    """Return the PromQL selecting one recorded error ratio of the spec."""
    matchers = ",".join(f'{k}="{v}"' for k, v in spec.labels.items())
    return f"{record_name(seconds)}{{{matchers}}}"


def error_ratio_expr(spec: Spec, seconds: int) -> str:
    """Return the PromQL of the error ratio over one window, 0 without traffic.

    The fallback after `or` is the total times zero: 0 when the counters exist but
    nothing was requested, nothing when they do not exist. It also covers a
    service that never failed and so has no error series yet.
    """
    window = format_duration(seconds)
    total = spec.total.replace("{window}", window)
    if spec.errors is not None:
        failed = spec.errors.replace("{window}", window)
    else:
        good = str(spec.good).replace("{window}", window)
        failed = f"{total}\n  -\n  {good}"
    return f"(\n  {failed}\n)\n/\n(\n  {total} > 0\n)\nor\n(\n  {total} * 0\n)\n"


def threshold(spec: Spec, factor: float) -> float:
    """Return the error ratio at which the budget burns `factor` times too fast."""
    return round(factor * spec.budget, 10)


def alert_expr(spec: Spec, timing_: Timing, severity: str) -> str:
    """Return the alert expression: its two window pairs joined with `or`."""
    pairs = []
    for pair in (w for w in BURN_WINDOWS if w.severity == severity):
        limit = f"{threshold(spec, pair.factor):g}"
        long_ = selector(spec, timing_.window(pair.long))
        short = selector(spec, timing_.window(pair.short))
        pairs.append(f"(\n  {long_} > {limit}\n  and\n  {short} > {limit}\n)")
    return "\nor\n".join(pairs) + "\n"


def alert_for(timing_: Timing, severity: str) -> str:
    """Return the `for` of an alert kind: production's, compressed, whole evaluations."""
    seconds = ALERT_FOR[severity] / timing_.scale
    evaluations = max(2, math.ceil(seconds / timing_.evaluation_interval))
    return format_duration(evaluations * timing_.evaluation_interval)


def recording_rules(spec: Spec, timing_: Timing) -> dict:
    """Return the recording-rule file of a spec as a YAML document."""
    rules = [
        {"record": record_name(w), "expr": error_ratio_expr(spec, w), "labels": spec.labels}
        for w in windows(spec, timing_)
    ]
    return {"groups": [{"name": f"{spec.stem}-sli", "rules": rules}]}


def alerting_rules(spec: Spec, timing_: Timing) -> dict:
    """Return the alerting-rule file of a spec (page and ticket) as a YAML document."""
    rules = []
    for severity in ("critical", "warning"):
        pairs = [w for w in BURN_WINDOWS if w.severity == severity]
        said = " or ".join(
            f"{w.factor:g}x over {format_duration(timing_.window(w.long))}"
            f"/{format_duration(timing_.window(w.short))}"
            for w in pairs
        )
        first = pairs[0]
        long_ = format_duration(timing_.window(first.long))
        rules.append(
            {
                "alert": spec.alert_name(severity),
                "expr": alert_expr(spec, timing_, severity),
                "for": alert_for(timing_, severity),
                "labels": {"severity": severity, **spec.labels},
                "annotations": {
                    "summary": (
                        f"{spec.service} {spec.slo} burns its error budget "
                        f"{'fast' if severity == 'critical' else 'slowly'} ({said})"
                    ),
                    "description": (
                        f"{{{{ $value | humanizePercentage }}}} of {spec.service} requests "
                        f"failed the {spec.slo} SLI over the last {long_} (or the "
                        f"next longer window); the objective is {_percent(spec.objective)} "
                        f"over {format_duration(timing_.window(spec.period))}."
                    ),
                    "runbook_url": f"{RUNBOOK}#{_anchor(severity)}",
                },
            }
        )
    return {"groups": [{"name": f"{spec.stem}-alerts", "rules": rules}]}


def _percent(ratio: float) -> str:
    return f"{ratio * 100:.4g}%"


def _anchor(severity: str) -> str:
    return "Fast-burn-pages" if severity == "critical" else "Slow-burn-tickets"


def _header(spec: Spec, timing_: Timing, what: str) -> str:
    scale = (
        "production windows"
        if timing_.scale == 1
        else f"classroom time: every window divided by {timing_.scale}"
    )
    return (
        f"# {what} for the {spec.service} {spec.slo} SLO ({_percent(spec.objective)} over "
        f"{format_duration(spec.period)}),\n"
        f"# generated by promlab.slo from configs/slo/{spec.service}-{spec.slo}.yml\n"
        f"# ({scale}).\n"
        "# Edit the spec and regenerate with slo.write(); do not edit by hand.\n\n"
    )


def dump(doc: dict) -> str:
    """Return YAML with multi-line expressions as `|` blocks."""

    class _Dumper(yaml.SafeDumper):
        def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
            # Indent list items under their key, as the hand-written files do.
            super().increase_indent(flow, False)

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = "|" if "\n" in value else (">" if len(value) > 70 else None)
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, text)
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=80, indent=2)


def generate(spec: Spec, profile: str = profiles.DEFAULT) -> dict[str, str]:
    """Return {file name: text} of the spec's rules, alerts and promtool tests.

    Keys: "rules/<stem>.rules.yml", "rules/<stem>.alerts.yml",
    "tests/<stem>.test.yml", relative to configs/prometheus/.
    """
    timing_ = timing(profile)
    stem = spec.stem
    return {
        f"rules/{stem}.rules.yml": _header(spec, timing_, "SLI recording rules")
        + dump(recording_rules(spec, timing_)),
        f"rules/{stem}.alerts.yml": _header(spec, timing_, "Burn-rate alerts")
        + dump(alerting_rules(spec, timing_)),
        f"tests/{stem}.test.yml": _header(spec, timing_, "promtool unit tests")
        + dump(unit_tests(spec, timing_)),
    }


def write(spec: Spec, target: Path, profile: str = profiles.DEFAULT) -> list[Path]:
    """Write the generated files under `target` (a configs/prometheus-like folder)."""
    written = []
    for relative, text in generate(spec, profile).items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    log.info("wrote %d files for %s into %s", len(written), spec.stem, target)
    return written


# -- promtool unit tests -------------------------------------------------------


def _requests_per_failure(low: float, high: float) -> int:
    # 1 failure in n requests, n chosen so 100/n has few digits: the percentage
    # in the alert's description reads the same after float rounding. 20% above
    # the threshold keeps the test clear of rounding in the rate extrapolation.
    fitting = [
        n
        for n in (1, 2, 4, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000)
        if 1.2 * low < 1 / n <= high
    ]
    if not fitting:
        raise SLOSpecError(f"no failing share 1/n lies between {1.2 * low} and {high}")
    return max(fitting)


def _series(spec: Spec, requests: int, failed: int, samples: int) -> list[dict]:
    if not spec.test_series:
        raise SLOSpecError(f"{spec.stem}: the spec has no test_series to feed its tests")
    per_kind = {"good": requests - failed, "bad": failed, "all": requests}
    return [
        {"series": series, "values": f"0+{per_kind[kind]}x{samples}"}
        for series, kind in spec.test_series.items()
    ]


def unit_tests(spec: Spec, timing_: Timing) -> dict:
    """Return promtool unit tests: each alert fires and stays silent; ratios checked.

    Timing (field case C12): failures start with the first sample, so both
    windows of a pair see the failing share from the second sample on (t1). The
    alert is pending until t1 + `for` and checked one evaluation before that
    (silent) and one after it (firing). Input series run past the last check.
    """
    step = evaluation = unit_test_interval(timing_)
    fast = spec.alert_name("critical")
    slow = spec.alert_name("warning")
    fast_for = profiles.parse_duration(alert_for(timing_, "critical"))
    slow_for = profiles.parse_duration(alert_for(timing_, "warning"))
    page = threshold(spec, BURN_WINDOWS[0].factor)
    ticket = [threshold(spec, w.factor) for w in BURN_WINDOWS if w.severity == "warning"]
    page_low = threshold(spec, BURN_WINDOWS[1].factor)
    fast_requests = _requests_per_failure(page, 1.0)
    slow_requests = _requests_per_failure(max(ticket), page_low)
    samples = int((2 * slow_for + 10 * step) // step)
    span = samples * step
    first_true = max(step, evaluation)

    def at(seconds: float) -> str:
        return format_duration(int(math.ceil(seconds / evaluation) * evaluation))

    def firing(name: str, severity: str, share: float) -> list[dict]:
        timing_words = format_duration(
            timing_.window(next(w for w in BURN_WINDOWS if w.severity == severity).long)
        )
        return [
            {
                "exp_labels": {"severity": severity, **spec.labels},
                "exp_annotations": {
                    "summary": alerting_rules(spec, timing_)["groups"][0]["rules"][
                        0 if severity == "critical" else 1
                    ]["annotations"]["summary"],
                    "description": (
                        f"{share * 100:.4g}% of {spec.service} requests failed the "
                        f"{spec.slo} SLI over the last {timing_words} (or the next "
                        f"longer window); the objective is {_percent(spec.objective)} over "
                        f"{format_duration(timing_.window(spec.period))}."
                    ),
                    "runbook_url": f"{RUNBOOK}#{_anchor(severity)}",
                },
            }
        ]

    def ratios(value: float) -> list[dict]:
        return [
            {
                "expr": selector(spec, w),
                "eval_time": at(span / 2),
                "exp_samples": [{"labels": _labels(record_name(w), spec.labels), "value": value}],
            }
            for w in windows(spec, timing_)
        ]

    fast_share = 1 / fast_requests
    slow_share = 1 / slow_requests
    tests = [
        {
            "name": f"{fast} fires when {_percent(fast_share)} of requests fail from the start",
            "interval": format_duration(step),
            "input_series": _series(spec, fast_requests, 1, samples),
            "alert_rule_test": [
                {
                    "eval_time": at(first_true + fast_for - evaluation),
                    "alertname": fast,
                    "exp_alerts": [],
                },
                {
                    "eval_time": at(first_true + fast_for + evaluation),
                    "alertname": fast,
                    "exp_alerts": firing(fast, "critical", fast_share),
                },
            ],
        },
        {
            "name": f"{fast} stays silent when {_percent(slow_share)} fail (a ticket, no page)",
            "interval": format_duration(step),
            "input_series": _series(spec, slow_requests, 1, samples),
            "alert_rule_test": [
                {
                    "eval_time": at(first_true + slow_for + evaluation),
                    "alertname": fast,
                    "exp_alerts": [],
                },
            ],
        },
        _spike_test(spec, timing_, fast),
        {
            "name": f"{slow} fires when {_percent(slow_share)} of requests fail from the start",
            "interval": format_duration(step),
            "input_series": _series(spec, slow_requests, 1, samples),
            "alert_rule_test": [
                {
                    "eval_time": at(first_true + slow_for - evaluation),
                    "alertname": slow,
                    "exp_alerts": [],
                },
                {
                    "eval_time": at(first_true + slow_for + evaluation),
                    "alertname": slow,
                    "exp_alerts": firing(slow, "warning", slow_share),
                },
            ],
        },
        {
            "name": f"{slow} stays silent when nothing fails",
            "interval": format_duration(step),
            "input_series": _series(spec, 4, 0, samples),
            "alert_rule_test": [
                {"eval_time": at(span - step), "alertname": slow, "exp_alerts": []},
                {"eval_time": at(span - step), "alertname": fast, "exp_alerts": []},
            ],
            "promql_expr_test": ratios(0),
        },
        {
            "name": f"{slow} stays silent with no traffic: every ratio is 0, not NaN",
            "interval": format_duration(step),
            "input_series": [
                {"series": s["series"], "values": f"0x{samples}"}
                for s in _series(spec, 4, 0, samples)
            ],
            "alert_rule_test": [
                {"eval_time": at(span - step), "alertname": slow, "exp_alerts": []},
                {"eval_time": at(span - step), "alertname": fast, "exp_alerts": []},
            ],
            "promql_expr_test": ratios(0),
        },
        {
            "name": f"{spec.stem} records an error ratio of 1 when every request fails",
            "interval": format_duration(step),
            "input_series": _series(spec, 1, 1, samples),
            "promql_expr_test": ratios(1),
        },
    ]
    return {
        "rule_files": [f"../rules/{spec.stem}.rules.yml", f"../rules/{spec.stem}.alerts.yml"],
        "evaluation_interval": format_duration(evaluation),
        "tests": tests,
    }


def unit_test_interval(timing_: Timing) -> int:
    """Return the sample and evaluation interval of the generated unit tests.

    Four samples per shortest window, as the slowest scrape gives it (C08):
    15s in the classroom (1m windows), 1m in production (5m windows). Fewer
    samples keep tests that span the 6h window fast.
    """
    return min(w.short for w in BURN_WINDOWS) // timing_.scale // MIN_SCRAPES_PER_WINDOW


def _spike_test(spec: Spec, timing_: Timing, fast: str) -> dict:
    """A full outage shorter than the long window asks of it: the page stays silent.

    With `long` seconds of healthy history, an outage of d seconds raises the long
    window's ratio to about d / long; below the page threshold it never pages,
    although the short window is at 100%.
    """
    step = unit_test_interval(timing_)
    long_ = timing_.window(BURN_WINDOWS[0].long)
    # 80% of what the 1h window needs; health as long as the 6h window, so
    # the second page pair stays far below its threshold too.
    outage = int(long_ * threshold(spec, BURN_WINDOWS[0].factor) * 0.8) // step * step
    healthy = timing_.window(BURN_WINDOWS[1].long) // step
    down = max(2, outage // step)
    tail = healthy
    requests = 4
    series = []
    for name, kind in spec.test_series.items():
        good = {"good": requests, "bad": 0, "all": requests}[kind]
        bad = {"good": 0, "bad": requests, "all": requests}[kind]
        end_healthy = good * healthy
        end_down = end_healthy + bad * down
        values = f"0+{good}x{healthy} {end_healthy + bad}+{bad}x{down - 1} {end_down}+{good}x{tail}"
        series.append({"series": name, "values": values})
    check = (healthy + down) * step + timing_.window(BURN_WINDOWS[0].short) // 2
    return {
        "name": (
            f"{fast} stays silent when a full outage lasts only "
            f"{format_duration(down * step)} after "
            f"{format_duration(healthy * step)} of health"
        ),
        "interval": format_duration(step),
        "input_series": series,
        "alert_rule_test": [
            {"eval_time": format_duration(check), "alertname": fast, "exp_alerts": []},
            {
                "eval_time": format_duration(check + timing_.window(BURN_WINDOWS[0].long) // 4),
                "alertname": fast,
                "exp_alerts": [],
            },
        ],
    }


def _labels(name: str, labels: dict[str, str]) -> str:
    matchers = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{name}{{{matchers}}}"


def try_spec(text: str) -> str:
    """Generate a spec's rules and tests and run promtool on them; return a verdict.

    Returns:
        "passed: ..." naming the alerts and tests, or "not yet: <why>"; never
        raises for a wrong spec.
    """
    if BLANK in text:
        return f"not yet: fill in every {BLANK} in the spec"
    try:
        spec = parse(text)
        with tempfile.TemporaryDirectory(prefix="promlab-slo-") as tmp:
            files = write(spec, Path(tmp))
            promtool = str(binaries.find_binary("promtool"))
            rules_ = [str(f) for f in files if f.parent.name == "rules"]
            for command, cwd in (
                ([promtool, "check", "rules", *rules_], tmp),
                ([promtool, "test", "rules", f"{spec.stem}.test.yml"], f"{tmp}/tests"),
            ):
                done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)
                if done.returncode != 0:
                    return f"not yet: {command[1]} failed:\n{done.stdout}{done.stderr}"
    except SLOSpecError as error:
        return f"not yet: {error}"
    alerts = " and ".join(spec.alert_name(s) for s in ("critical", "warning"))
    return f"passed: {alerts} pass promtool check rules and their unit tests"
