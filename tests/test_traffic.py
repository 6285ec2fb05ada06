"""Behaviour of promlab.traffic: pacing, mixes, stopping cleanly, fault knobs."""

import threading
import time

import psutil
import pytest

from promlab import traffic
from promlab.stack import Stack


def connections_to(port: int) -> list:
    """Return this process's TCP connections to `port`."""
    mine = psutil.Process().net_connections(kind="tcp")
    return [c for c in mine if c.raddr and c.raddr.port == port and c.status != "TIME_WAIT"]


def traffic_threads() -> list[str]:
    """Return the names of live traffic worker threads."""
    return [t.name for t in threading.enumerate() if t.name.startswith("promlab-traffic")]


def test_mix_refuses_unknown_kinds_and_names_the_known_ones() -> None:
    with pytest.raises(traffic.TrafficError, match="normal, slow, error_prone, db_heavy"):
        traffic.check_mix("web", {"burst": 1})


def test_every_mix_kind_is_offered_for_both_tiers() -> None:
    for target in traffic.TARGETS:
        assert set(traffic.ROUTES[target]) == set(traffic.MIXES)


def test_mix_drops_zero_weights_and_needs_one_positive() -> None:
    assert traffic.check_mix("web", {"normal": 1, "slow": 0}) == {"normal": 1.0}
    with pytest.raises(traffic.TrafficError, match="no positive weight"):
        traffic.check_mix("web", {"normal": 0})


def test_unknown_target_is_refused() -> None:
    with pytest.raises(traffic.TrafficError, match="web"):
        traffic.Traffic(base_url="http://127.0.0.1:1", target="db")


def test_unreachable_server_counts_failures_and_keeps_the_error() -> None:
    load = traffic.Traffic(base_url="http://127.0.0.1:9", rate=50, duration=0.5, timeout=1)
    stats = load.start().wait(5)
    assert stats.sent > 0 and stats.failed == stats.sent and stats.ok == 0
    assert "Connection refused" in stats.last_error
    assert not traffic_threads()


@pytest.mark.stack
def test_rate_is_held_and_run_ends_with_its_duration(stack: Stack) -> None:
    load = traffic.start(stack, rate=40, concurrency=4, duration=2)
    stats = load.wait(10)
    assert not stats.running and not traffic_threads()
    assert 65 <= stats.sent <= 85, stats
    assert stats.ok == stats.sent and stats.progress == 1.0


@pytest.mark.stack
def test_stop_leaves_no_thread_and_no_connection(stack: Stack) -> None:
    port = stack.ports["web"]
    threads_before = set(threading.enumerate())
    assert not connections_to(port)
    load = traffic.start(stack, rate=None, concurrency=6, duration=None)
    time.sleep(1)
    assert len(connections_to(port)) >= 1
    stats = load.stop()
    assert stats.ok > 0 and not stats.running
    assert set(threading.enumerate()) == threads_before
    assert not connections_to(port)


@pytest.mark.stack
def test_stats_grow_while_it_runs(stack: Stack) -> None:
    with traffic.Traffic(stack, rate=30, duration=None) as load:
        time.sleep(0.6)
        first = load.stats()
        time.sleep(0.6)
        second = load.stats()
    assert first.running and 0 < first.sent < second.sent
    assert second.recent_rate > 0


@pytest.mark.stack
def test_error_prone_mix_gets_client_errors_not_server_errors(stack: Stack) -> None:
    load = traffic.start(stack, rate=40, duration=1, mix={"error_prone": 1}, seed=1)
    codes = set(load.wait(10).by_status)
    assert codes <= {400, 404} and codes


@pytest.mark.stack
def test_api_can_be_the_target(stack: Stack) -> None:
    stats = traffic.start(stack, target="api", rate=40, duration=1).wait(10)
    assert stats.ok == stats.sent > 0


@pytest.mark.stack
def test_slow_mix_on_api_takes_its_time_in_the_database(stack: Stack) -> None:
    stats = traffic.start(stack, target="api", rate=10, duration=1, mix={"slow": 1}).wait(10)
    assert stats.ok == stats.sent > 0
    assert 0.2 <= stats.mean_latency < 1.0


@pytest.mark.stack
def test_burst_counts_answers_by_status(stack: Stack) -> None:
    assert traffic.burst(stack, requests_total=20, concurrency=4) == {200: 20}


@pytest.mark.stack
def test_injected_errors_show_as_failures(healthy_after: Stack) -> None:
    traffic.set_faults(healthy_after, "web", error_ratio=1.0)
    stats = traffic.start(healthy_after, rate=40, duration=0.5).wait(10)
    assert stats.by_status == {500: stats.sent}


@pytest.mark.stack
def test_stop_during_slow_answers_waits_only_for_requests_in_flight(healthy_after) -> None:
    traffic.set_faults(healthy_after, "web", extra_latency_seconds=1.5)
    load = traffic.start(healthy_after, rate=None, concurrency=3, duration=None, timeout=5)
    time.sleep(0.3)
    began = time.monotonic()
    load.stop()
    assert time.monotonic() - began < 3
    assert not traffic_threads()


@pytest.mark.stack
def test_refused_fault_value_names_the_field(healthy_after: Stack) -> None:
    with pytest.raises(ValueError, match="error_ratio"):
        traffic.set_faults(healthy_after, "api", error_ratio=2)
    assert traffic.read_faults(healthy_after, "api")["error_ratio"] == 0


@pytest.mark.stack
def test_clear_faults_heals_both_tiers(healthy_after: Stack) -> None:
    traffic.set_faults(healthy_after, "api", down=True)
    knobs = traffic.clear_faults(healthy_after)
    assert knobs["api"] == {"down": False, "error_ratio": 0.0, "extra_latency_seconds": 0.0}
