"""Behaviour of the api service, without and with a real database."""

import socket
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg2
import pytest
import requests
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from services.api.app import create_app

ITEM = {"id": 7, "name": "Clock Mini", "price_cents": 5330, "stock": 69}


class OneItemCatalog:
    """Serve a single item so routes run without PostgreSQL."""

    def list_items(self) -> list[dict]:
        """Return the one item."""
        return [ITEM]

    def get_item(self, item_id: int) -> dict | None:
        """Return the item when the id matches."""
        return ITEM if item_id == ITEM["id"] else None

    def create_order(self, item_id: int, quantity: int) -> dict | None:
        """Pretend to store an order for the one item."""
        if item_id != ITEM["id"]:
            return None
        return {"id": 1, "item_id": item_id, "quantity": quantity}

    def build_report(self) -> dict:
        """Return an empty report."""
        return {"orders": 0, "units": 0, "revenue_cents": 0, "top_items": []}

    def slow_query(self, seconds: float) -> float:
        """Report the time asked for, without waiting."""
        return seconds


def closed_port() -> int:
    """Return a localhost port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_api(**config):
    """Return (app, registry) for an api app with its own registry."""
    registry = CollectorRegistry()
    return create_app(config, registry), registry


def requests_count(registry, route, status, method="GET"):
    """Return http_requests_total for one series, or None if it does not exist."""
    labels = {"route": route, "method": method, "status": status}
    return registry.get_sample_value("http_requests_total", labels)


def scrape(base_url: str) -> dict[tuple[str, tuple], float]:
    """Return every sample of a /metrics page keyed by name and sorted labels."""
    text = requests.get(f"{base_url}/metrics", timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_create_app_twice_in_one_process_does_not_raise():
    create_app()
    create_app()


def test_app_serves_probes_before_the_database_exists():
    url = f"postgresql://promlab_app:x@127.0.0.1:{closed_port()}/promlab"
    app, registry = build_api(PROMLAB_DATABASE_URL=url)
    client = app.test_client()
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/metrics").status_code == 200
    assert registry.get_sample_value("api_db_pool_connections", {"state": "in_use"}) == 0
    assert registry.get_sample_value("api_db_pool_connections", {"state": "idle"}) == 0
    assert registry.get_sample_value("api_db_pool_max_connections") == 10


def test_pool_max_comes_from_config():
    _, registry = build_api(PROMLAB_DB_POOL_MAX="4", PROMLAB_DB_POOL_MIN="0")
    assert registry.get_sample_value("api_db_pool_max_connections") == 4


def test_inconsistent_pool_bounds_fail_with_both_values():
    with pytest.raises(ValueError, match="min=5 max=2"):
        build_api(PROMLAB_DB_POOL_MAX=2, PROMLAB_DB_POOL_MIN=5)


def test_unreachable_database_answers_503_and_counts_an_error():
    url = f"postgresql://promlab_app:x@127.0.0.1:{closed_port()}/promlab"
    app, registry = build_api(PROMLAB_DATABASE_URL=url)
    response = app.test_client().get("/api/items")
    assert response.status_code == 503
    assert response.json["error"].startswith("database unavailable: ")
    assert registry.get_sample_value("api_db_errors_total") == 1
    assert requests_count(registry, "/api/items", "503") == 1
    assert registry.get_sample_value("api_db_pool_connections", {"state": "in_use"}) == 0


def test_missing_database_url_is_named_in_the_503_message():
    app, _ = build_api(PROMLAB_DATABASE_URL="")
    response = app.test_client().get("/api/report")
    assert response.status_code == 503
    assert "PROMLAB_DATABASE_URL" in response.json["error"]


def test_known_routes_start_at_zero_for_200_500_and_503():
    _, registry = build_api()
    for route in ("/api/items", "/api/items/<int:item_id>", "/api/report"):
        for status in ("200", "500", "503"):
            assert requests_count(registry, route, status) == 0
    assert requests_count(registry, "/api/orders", "201", method="POST") == 0
    assert registry.get_sample_value("api_orders_created_total") == 0


def test_unmatched_paths_collapse_to_one_route_label():
    app, registry = build_api(PROMLAB_CATALOG=OneItemCatalog())
    client = app.test_client()
    for number in range(50):
        client.get(f"/api/nothing/{number}")
    assert requests_count(registry, "unmatched", "404") == 50


def test_missing_item_answers_404_with_the_id():
    app, registry = build_api(PROMLAB_CATALOG=OneItemCatalog())
    response = app.test_client().get("/api/items/8")
    assert response.status_code == 404
    assert "item 8 not found" in response.json["error"]
    assert requests_count(registry, "/api/items/<int:item_id>", "404") == 1


@pytest.mark.parametrize(
    "body",
    [
        None,
        {"item_id": 7},
        {"item_id": "7", "quantity": 1},
        {"item_id": 7, "quantity": 0},
        {"item_id": 7, "quantity": True},
        {"item_id": 7, "quantity": 10_000},
    ],
)
def test_invalid_orders_answer_400_and_are_not_counted_as_created(body):
    app, registry = build_api(PROMLAB_CATALOG=OneItemCatalog())
    response = app.test_client().post("/api/orders", json=body)
    assert response.status_code == 400
    assert "item_id" in response.json["error"] or "quantity" in response.json["error"]
    assert registry.get_sample_value("api_orders_created_total") == 0


def test_valid_order_answers_201_and_increments_the_order_counter():
    app, registry = build_api(PROMLAB_CATALOG=OneItemCatalog())
    response = app.test_client().post("/api/orders", json={"item_id": 7, "quantity": 2})
    assert response.status_code == 201
    assert registry.get_sample_value("api_orders_created_total") == 1
    assert requests_count(registry, "/api/orders", "201", method="POST") == 1


def test_error_ratio_one_fails_business_routes_with_counted_500():
    app, registry = build_api(PROMLAB_CATALOG=OneItemCatalog())
    client = app.test_client()
    client.put("/admin/faults", json={"error_ratio": 1.0})
    assert client.get("/api/items").status_code == 500
    assert client.post("/api/orders", json={"item_id": 7, "quantity": 1}).status_code == 500
    assert requests_count(registry, "/api/items", "500") == 1
    assert requests_count(registry, "/api/orders", "500", method="POST") == 1
    assert registry.get_sample_value("api_orders_created_total") == 0


class BrokenCatalog(OneItemCatalog):
    """Fail with a programming error, as a bug in a query would."""

    def list_items(self) -> list[dict]:
        """Raise instead of listing."""
        raise RuntimeError("simulated bug")


def test_slow_route_asks_for_two_to_six_tenths_and_is_counted_by_template():
    app, registry = build_api(PROMLAB_CATALOG=OneItemCatalog())
    client = app.test_client()
    waits = [client.get("/api/slow").json["seconds"] for _ in range(20)]
    assert all(0.2 <= wait <= 0.6 for wait in waits)
    assert requests_count(registry, "/api/slow", "200") == 20


def test_unhandled_errors_are_counted_as_500():
    app, registry = build_api(PROMLAB_CATALOG=BrokenCatalog())
    assert app.test_client().get("/api/items").status_code == 500
    assert requests_count(registry, "/api/items", "500") == 1


def test_down_makes_metrics_answer_503():
    app, _ = build_api(PROMLAB_CATALOG=OneItemCatalog())
    client = app.test_client()
    client.put("/admin/faults", json={"down": True})
    assert client.get("/metrics").status_code == 503
    assert client.get("/api/items").status_code == 503


def test_admin_refuses_clients_outside_the_allow_list():
    app, _ = build_api()
    response = app.test_client().put(
        "/admin/faults", json={"down": True}, environ_overrides={"REMOTE_ADDR": "192.0.2.9"}
    )
    assert response.status_code == 403
    assert "192.0.2.9" in response.json["error"]


@pytest.mark.stack
def test_stack_api_lists_seeded_items(stack):
    response = requests.get(f"{stack.url('api')}/api/items", timeout=10)
    assert response.status_code == 200
    items = response.json()["items"]
    assert items
    assert {"id", "name", "price_cents", "stock"} <= set(items[0])


@pytest.mark.stack
def test_stack_api_returns_one_item_and_404_for_unknown(stack):
    base = stack.url("api")
    first = requests.get(f"{base}/api/items", timeout=10).json()["items"][0]
    assert requests.get(f"{base}/api/items/{first['id']}", timeout=10).json() == first
    assert requests.get(f"{base}/api/items/999999", timeout=10).status_code == 404


@pytest.mark.stack
def test_stack_order_creation_increments_the_order_counter(stack):
    base = stack.url("api")
    key = ("api_orders_created_total", ())
    before = scrape(base)[key]
    item_id = requests.get(f"{base}/api/items", timeout=10).json()["items"][0]["id"]
    response = requests.post(
        f"{base}/api/orders", json={"item_id": item_id, "quantity": 1}, timeout=10
    )
    assert response.status_code == 201
    assert response.json()["item_id"] == item_id
    assert scrape(base)[key] >= before + 1


@pytest.mark.stack
def test_stack_report_aggregates_the_orders(stack):
    response = requests.get(f"{stack.url('api')}/api/report", timeout=30)
    assert response.status_code == 200
    report = response.json()
    assert report["orders"] > 0
    assert report["top_items"]
    assert report["revenue_cents"] >= report["top_items"][0]["revenue_cents"]


@pytest.mark.stack
def test_stack_slow_route_spends_its_time_in_postgresql(stack):
    url = f"{stack.url('api')}/api/slow"
    sql = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'"
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(requests.get, url, timeout=10)
        time.sleep(0.1)
        with psycopg2.connect(stack.dsn("superuser")) as conn, conn.cursor() as cur:
            cur.execute(sql)
            sleeping = cur.fetchone()[0]
        response = answer.result()
    assert response.status_code == 200
    assert 0.2 <= response.json()["seconds"] < 1.0
    assert sleeping == 1


@pytest.mark.stack
def test_stack_pool_gauges_are_exposed(stack):
    base = stack.url("api")
    requests.get(f"{base}/api/items", timeout=10)
    samples = scrape(base)
    idle = samples[("api_db_pool_connections", (("state", "idle"),))]
    in_use = samples[("api_db_pool_connections", (("state", "in_use"),))]
    maximum = samples[("api_db_pool_max_connections", ())]
    assert maximum >= 1
    assert 0 <= in_use <= maximum
    assert 0 <= idle <= maximum


@pytest.mark.stack
def test_stack_pool_keeps_its_connections_under_concurrent_requests(stack):
    url = f"{stack.url('api')}/api/items/1"
    sql = "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"

    def sessions() -> int:
        with psycopg2.connect(stack.dsn("superuser")) as conn, conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchone()[0]

    def hit(_: int) -> int:
        with requests.Session() as session:
            return sum(session.get(url, timeout=10).status_code == 200 for _ in range(25))

    before = sessions()
    with ThreadPoolExecutor(8) as pool:
        answered = sum(pool.map(hit, range(8)))
    opened = sessions() - before - 1  # less the session that counted
    assert answered == 200
    maximum = scrape(stack.url("api"))[("api_db_pool_max_connections", ())]
    assert opened <= maximum, f"{opened} new sessions for 200 requests"
