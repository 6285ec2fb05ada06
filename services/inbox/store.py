"""A bounded, thread-safe, in-memory store of received webhook messages."""

import threading
from collections import Counter, deque
from datetime import UTC, datetime
from typing import Any

DEFAULT_CAPACITY = 1000


def guess_status(title: str, text: str, color: str) -> str:
    """Guess "firing", "resolved" or "unknown" from a Slack message's fields."""
    words = f"{title} {text}".lower()
    if "resolved" in words:
        return "resolved"
    if "firing" in words:
        return "firing"
    # Alertmanager's default Slack template colours firing red and resolved green.
    if color == "good":
        return "resolved"
    if color == "danger":
        return "firing"
    return "unknown"


def summarise(channel: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Turn a Slack webhook payload into a stored message record."""
    attachments = payload.get("attachments") or []
    first = attachments[0] if attachments and isinstance(attachments[0], dict) else {}
    title = str(first.get("title") or "")
    text = str(first.get("text") or payload.get("text") or first.get("fallback") or "")
    return {
        "channel": channel,
        "received_at": datetime.now(UTC).isoformat(),
        "payload": payload,
        "title": title,
        "text": text,
        "status": guess_status(title, text, str(first.get("color") or "")),
    }


class MessageStore:
    """Keep the most recent messages, oldest first, safely across threads."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        """Keep at most `capacity` messages; older ones drop off."""
        self._messages: deque[dict[str, Any]] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def add(self, message: dict[str, Any]) -> None:
        """Append one message."""
        with self._lock:
            self._messages.append(message)

    def list(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Return the messages, oldest first, optionally of one channel."""
        with self._lock:
            return [m for m in self._messages if channel is None or m["channel"] == channel]

    def clear(self, channel: str | None = None) -> int:
        """Drop the messages, optionally of one channel; return how many went."""
        with self._lock:
            before = len(self._messages)
            kept = [m for m in self._messages if channel is not None and m["channel"] != channel]
            self._messages.clear()
            self._messages.extend(kept)
            return before - len(kept)

    def count_by_channel(self) -> dict[str, int]:
        """Return how many stored messages each channel holds."""
        with self._lock:
            return dict(Counter(m["channel"] for m in self._messages))
