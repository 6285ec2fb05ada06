"""The local stack: it starts, reports, is reused, and stops without leftovers."""

import re
import signal
import socket

import psutil
import pytest
import requests

from conftest import leftovers
from promlab import binaries, ports
from promlab.errors import (
    BinaryNotFoundError,
    PortInUseError,
    ServiceNotReadyError,
    StackError,
)
from promlab.stack import DEFAULT_PORTS, JOBS, SERVICES, Stack

pytestmark = pytest.mark.stack


def prom_value(stack: Stack, expr: str) -> float | None:
    """Return the first sample of an instant query, or None when it is empty."""
    answer = requests.get(
        f"{stack.url('prometheus')}/api/v1/query", params={"query": expr}, timeout=10
    ).json()
    result = answer["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def test_every_job_is_scraped_and_up(stack: Stack) -> None:
    targets = stack.wait_targets_up()
    assert set(targets["job"]) == set(JOBS.values())
    assert (targets["health"] == "up").all()
    assert (targets["last_error"] == "").all()
    # C24: the exporter is not only up, it reads the database.
    assert prom_value(stack, "max(pg_up)") == 1
    assert prom_value(stack, "count(pg_stat_database_xact_commit)") >= 1


def test_status_shows_every_service_running_on_loopback(stack: Stack) -> None:
    status = stack.status()
    assert list(status["service"]) == list(SERVICES)
    assert (status["state"] == "RUNNING").all()
    assert status["address"].str.startswith("127.0.0.1:").all()


def test_second_up_reuses_the_running_services(stack: Stack) -> None:
    before = dict(zip(stack.status()["service"], stack.status()["pid"], strict=True))
    again = Stack().up()
    after = dict(zip(again.status()["service"], again.status()["pid"], strict=True))
    assert again.ports == stack.ports
    assert after == before


def test_postgres_exporter_logs_in_with_a_password_that_needs_quoting(stack: Stack) -> None:
    password = stack.dsn("monitor").split("@127.0.0.1")[0]
    # The generated passwords hold @ ! : so every run exercises the URL quoting.
    assert "%40%21%3A" in password
    assert prom_value(stack, 'pg_up{job="postgres"}') == 1
    assert prom_value(stack, 'count(pg_stat_database_numbackends{datname="promlab"})') == 1


def test_web_serves_a_page_built_from_the_database(stack: Stack) -> None:
    page = requests.get(stack.url("web") + "/", timeout=10)
    assert page.status_code == 200
    metrics = requests.get(stack.url("api") + "/metrics", timeout=10).text
    assert 'http_requests_total{method="GET",route="/api/items",status="200"}' in metrics


def test_logs_return_what_a_service_wrote(stack: Stack) -> None:
    assert "Server is ready to receive web requests" in stack.logs("prometheus", 400)
    with pytest.raises(ValueError, match="unknown service 'grafana'"):
        stack.logs("grafana")


def test_unknown_role_is_rejected_with_the_known_ones(stack: Stack) -> None:
    with pytest.raises(ValueError, match="app"):
        stack.dsn("admin")


def test_port_in_use_names_the_port_the_service_and_the_fix(run_dir) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        wanted = {name: ports.free_port() for name in DEFAULT_PORTS} | {"prometheus": taken}
        stack = Stack(run_dir=run_dir, ports=wanted)
        with pytest.raises(PortInUseError) as caught:
            stack.up()
    message = str(caught.value)
    assert f"port {taken} for prometheus" in message
    assert "PROMLAB_PORT_PROMETHEUS" in message
    assert "ports='auto'" in message
    assert not stack.is_running()


def test_missing_binary_lists_where_it_looked_and_how_to_install(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BinaryNotFoundError) as caught:
        binaries.find_binary("alertmanager")
    message = str(caught.value)
    assert "prometheus-alertmanager or alertmanager" in message
    assert str(tmp_path) in message
    assert "apt-get install --no-install-recommends prometheus-alertmanager" in message


def test_missing_binary_stops_up_before_anything_starts(monkeypatch, tmp_path, run_dir) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    stack = Stack(run_dir=run_dir, ports="auto")
    with pytest.raises(BinaryNotFoundError, match="prometheus"):
        stack.up()
    assert leftovers(stack) == []


def test_wrong_binary_variable_names_the_usual_places_and_the_install(monkeypatch) -> None:
    monkeypatch.setenv("PROMLAB_PROMETHEUS_BIN", "/nonexistent/prometheus")
    with pytest.raises(BinaryNotFoundError) as caught:
        binaries.find_binary("prometheus")
    message = str(caught.value)
    assert "PROMLAB_PROMETHEUS_BIN=/nonexistent/prometheus is not an executable" in message
    assert "unset it to use /usr/bin/prometheus" in message and "/usr/sbin" in message


@pytest.mark.parametrize(
    ("ports", "message"),
    [
        ({"prometheus": 0}, "ports['prometheus']=0 is not a port number"),
        ({"prometheus": 70000}, "ports['prometheus']=70000 is not a port number"),
        ({"api": 9090, "prometheus": 9090}, "api and prometheus would both listen on port 9090"),
    ],
    ids=["zero", "too-high", "shared"],
)
def test_impossible_ports_are_refused_before_anything_starts(run_dir, ports, message) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Stack(run_dir=run_dir, ports=ports)


@pytest.mark.slow
def test_service_exiting_at_start_shows_its_log_and_stops_the_rest(run_dir, tmp_path) -> None:
    broken = tmp_path / "alertmanager.yml"
    broken.write_text("route:\n  receiver: nowhere\nreceivers: []\n")
    stack = Stack(run_dir=run_dir, ports="auto", alertmanager_config=broken)
    with pytest.raises(ServiceNotReadyError) as caught:
        stack.up()
    assert caught.value.service == "alertmanager"
    assert "nowhere" in caught.value.log_tail
    assert "exited while starting" in str(caught.value)
    assert leftovers(stack) == []
    stack.down()
    stack.down()


@pytest.mark.slow
def test_down_after_a_killed_supervisor_reaps_every_process(run_dir) -> None:
    stack = Stack(run_dir=run_dir, ports="auto").up(wait_targets=False)
    supervisord = psutil.Process(int((run_dir / "supervisord.pid").read_text()))
    supervisord.send_signal(signal.SIGKILL)
    supervisord.wait(10)
    assert leftovers(stack), "the services should have outlived their supervisor"
    status = Stack(run_dir=run_dir).status().set_index("service")
    assert set(status["state"]) == {"ORPHANED"}
    assert status.loc["prometheus", "address"] == f"127.0.0.1:{stack.ports['prometheus']}"
    Stack(run_dir=run_dir).down()
    assert leftovers(stack) == []


@pytest.mark.slow
def test_stack_started_again_keeps_its_metrics_history_and_database(run_dir) -> None:
    """C25: Prometheus and PostgreSQL come back on the data of the last run."""
    stack = Stack(run_dir=run_dir, ports="auto").up()
    order = {"item_id": 1, "quantity": 1}
    assert requests.post(f"{stack.url('api')}/api/orders", json=order, timeout=10).ok
    seen = 'count_over_time(up{job="prometheus"}[1h])'
    before = prom_value(stack, seen)
    orders = requests.get(f"{stack.url('api')}/api/report", timeout=10).json()["orders"]
    stack.down()

    again = Stack(run_dir=run_dir, ports="auto").up(wait_targets=False)
    ready = requests.get(f"{again.url('prometheus')}/-/ready", timeout=10)
    assert ready.status_code == 200
    assert before is not None and (prom_value(again, seen) or 0) >= before
    report = requests.get(f"{again.url('api')}/api/report", timeout=10).json()
    assert report["orders"] == orders
    again.down()
    assert leftovers(again) == []


@pytest.mark.slow
def test_context_manager_starts_and_stops(run_dir) -> None:
    with Stack(run_dir=run_dir, ports="auto") as stack:
        assert requests.get(stack.url("inbox") + "/healthz", timeout=5).status_code == 200
    assert leftovers(stack) == []
    assert not stack.is_running()


def test_refused_reload_names_the_cause_and_keeps_the_old_rules(stack: Stack) -> None:
    broken = stack.rules_dir / "zz-broken.rules.yml"
    broken.write_text(
        "groups:\n  - name: broken\n    rules:\n      - record: ok:metric\n        expr: sum(\n"
    )
    try:
        with pytest.raises(StackError) as caught:
            stack.reload()
        assert "its log says" in str(caught.value)
        assert "zz-broken" in str(caught.value)
        assert last_reload_ok(stack) is False
    finally:
        broken.unlink()
        stack.reload()
    assert last_reload_ok(stack) is True


def last_reload_ok(stack: Stack) -> bool:
    """Read Prometheus's own reload gauge straight from its /metrics."""
    text = requests.get(f"{stack.url('prometheus')}/metrics", timeout=10).text
    gauge = "prometheus_config_last_reload_successful "
    line = next(x for x in text.splitlines() if x.startswith(gauge))
    return line.split()[-1] == "1"


@pytest.mark.slow
def test_lab_runs_without_node_exporter_and_says_why(run_dir, monkeypatch) -> None:
    """C26: no node_exporter (turned off, or not installed) leaves out job node only."""
    monkeypatch.setenv("PROMLAB_NODE_EXPORTER", "off")
    stack = Stack(run_dir=run_dir, ports="auto").up()
    assert "PROMLAB_NODE_EXPORTER=off" in stack.skipped()["node_exporter"]
    assert "node" not in stack.jobs() and set(stack.jobs()) == set(JOBS.values()) - {"node"}
    assert set(stack.targets()["job"]) == set(stack.jobs())
    status = stack.status().set_index("service")
    assert status.loc["node_exporter", "state"] == "SKIPPED"
    assert status.drop("node_exporter")["state"].eq("RUNNING").all()
    assert ports.is_free(stack.ports["node_exporter"])
    stack.down()
    assert leftovers(stack) == []


def test_a_missing_node_exporter_is_left_out_with_the_install_hint(monkeypatch) -> None:
    from promlab import stack as stack_module

    original = binaries.find_binary

    def find(name: str):
        if name == "node_exporter":
            raise BinaryNotFoundError("node_exporter is not installed: looked for ...")
        return original(name)

    monkeypatch.delenv("PROMLAB_NODE_EXPORTER", raising=False)
    monkeypatch.setattr(stack_module.binaries, "find_binary", find)
    left_out = stack_module._optional_services_left_out()
    assert left_out["node_exporter"].startswith("node_exporter is not installed")
    assert "no machine metrics (job node)" in left_out["node_exporter"]


@pytest.mark.slow
def test_restart_for_other_settings_keeps_the_running_profile(run_dir, monkeypatch) -> None:
    Stack(run_dir=run_dir, ports="auto", profile="production").up(wait_targets=False)
    monkeypatch.setenv("PROMLAB_NODE_EXPORTER", "off")
    again = Stack(run_dir=run_dir).up(wait_targets=False)
    assert again.profile == "production" and "node_exporter" in again.skipped()
    config = (run_dir / "config" / "prometheus.yml").read_text()
    assert "scrape_interval: 15s" in config
    assert '"profile": "production"' in (run_dir / "stack.json").read_text()
    again.down()


@pytest.mark.parametrize(
    ("environment", "ports"),
    [({"PROMLAB_NODE_EXPORTER": "maybe"}, None), ({}, {"web": 0})],
    ids=["node-setting", "port-zero"],
)
def test_a_bad_setting_leaves_the_running_stack_alone(stack, monkeypatch, environment, ports):
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    pids = set(stack.status()["pid"])
    with pytest.raises(ValueError):
        Stack(run_dir=stack.run_dir, ports=ports).up()
    assert stack.is_running() and set(stack.status()["pid"]) == pids


def test_shared_port_hint_names_a_port_no_service_uses(run_dir) -> None:
    with pytest.raises(ValueError) as caught:
        Stack(run_dir=run_dir, ports={"web": 8081})
    message = str(caught.value)
    assert "api and web would both listen on port 8081" in message or "web and api" in message
    suggested = int(re.search(r'Stack\(ports=\{"\w+": (\d+)\}\)', message)[1])
    assert suggested not in DEFAULT_PORTS.values()
    assert "PROMLAB_PORT_" in message


@pytest.mark.parametrize("value", ["9_090", "+9091", "\u0669\u0660\u0669\u0660", "9090.0"])
def test_port_numbers_are_plain_digits(run_dir, value) -> None:
    with pytest.raises(ValueError, match="is not a port number"):
        Stack(run_dir=run_dir, ports={"prometheus": value})


def test_a_typo_in_the_profile_leaves_the_running_stack_alone(stack) -> None:
    pids = set(stack.status()["pid"])
    with pytest.raises(ValueError, match="no timing profile 'prod'"):
        Stack(run_dir=stack.run_dir, profile="prod").up()
    assert stack.is_running() and set(stack.status()["pid"]) == pids


def test_plain_stack_reuses_a_stack_started_on_free_ports(stack, monkeypatch) -> None:
    """Notebooks call Stack().up(): it must not move a running stack to the defaults."""
    monkeypatch.delenv("PROMLAB_PORTS", raising=False)
    pids = set(stack.status()["pid"])
    again = Stack(run_dir=stack.run_dir).up(wait_targets=False)
    assert again.ports == stack.ports and set(again.status()["pid"]) == pids


def test_shared_port_hint_at_the_top_of_the_range_looks_below(run_dir) -> None:
    with pytest.raises(ValueError, match=r"Stack\(ports=\{\"node_exporter\": 65534\}\)"):
        Stack(run_dir=run_dir, ports={"node_exporter": 65535, "web": 65535})
