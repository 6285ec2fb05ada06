"""A lazily created, bounded PostgreSQL connection pool with gauges."""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
from prometheus_client import CollectorRegistry, Counter, Gauge
from psycopg2.extensions import connection as Connection
from psycopg2.pool import ThreadedConnectionPool

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 3


class DatabaseUnavailable(Exception):
    """The database could not serve a request; the message says why."""


class Database:
    """Hand out pooled connections and report pool usage as metrics."""

    def __init__(
        self,
        dsn: str | None,
        registry: CollectorRegistry,
        min_connections: int = 1,
        max_connections: int = 10,
        acquire_timeout: float = 5.0,
    ) -> None:
        """Prepare the pool settings; no connection is opened until first use."""
        if not 0 <= min_connections <= max_connections or max_connections < 1:
            raise ValueError(
                f"need 0 <= PROMLAB_DB_POOL_MIN <= PROMLAB_DB_POOL_MAX and a max of at "
                f"least 1, got min={min_connections} max={max_connections}"
            )
        self.dsn = dsn
        self.min_connections = min_connections
        self.max_connections = max_connections
        self.acquire_timeout = acquire_timeout
        self._pool: ThreadedConnectionPool | None = None
        self._pool_lock = threading.Lock()
        # The psycopg2 pool raises instead of waiting when full; the semaphore makes
        # callers queue, so saturation shows up as latency before it becomes errors.
        self._slots = threading.BoundedSemaphore(max_connections)
        self._in_use = 0
        self._count_lock = threading.Lock()
        self.errors = Counter(
            "api_db_errors_total",
            "Database operations that failed (connect, query or pool exhaustion).",
            registry=registry,
        )
        connections = Gauge(
            "api_db_pool_connections",
            "Connections of the api's database pool, by state.",
            ["state"],
            registry=registry,
        )
        connections.labels("in_use").set_function(lambda: self._in_use)
        connections.labels("idle").set_function(self._count_idle)
        Gauge(
            "api_db_pool_max_connections",
            "Upper bound of the api's database pool.",
            registry=registry,
        ).set(max_connections)

    def _count_idle(self) -> int:
        pool = self._pool
        # psycopg2 keeps idle connections in a private list; no public counter exists.
        return len(getattr(pool, "_pool", ())) if pool is not None else 0

    def _ensure_pool(self) -> ThreadedConnectionPool:
        if self._pool is not None:
            return self._pool
        if not self.dsn:
            raise DatabaseUnavailable(
                "PROMLAB_DATABASE_URL is not set; point it at the promlab database"
            )
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadedConnectionPool(
                    self.min_connections,
                    self.max_connections,
                    self.dsn,
                    connect_timeout=CONNECT_TIMEOUT_SECONDS,
                    application_name="promlab-api",
                )
                # psycopg2 closes every returned connection beyond `minconn`, so under
                # concurrency each extra request would open and close a PostgreSQL
                # session of its own (a connection storm of the pool's making, and five
                # times slower). Connections it opened are kept, up to the maximum.
                self._pool.minconn = self.max_connections
                log.info("database pool ready (max %d)", self.max_connections)
        return self._pool

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """Lend a connection inside a transaction; raise DatabaseUnavailable on failure."""
        if not self._slots.acquire(timeout=self.acquire_timeout):
            self.errors.inc()
            raise DatabaseUnavailable(
                f"all {self.max_connections} pooled connections busy for "
                f"{self.acquire_timeout:g}s; raise PROMLAB_DB_POOL_MAX or reduce load"
            )
        try:
            with self._borrow() as conn:
                yield conn
        finally:
            self._slots.release()

    @contextmanager
    def _borrow(self) -> Iterator[Connection]:
        try:
            pool = self._ensure_pool()
            conn = pool.getconn()
        except (psycopg2.Error, DatabaseUnavailable) as error:
            self.errors.inc()
            raise DatabaseUnavailable(_describe(error)) from error
        with self._count_lock:
            self._in_use += 1
        broken = False
        try:
            with conn:
                yield conn
        except psycopg2.Error as error:
            self.errors.inc()
            broken = conn.closed != 0 or isinstance(error, psycopg2.OperationalError)
            raise DatabaseUnavailable(_describe(error)) from error
        finally:
            with self._count_lock:
                self._in_use -= 1
            pool.putconn(conn, close=broken)

    def close(self) -> None:
        """Close every pooled connection."""
        with self._pool_lock:
            if self._pool is not None:
                self._pool.closeall()
                self._pool = None


def _describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
