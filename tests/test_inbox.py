"""Behaviour of the inbox: Slack-style webhooks stored, listed and cleared."""

import copy
import json

from prometheus_client import CollectorRegistry

from services.inbox.app import MAX_CHANNEL_LABELS, create_app
from services.inbox.store import MessageStore, guess_status

# The shape Alertmanager's slack_configs sends with its default templates.
FIRING = {
    "channel": "#oncall",
    "username": "Alertmanager",
    "attachments": [
        {
            "title": "[FIRING:1] ApiHighErrorRate (api critical)",
            "title_link": "http://127.0.0.1:9093/#/alerts?receiver=oncall",
            "text": "*Alert:* api error ratio above 5% - `critical`\n*Job:* api",
            "fallback": "[FIRING:1] ApiHighErrorRate | http://127.0.0.1:9093",
            "callback_id": "",
            "footer": "",
            "color": "danger",
            "mrkdwn_in": ["fallback", "pretext", "text"],
        }
    ],
}


def resolved_copy() -> dict:
    """Return the firing payload turned into its resolved notification."""
    payload = copy.deepcopy(FIRING)
    attachment = payload["attachments"][0]
    attachment["title"] = "[RESOLVED] ApiHighErrorRate (api critical)"
    attachment["fallback"] = "[RESOLVED] ApiHighErrorRate"
    attachment["color"] = "good"
    return payload


def build_inbox():
    """Return (client, registry) for an inbox with its own registry."""
    registry = CollectorRegistry()
    return create_app(registry=registry).test_client(), registry


def received(registry, channel):
    """Return inbox_messages_received_total for one channel label."""
    return registry.get_sample_value("inbox_messages_received_total", {"channel": channel})


def test_create_app_twice_in_one_process_does_not_raise():
    create_app()
    create_app()


def test_webhook_answers_ok_like_slack_and_stores_the_message():
    client, registry = build_inbox()
    response = client.post("/hooks/oncall", json=FIRING)
    assert response.status_code == 200
    assert response.text == "ok"
    [message] = client.get("/api/messages").json["messages"]
    assert message["channel"] == "oncall"
    assert message["status"] == "firing"
    assert message["title"] == "[FIRING:1] ApiHighErrorRate (api critical)"
    assert "api error ratio" in message["text"]
    assert message["payload"] == FIRING
    assert message["received_at"].endswith("+00:00")
    assert received(registry, "oncall") == 1


def test_messages_are_read_back_per_channel_oldest_first():
    client, registry = build_inbox()
    client.post("/hooks/oncall", json=FIRING)
    client.post("/hooks/team", json={"text": "deploy finished"})
    client.post("/hooks/oncall", json=resolved_copy())
    oncall = client.get("/api/messages?channel=oncall").json["messages"]
    assert [m["status"] for m in oncall] == ["firing", "resolved"]
    team = client.get("/api/messages", query_string={"channel": "team"}).json["messages"]
    assert [m["text"] for m in team] == ["deploy finished"]
    assert client.get("/api/channels").json == {"channels": {"oncall": 2, "team": 1}}
    assert received(registry, "team") == 1


def test_the_url_channel_wins_over_the_payload_channel():
    client, _ = build_inbox()
    client.post("/hooks/team", json=FIRING)
    assert client.get("/api/channels").json == {"channels": {"team": 1}}


def test_clearing_one_channel_keeps_the_others():
    client, registry = build_inbox()
    client.post("/hooks/oncall", json=FIRING)
    client.post("/hooks/team", json=FIRING)
    assert client.delete("/api/messages?channel=oncall").json == {"deleted": 1}
    assert client.get("/api/channels").json == {"channels": {"team": 1}}
    client.delete("/api/messages")
    assert client.get("/api/messages").json == {"messages": []}
    assert received(registry, "oncall") == 1


def test_form_encoded_payload_is_accepted_like_slack():
    client, _ = build_inbox()
    response = client.post("/hooks/team", data={"payload": json.dumps({"text": "hi"})})
    assert response.status_code == 200
    assert client.get("/api/messages").json["messages"][0]["text"] == "hi"


def test_invalid_payloads_and_channel_names_answer_400():
    client, registry = build_inbox()
    assert client.post("/hooks/oncall", data="not json").status_code == 400
    assert client.post("/hooks/oncall", json=["a", "list"]).status_code == 400
    assert client.post("/hooks/bad%20name", json=FIRING).status_code == 400
    assert client.get("/api/messages").json == {"messages": []}
    assert received(registry, "oncall") == 0


def test_channel_labels_stay_bounded_for_many_channels():
    client, registry = build_inbox()
    for number in range(3 * MAX_CHANNEL_LABELS):
        client.post(f"/hooks/channel-{number}", json={"text": "x"})
    labels = {
        sample.labels["channel"]
        for metric in registry.collect()
        for sample in metric.samples
        if sample.name == "inbox_messages_received_total"
    }
    assert len(labels) <= MAX_CHANNEL_LABELS + 1
    assert received(registry, "other") > 0
    assert len(client.get("/api/channels").json["channels"]) == 3 * MAX_CHANNEL_LABELS


def test_store_keeps_only_the_most_recent_messages():
    store = MessageStore(capacity=3)
    for number in range(5):
        store.add({"channel": "team", "text": str(number)})
    assert [m["text"] for m in store.list()] == ["2", "3", "4"]


def test_status_is_guessed_from_title_text_or_color():
    assert guess_status("[FIRING:2] X", "", "") == "firing"
    assert guess_status("[RESOLVED] X", "", "danger") == "resolved"
    assert guess_status("", "", "good") == "resolved"
    assert guess_status("", "", "danger") == "firing"
    assert guess_status("hello", "world", "") == "unknown"


def test_index_page_and_probes_answer():
    client, _ = build_inbox()
    client.post("/hooks/oncall", json=FIRING)
    page = client.get("/")
    assert page.status_code == 200
    assert "ApiHighErrorRate" in page.text
    assert client.get("/healthz").json == {"status": "ok"}
    assert b"inbox_messages_received_total" in client.get("/metrics").data
