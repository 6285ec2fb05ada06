"""The web service: HTML pages and order forwarding on top of the api."""

import logging
import random
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, jsonify, request
from prometheus_client import CollectorRegistry

from services.common.config import read_float, read_setting
from services.common.service import create_service_app, get_parts, precreate_series
from services.web.upstream import ApiClient, UpstreamError

log = logging.getLogger(__name__)

DEFAULT_API_URL = "http://127.0.0.1:8081"
SLOW_RANGE_SECONDS = (0.2, 0.6)

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title></head>
<body><h1>{{ title }}</h1>
{% if items is defined %}<ul>
{% for item in items %}<li><a href="/items/{{ item.id }}">{{ item.name }}</a>
  {{ "%.2f"|format(item.price_cents / 100) }} ({{ item.stock }} in stock)</li>
{% endfor %}</ul>{% endif %}
{% if item is defined %}<p>Price {{ "%.2f"|format(item.price_cents / 100) }},
  {{ item.stock }} in stock.</p><p><a href="/">All items</a></p>{% endif %}
{% if report is defined %}<p>{{ report.orders }} orders, {{ report.units }} units,
  revenue {{ "%.2f"|format(report.revenue_cents / 100) }}.</p>
<ol>{% for top in report.top_items %}<li>{{ top.name }}: {{ top.units }} units</li>
{% endfor %}</ol>{% endif %}
{% if message is defined %}<p>{{ message }}</p>{% endif %}
</body></html>
"""


def create_app(
    config: Mapping[str, Any] | None = None, registry: CollectorRegistry | None = None
) -> Flask:
    """Build the web app; config keys (env var names) override the environment."""
    app = create_service_app(__name__, config, registry)
    api = ApiClient(
        read_setting(config, "PROMLAB_API_URL", DEFAULT_API_URL),
        read_float(config, "PROMLAB_HTTP_TIMEOUT", 5.0),
        get_parts(app).registry,
    )
    app.extensions["promlab_api"] = api
    # Compiled once: render_template_string would compile the page on every request,
    # which cost more than the api call behind it.
    page = app.jinja_env.from_string(PAGE)

    @app.errorhandler(UpstreamError)
    def upstream_failed(error: UpstreamError) -> Any:
        """Answer 502 when the api fails."""
        return jsonify(error=f"upstream failure: {error}"), 502

    @app.get("/")
    def index() -> str:
        """List all items."""
        items = api.fetch_json("/api/items")["items"]
        return page.render(title="promlab shop", items=items)

    @app.get("/items/<int:item_id>")
    def show_item(item_id: int) -> Any:
        """Show one item; a 404 from the api passes through."""
        response = api.call("GET", f"/api/items/{item_id}")
        if response.status_code == 404:
            return page.render(title="Item not found", message=f"No item {item_id}."), 404
        item = response.json()
        return page.render(title=item["name"], item=item)

    @app.post("/orders")
    def create_order() -> Response:
        """Forward an order to the api and relay its answer."""
        body = request.get_json(silent=True)
        response = api.call("POST", "/api/orders", json=body)
        relayed = Response(response.content, status=response.status_code)
        relayed.content_type = response.headers.get("Content-Type", "application/json")
        return relayed

    @app.get("/report")
    def report() -> str:
        """Show the sales report the api computes."""
        data = api.fetch_json("/api/report")
        return page.render(title="Sales report", report=data)

    @app.get("/slow")
    def slow() -> str:
        """Take a random 0.2 to 0.6 s without calling the api."""
        delay = random.uniform(*SLOW_RANGE_SECONDS)
        time.sleep(delay)
        return page.render(title="Slow page", message=f"Took {delay:.2f} s.")

    precreate_series(app, ("502",))
    return app
