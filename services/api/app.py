"""The api service: items, orders and a report over PostgreSQL."""

import logging
import random
from collections.abc import Mapping
from typing import Any

from flask import Flask, jsonify, request
from prometheus_client import CollectorRegistry, Counter

from services.api.catalog import Catalog
from services.api.database import Database, DatabaseUnavailable
from services.common.config import read_float, read_int, read_setting
from services.common.service import create_service_app, get_parts, precreate_series

log = logging.getLogger(__name__)

MAX_QUANTITY = 1000
# The same spread as web's /slow page, spent inside PostgreSQL.
SLOW_RANGE_SECONDS = (0.2, 0.6)


def create_app(
    config: Mapping[str, Any] | None = None, registry: CollectorRegistry | None = None
) -> Flask:
    """Build the api app; config keys (env var names) override the environment."""
    app = create_service_app(__name__, config, registry)
    parts = get_parts(app)
    database = Database(
        read_setting(config, "PROMLAB_DATABASE_URL"),
        parts.registry,
        min_connections=read_int(config, "PROMLAB_DB_POOL_MIN", 1),
        max_connections=read_int(config, "PROMLAB_DB_POOL_MAX", 10),
        acquire_timeout=read_float(config, "PROMLAB_DB_ACQUIRE_TIMEOUT", 5.0),
    )
    app.extensions["promlab_database"] = database
    # Tests may hand in a stand-in catalog to exercise the routes without PostgreSQL.
    catalog = (config or {}).get("PROMLAB_CATALOG") or Catalog(database)
    orders_created = Counter(
        "api_orders_created_total", "Orders written to the database.", registry=parts.registry
    )

    @app.errorhandler(DatabaseUnavailable)
    def database_unavailable(error: DatabaseUnavailable) -> Any:
        """Answer 503 when the database cannot serve the request."""
        log.warning("database unavailable: %s", error)
        return jsonify(error=f"database unavailable: {error}"), 503

    @app.get("/api/items")
    def list_items() -> Any:
        """List every item."""
        return jsonify(items=catalog.list_items())

    @app.get("/api/items/<int:item_id>")
    def get_item(item_id: int) -> Any:
        """Return one item or 404."""
        item = catalog.get_item(item_id)
        if item is None:
            return jsonify(error=f"item {item_id} not found; GET /api/items lists ids"), 404
        return jsonify(item)

    @app.post("/api/orders")
    def create_order() -> Any:
        """Record an order for an existing item."""
        body = request.get_json(silent=True)
        problem = _check_order(body)
        if problem:
            return jsonify(error=problem), 400
        order = catalog.create_order(body["item_id"], body["quantity"])
        if order is None:
            message = f"item {body['item_id']} not found; GET /api/items lists ids"
            return jsonify(error=message), 404
        orders_created.inc()
        return jsonify(order), 201

    @app.get("/api/report")
    def report() -> Any:
        """Return totals over all orders and the best-selling items."""
        return jsonify(catalog.build_report())

    @app.get("/api/slow")
    def slow() -> Any:
        """Run a 0.2 to 0.6 s query: a slow request that holds a pooled connection."""
        seconds = catalog.slow_query(random.uniform(*SLOW_RANGE_SECONDS))
        return jsonify(seconds=round(seconds, 3))

    precreate_series(app, ("503",))
    for status in ("201", "400", "404"):
        parts.metrics.requests.labels("/api/orders", "POST", status)
    return app


def _check_order(body: Any) -> str | None:
    example = 'send JSON like {"item_id": 1, "quantity": 2}'
    if not isinstance(body, dict):
        return f"order body must be a JSON object; {example}"
    for field, upper in (("item_id", 2**31 - 1), ("quantity", MAX_QUANTITY)):
        value = body.get(field)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= upper:
            return f"{field} must be an integer in [1, {upper}], got {value!r}; {example}"
    return None
