"""PromQL from Python: instant queries as tables, and waiting for a condition."""

import logging

import pandas as pd
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from promlab.stack import Stack

log = logging.getLogger(__name__)


class PromQLError(ValueError):
    """Prometheus rejected a query; the message is Prometheus's own."""


def client(stack: Stack | None = None) -> PrometheusConnect:
    """Return a prometheus-api-client connection to the stack's Prometheus."""
    return PrometheusConnect(url=(stack or Stack()).url("prometheus"), disable_ssl=True)


def query(expr: str, stack: Stack | None = None) -> pd.DataFrame:
    """Run an instant query; return one row per series: its labels, then `value`.

    An empty result is an empty frame with a `value` column, not an error.

    Raises:
        PromQLError: the expression is not valid PromQL (Prometheus's message).
    """
    try:
        result = client(stack).custom_query(expr)
    except PrometheusApiClientException as error:
        raise PromQLError(f"{expr!r}: {error}") from error
    rows = [{**series["metric"], "value": float(series["value"][1])} for series in result]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame({"value": pd.Series(dtype=float)})
    return frame


def wait_for(expr: str, stack: Stack | None = None, timeout: float = 60) -> pd.DataFrame:
    """Wait until `expr` returns at least one series; return the result.

    Raises:
        TimeoutError: still empty after `timeout` seconds.
    """

    def attempt() -> pd.DataFrame:
        frame = query(expr, stack)
        if frame.empty:
            raise LookupError(expr)
        return frame

    try:
        return Retrying(
            stop=stop_after_delay(timeout),
            wait=wait_fixed(1),
            retry=retry_if_exception_type(LookupError),
        )(attempt)
    except RetryError:
        raise TimeoutError(
            f"{expr!r} returned nothing for {timeout:.0f} s; is the stack up and does "
            "the series exist yet? (a rate needs two scrapes after the first request)"
        ) from None
