"""A live view of the inbox: what each channel received, refreshed in the background."""

import html
import logging
import threading

import ipywidgets as widgets
import pandas as pd

from promlab import alerts
from promlab.stack import Stack

log = logging.getLogger(__name__)

_COLOURS = {"firing": "#c0392b", "resolved": "#27ae60"}


class InboxPanel(widgets.VBox):
    """The inbox's messages as a table that refreshes itself until `stop()`.

    Args:
        stack: the stack whose inbox to show (the running one by default).
        channel: show one channel only ("oncall", "team"), or all.
        every: seconds between refreshes.
        limit: newest messages shown.
    """

    def __init__(
        self,
        stack: Stack | None = None,
        channel: str | None = None,
        every: float = 2.0,
        limit: int = 20,
    ) -> None:
        self.stack = stack or Stack()
        self.channel = channel
        self.every = every
        self.limit = limit
        self.table = widgets.HTML()
        self.counts = widgets.HTML()
        self.clear_button = widgets.Button(description="Clear inbox", icon="trash")
        self.stop_button = widgets.Button(description="Stop", icon="stop")
        self.output = widgets.Output()
        self.clear_button.on_click(lambda _: self._clear())
        self.stop_button.on_click(lambda _: self.stop())
        buttons = widgets.HBox([self.clear_button, self.stop_button, self.counts])
        super().__init__([buttons, self.table, self.output])
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "InboxPanel":
        """Start refreshing in the background; return the panel."""
        if self._thread and self._thread.is_alive():
            return self
        self._stopped.clear()
        self._thread = threading.Thread(target=self._run, name="inbox-panel", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop refreshing; the last table stays on screen."""
        self._stopped.set()
        if self._thread and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.every + 5)
        self.stop_button.disabled = True

    def refresh(self) -> None:
        """Read the inbox once and redraw the table."""
        frame = alerts.messages(self.stack, self.channel)
        self.table.value = _to_html(frame.tail(self.limit).iloc[::-1])
        per_channel = frame.groupby("channel").size().to_dict() if len(frame) else {}
        self.counts.value = " ".join(f"#{k}: {v}" for k, v in sorted(per_channel.items()))

    def _clear(self) -> None:
        with self.output:
            alerts.clear_inbox(self.stack, self.channel)
            self.refresh()

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                self.refresh()
            except Exception as error:
                # The stack may be restarting; say so once per failure and keep going.
                with self.output:
                    self.output.clear_output()
                    print(f"inbox not reachable: {error}")
            self._stopped.wait(self.every)


def inbox_panel(
    stack: Stack | None = None, channel: str | None = None, every: float = 2.0
) -> InboxPanel:
    """Return a started live inbox panel; call `.stop()` on it when done."""
    return InboxPanel(stack, channel, every).start()


def _to_html(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "<p><i>No messages yet.</i></p>"
    rows = []
    for m in frame.to_dict("records"):
        colour = _COLOURS.get(m["status"], "#7f8c8d")
        rows.append(
            f"<tr><td>{html.escape(m['received_at'][11:19])}</td>"
            f"<td>#{html.escape(m['channel'])}</td>"
            f"<td style='color:{colour}'><b>{html.escape(m['status'])}</b></td>"
            f"<td>{html.escape(m['title'])}</td></tr>"
        )
    head = "<tr><th>time (UTC)</th><th>channel</th><th>status</th><th>title</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"
