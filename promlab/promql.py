"""PromQL from Python: instant and range queries as tables, alerts, and waiting.

Expressions always go through `custom_query` / `custom_query_range`: the metric-name
helpers of prometheus-api-client would treat `rate(...)` as a selector. Results come
back as pandas frames with one column per label; an empty result is an empty frame
with the same typed columns, never an error, and NaN (histogram_quantile on an idle
service) stays NaN.
"""

import ast
import json
import logging
import math
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pandas as pd
import requests
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from requests.adapters import Retry
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from promlab.stack import Stack

log = logging.getLogger(__name__)

# Prometheus refuses a range query whose (end - start) / step exceeds this.
MAX_POINTS = 11_000
# Points per series when the caller gives no step: smooth enough for a chart,
# cheap enough to redraw every few seconds.
DEFAULT_POINTS = 240
# Never ask for a finer step than the scrape interval could fill.
MIN_STEP_SECONDS = 1.0
QUERY_TIMEOUT_SECONDS = 15

TimeLike = datetime | pd.Timestamp | timedelta | float | int | str | None

_clients: dict[str, PrometheusConnect] = {}
_clients_lock = threading.Lock()


class PromQLError(ValueError):
    """Prometheus rejected a query; the message is Prometheus's own."""

    def __init__(self, expr: str, message: str) -> None:
        """Keep the expression and Prometheus's message apart for display."""
        super().__init__(f"{expr!r}: {message}")
        self.expr = expr
        self.prometheus_message = message


class PrometheusUnavailableError(ConnectionError):
    """Prometheus could not be reached."""


def client(stack: Stack | None = None) -> PrometheusConnect:
    """Return a prometheus-api-client connection to the stack's Prometheus (shared)."""
    url = (stack or Stack()).url("prometheus")
    with _clients_lock:
        if url not in _clients:
            # Few, quick retries: a chart refresh should fail fast and try next period.
            retry = Retry(total=2, backoff_factor=0.2, status_forcelist=[502, 503, 504])
            _clients[url] = PrometheusConnect(
                url=url, disable_ssl=True, retry=retry, timeout=QUERY_TIMEOUT_SECONDS
            )
        return _clients[url]


def query(expr: str, stack: Stack | None = None, at: TimeLike = None) -> pd.DataFrame:
    """Run an instant query; return one row per series: its labels, then `value`.

    Args:
        expr: a PromQL expression.
        stack: the stack whose Prometheus answers (default: `Stack()`).
        at: evaluation time (see `to_datetime`); default now.

    Returns:
        A frame with a column per label and a float `value` column; a scalar result
        is one row with only `value` (a string result too, its `value` a string); an
        empty result is an empty frame with `value`.

    Raises:
        PromQLError: the expression is not valid PromQL (Prometheus's message).
        PrometheusUnavailableError: Prometheus did not answer.
    """
    params = {} if at is None else {"time": f"{to_datetime(at).timestamp():.3f}"}
    result = _call(expr, stack, lambda c: c.custom_query(expr, params=params))
    if isinstance(result, dict) or (result and not isinstance(result[0], dict)):
        # A scalar or string result: Prometheus answers [time, "value"].
        pair = result["result"] if isinstance(result, dict) else result
        try:
            return pd.DataFrame({"value": [float(pair[1])]})
        except ValueError:
            return pd.DataFrame({"value": [str(pair[1])]})
    rows = [{**series["metric"], "value": float(series["value"][1])} for series in result]
    if not rows:
        return pd.DataFrame({"value": pd.Series(dtype=float)})
    return pd.DataFrame(rows)


def query_range(
    expr: str,
    stack: Stack | None = None,
    start: TimeLike = timedelta(minutes=5),
    end: TimeLike = None,
    step: float | str | None = None,
) -> pd.DataFrame:
    """Run a range query; return one row per sample in long form.

    Args:
        expr: a PromQL expression.
        stack: the stack whose Prometheus answers (default: `Stack()`).
        start: first instant; a timedelta (or "15m") counts back from `end`.
        end: last instant; default now.
        step: seconds (or "30s") between points; default about 240 points. A step so
            small that a series would pass Prometheus's 11,000-point limit is raised.

    Returns:
        A frame with a column per label, `timestamp` (UTC, timezone-aware) and
        float `value` (NaN kept); empty, with those two columns, when nothing matched.

    Raises:
        PromQLError: the expression is not valid PromQL (Prometheus's message).
        PrometheusUnavailableError: Prometheus did not answer.
    """
    end_at = to_datetime(end)
    start_at = to_datetime(start, relative_to=end_at)
    if start_at >= end_at:
        raise ValueError(f"start {start_at.isoformat()} must be before end {end_at.isoformat()}")
    seconds = choose_step(start_at, end_at, step)
    result = _call(
        expr,
        stack,
        # Plain seconds: Prometheus reads "15.7" but not "15.7s".
        lambda c: c.custom_query_range(expr, start_at, end_at, f"{seconds:.3f}"),
    )
    rows = [
        {**series["metric"], "timestamp": float(ts), "value": float(value)}
        for series in result
        for ts, value in series["values"]
    ]
    if not rows:
        return pd.DataFrame(
            {
                "timestamp": pd.Series(dtype="datetime64[ns, UTC]"),
                "value": pd.Series(dtype=float),
            }
        )
    frame = pd.DataFrame(rows)
    stamps = pd.to_datetime(frame["timestamp"], unit="s", utc=True)
    frame["timestamp"] = stamps.astype("datetime64[ns, UTC]")
    return frame


def choose_step(start: datetime, end: datetime, step: float | str | None = None) -> float:
    """Return a step in seconds that keeps every series within Prometheus's point limit."""
    span = (end - start).total_seconds()
    smallest = math.ceil(span / MAX_POINTS * 1000) / 1000
    if step is None:
        wanted = max(MIN_STEP_SECONDS, math.ceil(span / DEFAULT_POINTS))
    else:
        wanted = parse_seconds(step)
    if wanted < smallest:
        log.info(
            "step %gs gives over %d points over %gs; using %gs", wanted, MAX_POINTS, span, smallest
        )
    return max(wanted, smallest)


def parse_seconds(value: float | int | str | timedelta) -> float:
    """Return seconds from 90, 1.5, "90s", "5m", "2h", "1d" or a timedelta."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float):
        return float(value)
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    text = value.strip()
    for unit in sorted(units, key=len, reverse=True):
        if text.endswith(unit):
            try:
                return float(text[: -len(unit)]) * units[unit]
            except ValueError:
                break
    try:
        return float(text)
    except ValueError:
        raise ValueError(
            f"cannot read {value!r} as a duration; use 30, '30s', '5m' or '1h'"
        ) from None


def to_datetime(value: TimeLike, relative_to: datetime | None = None) -> datetime:
    """Return a timezone-aware UTC datetime.

    None is now; a timedelta or a duration string ("15m") counts back from
    `relative_to` (default now); a number is Unix seconds; a naive datetime is
    taken as local time, as Python's own `astimezone()` does.
    """
    now = relative_to or datetime.now(UTC)
    if value is None:
        return now.astimezone(UTC)
    if isinstance(value, str):
        value = timedelta(seconds=parse_seconds(value))
    if isinstance(value, timedelta):
        return (now - value).astimezone(UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    return value.astimezone(UTC)


def metric_names(job: str, stack: Stack | None = None) -> list[str]:
    """Return the metric names a job's target exposes, sorted.

    Left out: series Prometheus adds itself (`up`, `scrape_*`, `ALERTS*`) and
    recording-rule results (names with a colon) that carry the job label too.
    """
    frame = query(f'count by (__name__) ({{job="{job}"}})', stack)
    names = frame.get("__name__", [])
    own = ("up", "ALERTS", "ALERTS_FOR_STATE")
    return sorted(n for n in names if ":" not in n and n not in own and not n.startswith("scrape_"))


def alerts(stack: Stack | None = None) -> pd.DataFrame:
    """Return Prometheus's pending and firing alerts: one row each, labels as columns.

    Columns always include `alertname`, `state`, `severity`, `active_at` and `value`.
    """
    url = (stack or Stack()).url("prometheus") + "/api/v1/alerts"
    try:
        response = requests.get(url, timeout=QUERY_TIMEOUT_SECONDS)
        response.raise_for_status()
    except requests.RequestException as error:
        raise PrometheusUnavailableError(f"GET {url} failed: {error}; is the stack up?") from error
    rows = [
        {
            **alert["labels"],
            "state": alert["state"],
            "active_at": alert.get("activeAt"),
            "value": float(alert.get("value", "nan")),
        }
        for alert in response.json()["data"]["alerts"]
    ]
    columns = ["alertname", "state", "severity", "active_at", "value"]
    frame = pd.DataFrame(rows, columns=list(dict.fromkeys(columns + [k for r in rows for k in r])))
    frame["active_at"] = pd.to_datetime(frame["active_at"], utc=True)
    return frame.sort_values(["alertname", "state"], ignore_index=True)


def wait_for(
    expr: str, stack: Stack | None = None, timeout: float = 60, rows: int = 1
) -> pd.DataFrame:
    """Wait until `expr` returns at least `rows` series; return the result.

    Raises:
        TimeoutError: still empty after `timeout` seconds.
        PromQLError: the expression is not valid PromQL (no waiting).
    """
    return wait_until(
        lambda: query(expr, stack),
        lambda frame: len(frame) >= rows,
        timeout,
        f"{expr!r} returned fewer than {rows} series for {timeout:.0f} s; is the stack "
        "up and does the series exist yet? (a rate needs two scrapes after the first request)",
    )


def wait_for_alert(
    name: str, state: str = "firing", stack: Stack | None = None, timeout: float = 180
) -> pd.DataFrame:
    """Wait until alert `name` is in `state` ("pending", "firing" or "inactive").

    Waiting for "pending" also ends when the alert is already firing.

    Returns:
        The alert's rows (empty when waiting for "inactive").

    Raises:
        TimeoutError: the alert did not reach `state` in time; names the state it had.
    """
    if state not in ("pending", "firing", "inactive"):
        raise ValueError(f"state must be pending, firing or inactive, got {state!r}")

    def matching() -> pd.DataFrame:
        frame = alerts(stack)
        return frame[frame["alertname"] == name]

    def reached(frame: pd.DataFrame) -> bool:
        if state == "inactive":
            return frame.empty
        # Firing comes after pending: an alert already firing has been pending.
        wanted = {"pending", "firing"} if state == "pending" else {"firing"}
        return bool(wanted & set(frame["state"]))

    return wait_until(
        matching,
        reached,
        timeout,
        f"alert {name} not {state} after {timeout:.0f} s; check its expression in "
        "the stack's rules (stack.rules_dir) and that traffic and faults are on",
    )


def wait_until(
    fetch: Callable[[], pd.DataFrame],
    done: Callable[[pd.DataFrame], bool],
    timeout: float,
    message: str,
    interval: float = 1,
) -> pd.DataFrame:
    """Call `fetch` every `interval` s until `done(result)`; return that result.

    Raises:
        TimeoutError: with `message` and the last result, after `timeout` seconds.
    """
    last: list[pd.DataFrame] = []

    def attempt() -> pd.DataFrame:
        frame = fetch()
        last[:] = [frame]
        if not done(frame):
            raise LookupError(message)
        return frame

    try:
        return Retrying(
            stop=stop_after_delay(timeout),
            wait=wait_fixed(interval),
            retry=retry_if_exception_type((LookupError, PrometheusUnavailableError)),
        )(attempt)
    except RetryError:
        seen = last[0].to_string(index=False, max_rows=5) if last else "nothing"
        raise TimeoutError(f"{message}\nlast result:\n{seen}") from None


def _call(expr: str, stack: Stack | None, send: Callable[[PrometheusConnect], list]) -> list:
    prometheus = client(stack)
    try:
        return send(prometheus)
    except PrometheusApiClientException as error:
        raise PromQLError(expr, _prometheus_message(str(error))) from None
    except requests.RequestException as error:
        raise PrometheusUnavailableError(
            f"Prometheus at {prometheus.url} did not answer ({type(error).__name__}); "
            "start the stack with Stack().up() or `promlab up`"
        ) from error


def _prometheus_message(text: str) -> str:
    # prometheus-api-client formats errors as "HTTP Status Code 400 (b'{json}')":
    # recover the bytes literal and take Prometheus's own "error" field.
    try:
        body = ast.literal_eval(text[text.index("(") + 1 : text.rindex(")")])
        payload = json.loads(body)
        return f"{payload['errorType']}: {payload['error']}"
    except (ValueError, SyntaxError, KeyError, TypeError):
        return text
