"""promlab.alerts: Prometheus alerts, Alertmanager groups and silences, the inbox."""

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import yaml

from promlab import alerts, profiles, render
from promlab.paths import CONFIGS, ROOT

RULES = CONFIGS / "prometheus" / "rules"
NOTEBOOK = ROOT / "notebooks" / "03-alert-routing.ipynb"


def alert_names() -> set[str]:
    """Names of every alerting rule in the rule files."""
    return {
        rule["alert"]
        for path in RULES.glob("*.yml")
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


def heading_anchors(path) -> set[str]:
    """Anchors JupyterLab makes from a notebook's markdown headings."""
    cells = json.loads(path.read_text())["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return {h.strip().replace(" ", "-") for h in re.findall(r"^#+ (.+)$", text, re.M)}


def test_every_runbook_url_points_at_a_heading_of_its_notebook():
    """Each alert's runbook anchor is a section its notebook really has."""
    checked = set()
    for path in RULES.glob("*.alerts.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                page, anchor = rule["annotations"]["runbook_url"].rsplit("#", 1)
                notebook = ROOT / "notebooks" / page.rsplit("/", 1)[1]
                if notebook != NOTEBOOK and not notebook.exists():
                    continue  # another lesson's notebook, checked once it exists
                anchors = heading_anchors(notebook)
                assert anchor in anchors, f"{rule['alert']}: no heading for #{anchor}"
                checked.add(notebook.name)
    assert NOTEBOOK.name in checked


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        ({"severity": "critical", "service": "api"}, ["slack-oncall"]),
        ({"severity": "warning", "service": "postgres"}, ["slack-team"]),
        ({"severity": "info", "service": "web"}, ["null"]),
    ],
    ids=["critical", "warning", "info"],
)
def test_routes_names_the_receivers_for_labels(labels, receivers):
    """routes() answers what amtool's routing test answers."""
    assert alerts.routes(labels) == receivers


def test_check_config_reports_amtool_errors(tmp_path):
    """A broken Alertmanager file raises AlertConfigError with amtool's words."""
    broken = tmp_path / "alertmanager.yml"
    broken.write_text("route:\n  receiver: nobody\nreceivers: []\n")
    with pytest.raises(alerts.AlertConfigError, match="nobody"):
        alerts.check_config(broken)


def test_child_route_repeating_faster_than_it_flushes_is_refused(tmp_path):
    """C18: amtool accepts repeat_interval < group_interval; check_config does not."""
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        "route:\n  receiver: quiet\n  group_wait: 5s\n  group_interval: 30s\n"
        "  routes:\n    - receiver: team\n      matchers: ['severity=\"warning\"']\n"
        "      group_interval: 1m\n      repeat_interval: 15s\n"
        "receivers:\n  - name: quiet\n  - name: team\n"
    )
    with pytest.raises(alerts.AlertConfigError) as caught:
        alerts.check_config(config)
    message = str(caught.value)
    assert "route ['severity=\"warning\"']: repeat_interval 15s < group_interval 1m" in message
    assert "the root route:" not in message


def test_shipped_routes_repeat_no_faster_than_they_flush():
    for name in ("classroom", "production"):
        profile = profiles.load(name)
        rendered = yaml.safe_load(render.alertmanager_config(Path("/run"), profile=profile))
        assert alerts.route_timing_problems(rendered) == [], name


@pytest.mark.stack
def test_prometheus_runs_every_alert_of_the_rule_files(stack):
    """/api/v1/rules lists each alert the rule files define."""
    answer = requests.get(f"{stack.url('prometheus')}/api/v1/rules", timeout=10).json()
    running = {
        rule["name"]
        for group in answer["data"]["groups"]
        for rule in group["rules"]
        if rule["type"] == "alerting"
    }
    assert running == alert_names()


@pytest.mark.stack
def test_alert_tables_have_their_columns(stack):
    """Every table comes back with its columns, even when empty."""
    assert list(alerts.alerts(stack).columns) == alerts.ALERT_COLUMNS
    assert list(alerts.groups(stack).columns) == alerts.GROUP_COLUMNS
    assert list(alerts.manager_alerts(stack).columns) == alerts.AM_ALERT_COLUMNS
    assert list(alerts.silences(stack).columns) == alerts.SILENCE_COLUMNS
    assert list(alerts.messages(stack).columns) == alerts.MESSAGE_COLUMNS


@pytest.mark.stack
def test_silence_appears_and_expires(stack):
    """A silence is listed while active and gone from the active list once expired."""
    silence_id = alerts.silence({"alertname": "PromlabTestOnly"}, 5, "test", stack)
    try:
        active = alerts.silences(stack)
        assert silence_id in set(active["id"])
        assert "alertname=PromlabTestOnly" in set(active["matchers"])
    finally:
        alerts.expire_silence(silence_id, stack)
    assert silence_id not in set(alerts.silences(stack)["id"])


@pytest.mark.stack
def test_inbox_messages_by_channel_and_clear(stack):
    """A message posted to a hook shows up under its channel and can be cleared."""
    body = {"text": "hello", "attachments": [{"title": "[FIRING:1] T (x, warning)"}]}
    requests.post(f"{stack.url('inbox')}/hooks/promlab-test", json=body, timeout=10)
    mine = alerts.messages(stack, "promlab-test")
    assert list(mine["channel"]) == ["promlab-test"]
    assert alerts.clear_inbox(stack, "promlab-test") == 1
    assert alerts.messages(stack, "promlab-test").empty


@pytest.mark.stack
def test_critical_alert_inhibits_the_warning_of_the_same_service(stack):
    """Alertmanager suppresses the warning whose service matches a firing critical."""
    now = datetime.now(UTC)
    service = "promlab-inhibit-test"

    def alert(name: str, severity: str, ends: datetime) -> dict:
        labels = {"alertname": name, "severity": severity, "service": service}
        return {"labels": labels, "startsAt": now.isoformat(), "endsAt": ends.isoformat()}

    url = f"{stack.url('alertmanager')}/api/v2/alerts"
    later = now + timedelta(minutes=5)
    pair = [alert("TestCritical", "critical", later), alert("TestWarning", "warning", later)]
    requests.post(url, json=pair, timeout=10).raise_for_status()
    try:
        held = alerts.manager_alerts(stack)
        mine = held[held["service"] == service].set_index("alertname")
        assert mine.loc["TestWarning", "state"] == "suppressed"
        assert mine.loc["TestWarning", "inhibited_by"] != ""
        assert mine.loc["TestCritical", "state"] == "active"
    finally:
        ended = [alert("TestCritical", "critical", now), alert("TestWarning", "warning", now)]
        requests.post(url, json=ended, timeout=10)
        alerts.clear_inbox(stack)
