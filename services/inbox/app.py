"""The inbox service: receive Slack-style webhooks and show them."""

import json
import logging
import re
import threading
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, jsonify, render_template_string, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter
from prometheus_client.exposition import generate_latest

from services.inbox.store import MessageStore, summarise

log = logging.getLogger(__name__)

CHANNEL_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
KNOWN_CHANNELS = ("oncall", "team")
# Channel names come from URLs; past this many, new ones share one label value.
MAX_CHANNEL_LABELS = 20
OTHER_CHANNEL = "other"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>promlab inbox</title></head>
<body><h1>promlab inbox</h1>
{% if not messages %}<p>No messages yet.</p>{% endif %}
<table>{% for m in messages %}<tr><td>{{ m.received_at }}</td><td>#{{ m.channel }}</td>
<td>{{ m.status }}</td><td><b>{{ m.title }}</b><br><pre>{{ m.text }}</pre></td></tr>
{% endfor %}</table></body></html>
"""


class ChannelLabels:
    """Map channel names to a bounded set of metric label values."""

    def __init__(self, known: tuple[str, ...], limit: int) -> None:
        """Start with the `known` channels and admit new ones up to `limit`."""
        self._seen = set(known)
        self._limit = limit
        self._lock = threading.Lock()

    def label(self, channel: str) -> str:
        """Return the label value to count `channel` under."""
        with self._lock:
            if channel in self._seen:
                return channel
            if len(self._seen) < self._limit:
                self._seen.add(channel)
                return channel
        return OTHER_CHANNEL


def create_app(
    config: Mapping[str, Any] | None = None, registry: CollectorRegistry | None = None
) -> Flask:
    """Build the inbox app with its own metrics registry."""
    app = Flask(__name__)
    if config:
        app.config.update(config)
    registry = registry if registry is not None else CollectorRegistry()
    store = MessageStore()
    app.extensions["promlab_inbox"] = store
    labels = ChannelLabels(KNOWN_CHANNELS, MAX_CHANNEL_LABELS)
    received = Counter(
        "inbox_messages_received_total",
        "Webhook messages received, by channel.",
        ["channel"],
        registry=registry,
    )
    for channel in KNOWN_CHANNELS:
        received.labels(channel)

    @app.post("/hooks/<channel>")
    def receive(channel: str) -> Any:
        """Store one Slack incoming-webhook message for `channel`."""
        if not CHANNEL_PATTERN.fullmatch(channel):
            message = f"channel {channel!r} must match {CHANNEL_PATTERN.pattern}"
            return message, 400
        payload = _read_payload()
        if payload is None:
            # Slack answers plain-text errors; keep the same shape for clients.
            return 'invalid_payload: send a JSON object with a "text" field', 400
        store.add(summarise(channel, payload))
        received.labels(labels.label(channel)).inc()
        return Response("ok", content_type="text/plain")

    @app.get("/api/messages")
    def list_messages() -> Any:
        """Return stored messages, oldest first."""
        return jsonify(messages=store.list(request.args.get("channel")))

    @app.delete("/api/messages")
    def clear_messages() -> Any:
        """Drop stored messages, of one channel or all."""
        return jsonify(deleted=store.clear(request.args.get("channel")))

    @app.get("/api/channels")
    def list_channels() -> Any:
        """Return the number of stored messages per channel."""
        return jsonify(channels=store.count_by_channel())

    @app.get("/")
    def index() -> str:
        """Show the stored messages, newest first."""
        return render_template_string(PAGE, messages=list(reversed(store.list())))

    @app.get("/healthz")
    def healthz() -> Any:
        """Answer liveness probes."""
        return jsonify(status="ok")

    @app.get("/metrics")
    def metrics() -> Response:
        """Expose the inbox registry in the Prometheus text format."""
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    return app


def _read_payload() -> dict[str, Any] | None:
    # Slack also accepts a form field named "payload" holding the JSON document.
    if request.mimetype == "application/x-www-form-urlencoded":
        try:
            payload = json.loads(request.form.get("payload", ""))
        except ValueError:
            return None
    else:
        payload = request.get_json(silent=True, force=True)
    return payload if isinstance(payload, dict) else None
