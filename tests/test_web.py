"""Behaviour of the web service: metrics, fault knobs and calls to the api."""

import random
import socket
import threading
import uuid

import pytest
from flask import Flask
from prometheus_client import CollectorRegistry
from werkzeug.serving import make_server

from services.api.app import create_app as create_api_app
from services.common.config import read_setting
from services.common.metrics import is_counted
from services.web.app import create_app as create_web_app

ITEMS = [
    {"id": 1, "name": "Lamp Mini", "price_cents": 932, "stock": 47},
    {"id": 2, "name": "Mug Mini", "price_cents": 1665, "stock": 84},
]


class FakeCatalog:
    """Serve two fixed items so the api runs without PostgreSQL."""

    def __init__(self) -> None:
        """Start with no orders."""
        self.orders: list[dict] = []

    def list_items(self) -> list[dict]:
        """Return the fixed items."""
        return ITEMS

    def get_item(self, item_id: int) -> dict | None:
        """Return one fixed item or None."""
        return next((item for item in ITEMS if item["id"] == item_id), None)

    def create_order(self, item_id: int, quantity: int) -> dict | None:
        """Record an order in memory."""
        if self.get_item(item_id) is None:
            return None
        order = {"id": len(self.orders) + 1, "item_id": item_id, "quantity": quantity}
        self.orders.append(order)
        return order

    def build_report(self) -> dict:
        """Return an empty report."""
        return {"orders": 0, "units": 0, "revenue_cents": 0, "top_items": []}


def closed_port_url() -> str:
    """Return a localhost URL on a port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def serve():
    """Run WSGI apps on free localhost ports for the length of a test."""
    servers = []

    def start(app) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def build_web(api_url: str | None = None, **config):
    """Return (app, registry) for a web app with its own registry."""
    registry = CollectorRegistry()
    config.setdefault("PROMLAB_API_URL", api_url or closed_port_url())
    config.setdefault("PROMLAB_HTTP_TIMEOUT", 2)
    return create_web_app(config, registry), registry


def requests_count(registry, route, status, method="GET"):
    """Return http_requests_total for one series, or None if it does not exist."""
    labels = {"route": route, "method": method, "status": status}
    return registry.get_sample_value("http_requests_total", labels)


def counted_routes(registry) -> set[str]:
    """Return the distinct route label values of http_requests_total."""
    return {
        sample.labels["route"]
        for metric in registry.collect()
        if metric.name == "http_requests"
        for sample in metric.samples
        if sample.name == "http_requests_total"
    }


def test_create_app_twice_in_one_process_does_not_raise():
    first = create_web_app({"PROMLAB_API_URL": closed_port_url()})
    second = create_web_app({"PROMLAB_API_URL": closed_port_url()})
    assert first is not second


def test_known_routes_start_at_zero_for_200_500_and_502():
    _, registry = build_web()
    for status in ("200", "500", "502"):
        assert requests_count(registry, "/items/<int:item_id>", status) == 0
        assert requests_count(registry, "/orders", status, method="POST") == 0
    assert registry.get_sample_value("web_upstream_requests_total", {"status": "error"}) == 0


def test_unmatched_paths_collapse_to_one_route_label():
    app, registry = build_web()
    client = app.test_client()
    for _ in range(100):
        assert client.get(f"/{uuid.uuid4().hex}/{random.randint(0, 10**9)}").status_code == 404
    assert requests_count(registry, "unmatched", "404") == 100


def test_random_item_ids_and_404s_keep_route_cardinality_bounded():
    app, registry = build_web()
    client = app.test_client()
    routes = [r.rule for r in app.url_map.iter_rules() if is_counted(r.rule)]
    for _ in range(1000):
        client.get(f"/items/{random.randint(1, 10**12)}")
    for _ in range(100):
        client.get(f"/no-such-page/{uuid.uuid4().hex}")
    assert len(counted_routes(registry)) <= len(routes) + 1
    assert requests_count(registry, "/items/<int:item_id>", "502") == 1000


def test_metrics_healthz_and_admin_are_not_counted():
    app, registry = build_web()
    client = app.test_client()
    assert client.get("/metrics").status_code == 200
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/admin/faults").status_code == 200
    assert counted_routes(registry).isdisjoint({"/metrics", "/healthz", "/admin/faults"})


def test_unknown_http_methods_share_one_method_label():
    app, registry = build_web()
    client = app.test_client()
    client.open("/slow", method="BREW")
    client.open("/slow", method="MKCOFFEE")
    assert requests_count(registry, "unmatched", "405", method="other") == 2


def test_admin_faults_reports_healthy_defaults():
    app, _ = build_web()
    response = app.test_client().get("/admin/faults")
    assert response.json == {"error_ratio": 0.0, "extra_latency_seconds": 0.0, "down": False}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"error_ratio": 1.5}, "error_ratio must be in [0, 1]"),
        ({"error_ratio": "half"}, "error_ratio must be a number"),
        ({"extra_latency_seconds": 31}, "extra_latency_seconds must be in [0, 30]"),
        ({"extra_latency_seconds": -1}, "extra_latency_seconds must be in [0, 30]"),
        ({"down": "yes"}, "down must be true or false"),
        ({"explode": True}, "unknown fault keys ['explode']"),
        ([1, 2], "body must be a JSON object"),
    ],
)
def test_admin_rejects_invalid_fault_updates_with_a_message(body, fragment):
    app, registry = build_web()
    response = app.test_client().put("/admin/faults", json=body)
    assert response.status_code == 400
    assert fragment in response.json["error"]
    assert registry.get_sample_value("promlab_fault_error_ratio") == 0


def test_admin_rejects_a_body_that_is_not_json():
    app, _ = build_web()
    response = app.test_client().put("/admin/faults", data="down")
    assert response.status_code == 400
    assert "application/json" in response.json["error"]


def test_admin_refuses_clients_outside_the_allow_list():
    app, _ = build_web()
    client = app.test_client()
    outsider = {"REMOTE_ADDR": "10.1.2.3"}
    response = client.put("/admin/faults", json={"down": True}, environ_overrides=outsider)
    assert response.status_code == 403
    assert "10.1.2.3" in response.json["error"]
    assert "PROMLAB_ADMIN_ALLOW" in response.json["error"]
    assert client.get("/admin/faults").json["down"] is False


def test_admin_allow_list_comes_from_config():
    app, _ = build_web(PROMLAB_ADMIN_ALLOW="10.1.2.3, 10.1.2.4")
    client = app.test_client()
    allowed = client.get("/admin/faults", environ_overrides={"REMOTE_ADDR": "10.1.2.4"})
    assert allowed.status_code == 200
    assert client.get("/admin/faults").status_code == 403


def test_admin_allow_list_accepts_a_container_network():
    app, _ = build_web(PROMLAB_ADMIN_ALLOW="127.0.0.1,172.16.0.0/12")
    client = app.test_client()
    inside = client.get("/admin/faults", environ_overrides={"REMOTE_ADDR": "172.18.0.1"})
    outside = client.get("/admin/faults", environ_overrides={"REMOTE_ADDR": "192.168.1.9"})
    assert inside.status_code == 200
    assert outside.status_code == 403


def test_a_bad_allow_list_entry_is_named_at_start():
    with pytest.raises(ValueError, match="PROMLAB_ADMIN_ALLOW"):
        build_web(PROMLAB_ADMIN_ALLOW="127.0.0.1,not-an-address")


def test_settings_can_come_from_a_secret_file(tmp_path, monkeypatch):
    secret = tmp_path / "api_url"
    secret.write_text("http://127.0.0.1:1\n")
    monkeypatch.delenv("PROMLAB_API_URL", raising=False)
    monkeypatch.setenv("PROMLAB_API_URL_FILE", str(secret))
    assert read_setting(None, "PROMLAB_API_URL") == "http://127.0.0.1:1"


def test_partial_update_keeps_other_knobs_and_sets_gauges():
    app, registry = build_web()
    client = app.test_client()
    client.put("/admin/faults", json={"extra_latency_seconds": 0.5})
    state = client.put("/admin/faults", json={"error_ratio": 0.25}).json
    assert state == {"error_ratio": 0.25, "extra_latency_seconds": 0.5, "down": False}
    assert registry.get_sample_value("promlab_fault_error_ratio") == 0.25
    assert registry.get_sample_value("promlab_fault_extra_latency_seconds") == 0.5
    assert registry.get_sample_value("promlab_fault_down") == 0


def test_error_ratio_one_fails_business_routes_with_counted_500():
    app, registry = build_web()
    client = app.test_client()
    client.put("/admin/faults", json={"error_ratio": 1})
    for _ in range(5):
        response = client.get("/slow")
        assert response.status_code == 500
        assert response.json == {"error": "injected failure"}
    assert requests_count(registry, "/slow", "500") == 5
    assert client.get("/healthz").status_code == 200
    assert client.get("/metrics").status_code == 200


def test_extra_latency_shows_in_the_duration_histogram():
    app, registry = build_web()
    client = app.test_client()
    client.put("/admin/faults", json={"extra_latency_seconds": 0.1, "error_ratio": 1})
    client.get("/slow")
    labels = {"route": "/slow", "method": "GET"}
    assert registry.get_sample_value("http_request_duration_seconds_sum", labels) >= 0.1
    fast_bucket = dict(labels, le="0.05")
    assert registry.get_sample_value("http_request_duration_seconds_bucket", fast_bucket) == 0


def test_down_makes_metrics_and_healthz_answer_503_but_not_admin():
    app, registry = build_web()
    client = app.test_client()
    client.put("/admin/faults", json={"down": True})
    assert registry.get_sample_value("promlab_fault_down") == 1
    assert client.get("/metrics").status_code == 503
    assert client.get("/healthz").status_code == 503
    assert client.get("/slow").status_code == 503
    assert client.get("/admin/faults").status_code == 200
    client.put("/admin/faults", json={"down": False})
    assert client.get("/metrics").status_code == 200


def test_slow_page_takes_between_two_and_six_tenths_of_a_second():
    app, registry = build_web()
    assert app.test_client().get("/slow").status_code == 200
    labels = {"route": "/slow", "method": "GET"}
    duration = registry.get_sample_value("http_request_duration_seconds_sum", labels)
    assert 0.2 <= duration < 1.0
    assert registry.get_sample_value("web_upstream_requests_total", {"status": "200"}) == 0


def test_unreachable_api_makes_web_answer_502():
    app, registry = build_web(closed_port_url())
    client = app.test_client()
    for path in ("/", "/items/1", "/report"):
        response = client.get(path)
        assert response.status_code == 502
        assert "PROMLAB_API_URL" in response.json["error"]
    assert client.post("/orders", json={"item_id": 1, "quantity": 1}).status_code == 502
    assert requests_count(registry, "/", "502") == 1
    assert registry.get_sample_value("web_upstream_requests_total", {"status": "error"}) == 4


def test_web_renders_items_from_a_real_api(serve):
    api_registry = CollectorRegistry()
    api_url = serve(create_api_app({"PROMLAB_CATALOG": FakeCatalog()}, api_registry))
    app, registry = build_web(api_url)
    client = app.test_client()
    index = client.get("/")
    assert index.status_code == 200
    assert "Lamp Mini" in index.text and "Mug Mini" in index.text
    assert "9.32" in client.get("/items/1").text
    assert requests_count(registry, "/", "200") == 1
    assert registry.get_sample_value("web_upstream_requests_total", {"status": "200"}) == 2
    assert requests_count(api_registry, "/api/items", "200") == 1


def test_item_names_from_the_api_are_html_escaped(serve):
    class HostileCatalog(FakeCatalog):
        def get_item(self, item_id: int) -> dict | None:
            return {**ITEMS[0], "name": "<script>alert(1)</script>"}

    api_url = serve(create_api_app({"PROMLAB_CATALOG": HostileCatalog()}, CollectorRegistry()))
    app, _ = build_web(api_url)
    page = app.test_client().get("/items/1").text
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_missing_item_404_passes_through_from_the_api(serve):
    api_url = serve(create_api_app({"PROMLAB_CATALOG": FakeCatalog()}, CollectorRegistry()))
    app, registry = build_web(api_url)
    assert app.test_client().get("/items/999").status_code == 404
    assert requests_count(registry, "/items/<int:item_id>", "404") == 1
    assert registry.get_sample_value("web_upstream_requests_total", {"status": "404"}) == 1


def test_orders_are_forwarded_and_the_api_answer_relayed(serve):
    api_registry = CollectorRegistry()
    catalog = FakeCatalog()
    api_url = serve(create_api_app({"PROMLAB_CATALOG": catalog}, api_registry))
    app, _ = build_web(api_url)
    client = app.test_client()
    created = client.post("/orders", json={"item_id": 2, "quantity": 3})
    assert created.status_code == 201
    assert created.json["item_id"] == 2
    assert catalog.orders == [{"id": 1, "item_id": 2, "quantity": 3}]
    assert api_registry.get_sample_value("api_orders_created_total") == 1
    rejected = client.post("/orders", json={"item_id": 2, "quantity": 0})
    assert rejected.status_code == 400
    assert "quantity" in rejected.json["error"]


def test_api_failures_turn_into_502_on_web(serve):
    api_app = create_api_app({}, CollectorRegistry())
    api_url = serve(api_app)
    api_app.test_client().put("/admin/faults", json={"error_ratio": 1})
    app, registry = build_web(api_url)
    assert app.test_client().get("/report").status_code == 502
    assert registry.get_sample_value("web_upstream_requests_total", {"status": "500"}) == 1
    assert requests_count(registry, "/report", "502") == 1


def test_unexpected_api_answers_on_listing_pages_become_502(serve):
    inbox_like = Flask("not_the_api")
    api_url = serve(inbox_like)
    app, registry = build_web(api_url)
    response = app.test_client().get("/")
    assert response.status_code == 502
    assert "expected 200" in response.json["error"]
    assert registry.get_sample_value("web_upstream_requests_total", {"status": "404"}) == 1
