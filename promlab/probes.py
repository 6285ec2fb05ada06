"""Readiness probes: poll a service to a deadline, fail fast if its process died."""

import logging
import time
from collections.abc import Callable

import psycopg2
import requests
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from promlab.errors import ServiceNotReadyError

log = logging.getLogger(__name__)


class NotReadyYet(Exception):
    """A probe's answer: not ready, try again."""


class ProcessExited(Exception):
    """A probe's answer: the process is gone, stop trying."""


def http_probe(url: str) -> Callable[[], None]:
    """Return a probe that passes when `url` answers 200."""

    def probe() -> None:
        try:
            answer = requests.get(url, timeout=1)
        except requests.RequestException as error:
            raise NotReadyYet(f"GET {url}: {type(error).__name__}") from error
        if answer.status_code != 200:
            raise NotReadyYet(f"GET {url}: HTTP {answer.status_code}")

    return probe


def postgres_probe(dsn: str) -> Callable[[], None]:
    """Return a probe that passes when PostgreSQL accepts a login with `dsn`."""

    def probe() -> None:
        try:
            psycopg2.connect(dsn, connect_timeout=1).close()
        except psycopg2.OperationalError as error:
            raise NotReadyYet(str(error).strip().splitlines()[0]) from error

    return probe


def wait_ready(
    name: str,
    probe: Callable[[], None],
    deadline: float,
    alive: Callable[[], bool],
    log_tail: Callable[[], str],
    where: str = "",
) -> float:
    """Poll `probe` until it passes, `alive()` turns false, or `deadline` seconds pass.

    Returns:
        Seconds it took.

    Raises:
        ServiceNotReadyError: the process exited or the deadline passed; the message
            carries the last probe answer and the service's last log lines.
    """
    started = time.monotonic()
    last = "no answer yet"

    def attempt() -> None:
        nonlocal last
        if not alive():
            raise ProcessExited(name)
        try:
            probe()
        except NotReadyYet as error:
            last = str(error)
            log.debug("%s not ready: %s", name, last)
            raise

    retrying = Retrying(
        stop=stop_after_delay(deadline),
        wait=wait_fixed(0.1),
        retry=retry_if_exception_type(NotReadyYet),
    )
    try:
        retrying(attempt)
    except ProcessExited:
        tail = log_tail()
        raise ServiceNotReadyError(
            f"{name} exited while starting{where}. Its last log lines:\n{tail}\n"
            f"Fix the cause above, then run up() again (full log: logs('{name}')).",
            name,
            tail,
        ) from None
    except RetryError:
        tail = log_tail()
        raise ServiceNotReadyError(
            f"{name} was not ready after {deadline:.0f} s{where}; last probe: {last}. "
            f"Its last log lines:\n{tail}\nA slow machine may need a longer deadline: "
            "Stack(deadline=120).",
            name,
            tail,
        ) from None
    took = time.monotonic() - started
    return took
