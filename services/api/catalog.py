"""The queries the api runs against the app schema."""

import time
from typing import Any

from services.api.database import Database

ITEM_COLUMNS = ("id", "name", "price_cents", "stock")
REPORT_LIMIT = 10


def _as_dict(columns: tuple[str, ...], row: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(columns, row, strict=True))


class Catalog:
    """Read items, record orders and build the sales report."""

    def __init__(self, database: Database) -> None:
        """Use `database` for every query."""
        self.database = database

    def list_items(self) -> list[dict[str, Any]]:
        """Return every item, ordered by id."""
        with self.database.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT id, name, price_cents, stock FROM app.items ORDER BY id")
            return [_as_dict(ITEM_COLUMNS, row) for row in cur.fetchall()]

    def get_item(self, item_id: int) -> dict[str, Any] | None:
        """Return one item, or None when it does not exist."""
        with self.database.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT id, name, price_cents, stock FROM app.items WHERE id = %s", (item_id,)
            )
            row = cur.fetchone()
        return _as_dict(ITEM_COLUMNS, row) if row else None

    def create_order(self, item_id: int, quantity: int) -> dict[str, Any] | None:
        """Record an order and return it, or None when the item does not exist."""
        with self.database.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO app.orders (item_id, quantity) "
                "SELECT id, %s FROM app.items WHERE id = %s "
                "RETURNING id, item_id, quantity, created_at",
                (quantity, item_id),
            )
            row = cur.fetchone()
        if row is None:
            return None
        order = _as_dict(("id", "item_id", "quantity", "created_at"), row)
        order["created_at"] = order["created_at"].isoformat()
        return order

    def slow_query(self, seconds: float) -> float:
        """Run a query that takes `seconds` in PostgreSQL; return how long it took."""
        with self.database.connection() as conn, conn.cursor() as cur:
            began = time.monotonic()
            cur.execute("SELECT pg_sleep(%s)", (seconds,))
            return time.monotonic() - began

    def build_report(self) -> dict[str, Any]:
        """Aggregate all orders into totals and the best-selling items."""
        with self.database.connection() as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT count(*), coalesce(sum(o.quantity), 0), "
                "coalesce(sum(o.quantity * i.price_cents), 0) "
                "FROM app.orders o JOIN app.items i ON i.id = o.item_id"
            )
            orders, units, revenue = cur.fetchone()
            cur.execute(
                "SELECT i.id, i.name, count(o.id), coalesce(sum(o.quantity), 0), "
                "coalesce(sum(o.quantity * i.price_cents), 0) "
                "FROM app.items i LEFT JOIN app.orders o ON o.item_id = i.id "
                "GROUP BY i.id, i.name ORDER BY 5 DESC, i.id LIMIT %s",
                (REPORT_LIMIT,),
            )
            columns = ("id", "name", "orders", "units", "revenue_cents")
            top = [_as_dict(columns, row) for row in cur.fetchall()]
        return {"orders": orders, "units": units, "revenue_cents": revenue, "top_items": top}
