"""services/db/init.sql: a second run succeeds and the roles get what they need."""

import shutil
import subprocess
from pathlib import Path

import psycopg2
import pytest

INIT_SQL = Path(__file__).resolve().parents[1] / "services" / "db" / "init.sql"
PSQL_FALLBACK = "/usr/lib/postgresql/15/bin/psql"

pytestmark = pytest.mark.stack


def run_psql(dsn: str, script: str) -> subprocess.CompletedProcess:
    """Feed `script` to psql as the superuser, stopping at the first error."""
    psql = shutil.which("psql") or PSQL_FALLBACK
    variables = ["ON_ERROR_STOP=1", "app_password=unused", "monitor_password=unused"]
    args = [psql, "-X", "-q", "-d", dsn]
    for variable in variables:
        args += ["-v", variable]
    return subprocess.run(
        args, input=script, capture_output=True, text=True, timeout=120, check=False
    )


def query_one(dsn: str, sql: str):
    """Return the first column of the first row of `sql`."""
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql)
        value = cur.fetchone()[0]
    conn.close()
    return value


def test_second_run_of_init_sql_succeeds_and_adds_no_rows(stack):
    dsn = stack.dsn("superuser")
    # Roll the rerun back so the stack keeps its real passwords and data.
    script = "\n".join(
        ["BEGIN;", f"\\i {INIT_SQL}", "SELECT 'items=' || count(*) FROM app.items;", "ROLLBACK;"]
    )
    result = run_psql(dsn, script)
    assert result.returncode == 0, result.stderr
    assert "ERROR" not in result.stderr
    assert "items=50" in result.stdout


def test_monitor_role_is_a_member_of_pg_monitor(stack):
    sql = "SELECT pg_has_role('promlab_monitor', 'pg_monitor', 'MEMBER')"
    assert query_one(stack.dsn("superuser"), sql) is True


def test_app_role_can_select_items(stack):
    dsn = stack.dsn("superuser")
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SET ROLE promlab_app")
        cur.execute("SELECT count(*) FROM app.items")
        assert cur.fetchone()[0] > 0
        cur.execute("RESET ROLE")
    conn.close()


def test_load_routine_holds_the_connection_then_scans(stack):
    sql = "SELECT app.simulate_load(0.05)"
    assert query_one(stack.dsn("superuser"), sql) > 0
