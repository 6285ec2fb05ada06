"""Fault drills: break a tier of the running stack, see the page, fix it, see it resolve.

Each drill clears the inbox, injects one failure, waits for the firing message in
the right channel, restores the service in `finally`, and waits for the resolved
message. With the classroom profile each takes well under a minute.
"""

import time

import pytest

from promlab import alerts

pytestmark = [pytest.mark.stack, pytest.mark.slow]

# Detection (scrape + evaluation) + `for` + group_wait is about 20 s; resolution
# waits for the next group flush (group_interval, 10 s). Generous but bounded.
FIRING_TIMEOUT = 60
RESOLVED_TIMEOUT = 60


def titles(stack, channel: str) -> list[str]:
    """Titles of the messages a channel holds."""
    return list(alerts.messages(stack, channel)["title"])


def test_api_down_pages_oncall_and_resolves(stack):
    """Stopping api sends InstanceDown for api to #oncall, then a resolved message."""
    alerts.clear_inbox(stack)
    stopped_at = time.monotonic()
    try:
        stack.stop_service("api")
        message = alerts.wait_for_message(
            "oncall", "InstanceDown", "firing", stack, timeout=FIRING_TIMEOUT
        )
        assert "(api, critical)" in message["title"]
        assert time.monotonic() - stopped_at < FIRING_TIMEOUT
        assert not any("InstanceDown" in t for t in titles(stack, "team"))
    finally:
        stack.start_service("api")
    resolved = alerts.wait_for_message(
        "oncall", "InstanceDown", "resolved", stack, timeout=RESOLVED_TIMEOUT
    )
    assert "(api, critical)" in resolved["title"]
    alerts.clear_inbox(stack)


def test_postgres_down_pages_oncall_and_inhibits_its_warnings(stack):
    """Stopping PostgreSQL pages PostgresDown; its exporter warning stays inhibited."""
    alerts.clear_inbox(stack)
    try:
        stack.stop_service("postgres")
        message = alerts.wait_for_message(
            "oncall", "PostgresDown", "firing", stack, timeout=FIRING_TIMEOUT
        )
        assert "(postgres, critical)" in message["title"]
        # The exporter's scrape error is a warning of the same service: inhibited.
        inhibited = alerts.wait_for_alert("ExporterScrapeErrors", "firing", stack, 45)
        assert not inhibited.empty
        held = alerts.manager_alerts(stack)
        exporter = held[held["alertname"] == "ExporterScrapeErrors"]
        assert list(exporter["state"]) == ["suppressed"]
        assert all(exporter["inhibited_by"] != "")
        assert not any("ExporterScrapeErrors" in t for t in titles(stack, "team"))
    finally:
        stack.start_service("postgres")
        # The api's pooled connections died with the server; a restart starts clean
        # instead of answering a few 503s that a later lesson would count.
        stack.restart("api")
    resolved = alerts.wait_for_message(
        "oncall", "PostgresDown", "resolved", stack, timeout=RESOLVED_TIMEOUT
    )
    assert "(postgres, critical)" in resolved["title"]
    alerts.clear_inbox(stack)
