"""Traffic for the web and api tiers: a paced background load generator.

    load = Traffic(stack, rate=20, concurrency=4, duration=60).start()
    load.stats()   # sent, ok, failed, achieved rate, while it runs
    load.stop()    # threads joined, connections closed

Each worker thread owns one urllib3 connection pool of size one (keep-alive, one
connection) and claims send times from a shared schedule, so the rate holds
whatever the concurrency; a slow server lowers the achieved rate instead of piling
up work. urllib3 rather than requests on top of it: a third of the client CPU time
per request, which on a two-core machine is CPU the tiers under load keep.
The fault knobs of web and api (`/admin/faults`) are set with `set_faults`.

Its ceiling is one Python process: on two cores it keeps up with wrk on web's
item page (which one gunicorn worker serves at about 700 a second), and reaches
about half of wrk's rate on /healthz, where the client's own CPU time bounds it
(see bench/README.md). That is far above what the course needs; for stress
tests of a tier, use wrk.
"""

import logging
import random
import threading
import time
import weakref
from collections import Counter, deque
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import cycle, islice
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter

from promlab.stack import Stack

log = logging.getLogger(__name__)

# A page, an item, the DB-heavy report: every tier and the database get work.
BURST_PATHS = ("/", "/items/1", "/items/2", "/report")
TARGETS = ("web", "api")
MIXES = ("normal", "slow", "error_prone", "db_heavy")
# init.sql seeds items 1..50; ids far above that are certain 404s.
SEEDED_ITEMS = 50
MISSING_ITEM = 900_000
# Seconds of missed send slots a late schedule may catch up on at once.
CATCH_UP_SECONDS = 1.0
RECENT_SECONDS = 5.0
FAULT_KEYS = ("error_ratio", "extra_latency_seconds", "down")


class TrafficError(ValueError):
    """A traffic generator was misconfigured or misused."""


@dataclass(frozen=True)
class Route:
    """One kind of request: method, path template ({item} or {missing}), JSON body."""

    method: str
    path: str
    body: Mapping[str, Any] | None = None


# Per target and mix: normal browsing, a slow page, requests that fail with 4xx on
# purpose (unknown items, invalid orders), and database work (reports, order writes).
ROUTES: dict[str, dict[str, tuple[Route, ...]]] = {
    "web": {
        "normal": (Route("GET", "/"), Route("GET", "/items/{item}")),
        "slow": (Route("GET", "/slow"),),
        "error_prone": (
            Route("GET", "/items/{missing}"),
            Route("POST", "/orders", {"item_id": 1, "quantity": -1}),
        ),
        "db_heavy": (
            Route("GET", "/report"),
            Route("POST", "/orders", {"item_id": 1, "quantity": 1}),
        ),
    },
    # web's slow page sleeps in Python; the api's slow route sleeps in a query.
    "api": {
        "normal": (Route("GET", "/api/items"), Route("GET", "/api/items/{item}")),
        "slow": (Route("GET", "/api/slow"),),
        "error_prone": (
            Route("GET", "/api/items/{missing}"),
            Route("POST", "/api/orders", {"item_id": 1, "quantity": -1}),
        ),
        "db_heavy": (
            Route("GET", "/api/report"),
            Route("POST", "/api/orders", {"item_id": 1, "quantity": 1}),
        ),
    },
}

_running: "weakref.WeakSet[Traffic]" = weakref.WeakSet()


@dataclass(frozen=True)
class TrafficStats:
    """A snapshot of a generator's counters.

    `ok` counts 1xx to 3xx answers, `failed` 4xx, 5xx and requests with no answer
    (status 0 in `by_status`); `rate` is answers per second since the start,
    `recent_rate` over the last five seconds.
    """

    sent: int
    ok: int
    failed: int
    by_status: dict[int, int]
    elapsed: float
    rate: float
    recent_rate: float
    mean_latency: float
    running: bool
    duration: float | None = None
    target_rate: float | None = None
    last_error: str | None = field(default=None, compare=False)

    @property
    def progress(self) -> float:
        """Return the share of the duration done, 0 to 1 (0 when open-ended)."""
        if not self.running and self.elapsed > 0:
            return 1.0
        if not self.duration:
            return 0.0
        return min(1.0, self.elapsed / self.duration)

    def summary(self) -> str:
        """Return one line: sent, ok, failed, rates, latency."""
        return (
            f"sent {self.sent}, ok {self.ok}, failed {self.failed}, "
            f"{self.rate:.1f} req/s (last 5 s: {self.recent_rate:.1f}), "
            f"mean latency {self.mean_latency * 1000:.0f} ms"
        )


class Traffic:
    """A background load generator for the web or api tier.

    Args:
        stack: the stack to send to (default `Stack()`).
        target: "web" or "api".
        rate: requests per second over all workers; None or 0 for as fast as possible.
        concurrency: worker threads, each with one keep-alive connection.
        duration: seconds to run; None runs until `stop()`.
        mix: weights per kind of request, e.g. {"normal": 1, "db_heavy": 0.2};
            kinds are normal, slow, error_prone and db_heavy.
        timeout: seconds to wait for each answer (bounds how long `stop()` can take).
        total: stop after this many requests (None: no limit).
        base_url: send here instead of the stack's `target` URL.
        seed: seed for the route choice, for repeatable runs.
        routes: send only these routes, in turn (overrides `mix`; for benchmarks).
    """

    def __init__(
        self,
        stack: Stack | None = None,
        target: str = "web",
        rate: float | None = 10.0,
        concurrency: int = 4,
        duration: float | None = 60.0,
        mix: Mapping[str, float] | None = None,
        timeout: float = 5.0,
        total: int | None = None,
        base_url: str | None = None,
        seed: int | None = None,
        routes: list[Route] | None = None,
    ) -> None:
        if target not in TARGETS:
            raise TrafficError(f"target must be one of {TARGETS}, got {target!r}")
        if concurrency < 1:
            raise TrafficError(f"concurrency must be at least 1, got {concurrency}")
        if rate is not None and rate < 0:
            raise TrafficError(f"rate must be positive (or None for unpaced), got {rate}")
        if duration is not None and duration <= 0:
            raise TrafficError(
                f"duration must be positive (or None to run until stopped), got {duration}"
            )
        self.target = target
        self.rate = rate or None
        self.concurrency = concurrency
        self.duration = duration
        self.timeout = timeout
        self.total = total
        self.mix = check_mix(target, mix or {"normal": 1.0})
        self.routes = list(routes or [])
        self.base_url = (base_url or (stack or Stack()).url(target)).rstrip("/")
        self._prefix = urllib3.util.parse_url(self.base_url).path or ""
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._statuses: Counter[int] = Counter()
        self._recent: deque[float] = deque()
        self._sent = 0
        self._latency = 0.0
        self._last_error: str | None = None
        self._started = 0.0
        self._finished: float | None = None
        self._next_slot = 0.0
        self._deadline: float | None = None

    def __enter__(self) -> "Traffic":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"Traffic({self.target} {self.base_url}, {state}: {self.stats().summary()})"

    @property
    def running(self) -> bool:
        """Return True while any worker thread is alive."""
        return any(thread.is_alive() for thread in self._threads)

    def start(self) -> "Traffic":
        """Start the worker threads and return at once."""
        if self._threads:
            raise TrafficError("this generator was already started; create a new Traffic")
        self._started = self._next_slot = time.monotonic()
        if self.duration:
            self._deadline = self._started + self.duration
        for number in range(self.concurrency):
            thread = threading.Thread(
                target=self._work, name=f"promlab-traffic-{number}", daemon=True
            )
            self._threads.append(thread)
        _running.add(self)
        for thread in self._threads:
            thread.start()
        log.info(
            "traffic to %s: %s req/s, %d workers, %s s, mix %s",
            self.base_url,
            self.rate or "max",
            self.concurrency,
            self.duration or "open-ended",
            self.mix,
        )
        return self

    def stop(self, timeout: float | None = None) -> TrafficStats:
        """Stop sending, join every worker (closing its connection); return the stats.

        A request in flight is allowed to finish, so this takes at most about the
        request timeout.
        """
        self._stop.set()
        return self.wait(timeout if timeout is not None else self.timeout + 2)

    def wait(self, timeout: float | None = None) -> TrafficStats:
        """Block until the duration is over (or `timeout` passes); return the stats."""
        limit = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if limit is None else max(0.0, limit - time.monotonic()))
        if self._threads and not self.running:
            _running.discard(self)
        elif self._stop.is_set():
            log.warning("traffic workers still busy %.0f s after stop", timeout or 0)
        return self.stats()

    def stats(self) -> TrafficStats:
        """Return the counters so far; safe to call while it runs."""
        now = time.monotonic()
        with self._lock:
            statuses = dict(self._statuses)
            recent = sum(1 for t in self._recent if t >= now - RECENT_SECONDS)
            sent, latency, last_error = self._sent, self._latency, self._last_error
        done = sum(statuses.values())
        ok = sum(n for code, n in statuses.items() if 0 < code < 400)
        end = self._finished if self._finished and not self.running else now
        elapsed = max(0.0, end - self._started) if self._started else 0.0
        window = min(RECENT_SECONDS, elapsed) or 1.0
        return TrafficStats(
            sent=sent,
            ok=ok,
            failed=done - ok,
            by_status=statuses,
            elapsed=elapsed,
            rate=done / elapsed if elapsed else 0.0,
            recent_rate=recent / window,
            mean_latency=latency / done if done else 0.0,
            running=self.running,
            duration=self.duration,
            target_rate=self.rate,
            last_error=last_error,
        )

    # -- workers ---------------------------------------------------------------

    def _claim(self) -> tuple[float, Route] | None:
        """Return when to send the next request, or None when the run is over."""
        with self._lock:
            if self.total is not None and self._sent >= self.total:
                return None
            now = time.monotonic()
            if self.rate:
                at = max(self._next_slot, now - CATCH_UP_SECONDS)
                self._next_slot = at + 1 / self.rate
            else:
                at = now
            if self._deadline is not None and at >= self._deadline:
                return None
            self._sent += 1
            route = self._pick()
        return at, route

    def _pick(self) -> Route:
        if self.routes:
            return self.routes[self._sent % len(self.routes)]
        kinds = list(self.mix)
        kind = self._random.choices(kinds, weights=[self.mix[k] for k in kinds])[0]
        return self._random.choice(ROUTES[self.target][kind])

    def _work(self) -> None:
        # One connection per worker, kept alive; no retries: a failure is a result.
        pool = urllib3.connection_from_url(
            self.base_url, maxsize=1, block=True, retries=False, timeout=self.timeout
        )
        try:
            while not self._stop.is_set():
                claim = self._claim()
                if claim is None:
                    break
                at, route = claim
                delay = at - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    with self._lock:
                        self._sent -= 1
                    break
                self._send(pool, route)
        finally:
            pool.close()
            with self._lock:
                self._finished = time.monotonic()

    def _send(self, pool: urllib3.HTTPConnectionPool, route: Route) -> None:
        path = route.path.format(
            item=self._random.randint(1, SEEDED_ITEMS),
            missing=MISSING_ITEM + self._random.randint(0, 99),
        )
        began = time.monotonic()
        error = None
        try:
            # The body is read in full, which hands the connection back to the pool.
            response = pool.request(
                route.method, self._prefix + path, json=route.body, redirect=False
            )
            code = response.status
        except (urllib3.exceptions.HTTPError, OSError) as failure:
            code, error = 0, f"{route.method} {path}: {type(failure).__name__}: {failure}"
        ended = time.monotonic()
        with self._lock:
            self._statuses[code] += 1
            self._latency += ended - began
            self._recent.append(ended)
            while self._recent and self._recent[0] < ended - RECENT_SECONDS:
                self._recent.popleft()
            if error:
                self._last_error = error
        if error:
            # DEBUG only: a warning from a worker thread would print into a notebook.
            log.debug("%s", error)


def check_mix(target: str, mix: Mapping[str, float]) -> dict[str, float]:
    """Return the mix without zero weights, or raise TrafficError naming the problem."""
    offered = ROUTES[target]
    unknown = sorted(set(mix) - set(MIXES))
    if unknown:
        raise TrafficError(f"unknown mix kinds {unknown}; use {', '.join(MIXES)}")
    if any(weight < 0 for weight in mix.values()):
        raise TrafficError(f"mix weights must be zero or more, got {dict(mix)}")
    kept = {kind: float(weight) for kind, weight in mix.items() if weight > 0}
    missing = sorted(set(kept) - set(offered))
    if missing:
        raise TrafficError(
            f"{target} has no {missing} routes; for {target} use {', '.join(offered)}"
        )
    if not kept:
        raise TrafficError(f"the mix {dict(mix)} has no positive weight; e.g. {{'normal': 1}}")
    return kept


def start(stack: Stack | None = None, **knobs: Any) -> Traffic:
    """Start a background `Traffic` with `knobs` (see `Traffic`) and return it."""
    return Traffic(stack, **knobs).start()


def stop_all() -> int:
    """Stop every generator still running in this process; return how many."""
    running = [load for load in list(_running) if load.running]
    for load in running:
        load.stop()
    return len(running)


def burst(stack: Stack | None = None, requests_total: int = 200, concurrency: int = 8) -> dict:
    """Send a short burst of GETs to web; return how many got each status code."""
    base = (stack or Stack()).url("web")
    paths = list(islice(cycle(BURST_PATHS), requests_total))
    with requests.Session() as session:
        adapter = HTTPAdapter(pool_maxsize=concurrency)
        session.mount("http://", adapter)

        def get(path: str) -> int:
            try:
                return session.get(base + path, timeout=10).status_code
            except requests.RequestException:
                return 0

        with ThreadPoolExecutor(concurrency) as pool:
            codes = list(pool.map(get, paths))
    counts = dict(Counter(codes))
    log.info("burst of %d requests to %s: %s", requests_total, base, counts)
    return counts


def read_faults(stack: Stack | None, tier: str) -> dict[str, Any]:
    """Return the fault knobs of `tier` ("web" or "api")."""
    return _faults(stack, tier, "GET")


def set_faults(stack: Stack | None, tier: str, **knobs: Any) -> dict[str, Any]:
    """Set some fault knobs of `tier` (error_ratio, extra_latency_seconds, down).

    Returns:
        The tier's knobs after the change.

    Raises:
        ValueError: the tier refused the values (its message says why).
    """
    unknown = sorted(set(knobs) - set(FAULT_KEYS))
    if unknown:
        raise ValueError(f"unknown fault knobs {unknown}; use {', '.join(FAULT_KEYS)}")
    return _faults(stack, tier, "PUT", knobs)


def clear_faults(stack: Stack | None = None) -> dict[str, dict[str, Any]]:
    """Make web and api healthy again; return their knobs."""
    healthy = {"error_ratio": 0.0, "extra_latency_seconds": 0.0, "down": False}
    return {tier: set_faults(stack, tier, **healthy) for tier in TARGETS}


def _faults(
    stack: Stack | None, tier: str, method: str, body: dict | None = None
) -> dict[str, Any]:
    if tier not in TARGETS:
        raise ValueError(f"faults exist on {TARGETS}, not {tier!r}")
    url = (stack or Stack()).url(tier) + "/admin/faults"
    try:
        response = requests.request(method, url, json=body, timeout=5)
    except requests.RequestException as error:
        raise ConnectionError(f"{method} {url} failed: {error}; is the stack up?") from error
    if response.status_code == 400:
        raise ValueError(f"{tier} refused {body}: {response.json().get('error')}")
    response.raise_for_status()
    return response.json()
