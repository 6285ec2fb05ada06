"""A traffic panel: knobs, start and stop, a progress bar and live counters."""

import logging
import threading
from typing import Any

import ipywidgets as widgets

from promlab import traffic
from promlab.stack import Stack

log = logging.getLogger(__name__)

# Seconds between counter updates while traffic runs.
TICK = 0.5


class TrafficPanel:
    """Sliders and buttons around `promlab.traffic.Traffic`; display it in a cell.

    Duration 0 means "until Stop". Errors (a refused mix, a stack that is down) are
    shown in the panel's Output, never raised into the notebook.
    """

    def __init__(self, stack: Stack | None = None) -> None:
        """Build the panel for `stack` (default `Stack()`); nothing is sent yet."""
        self.stack = stack or Stack()
        self.load: traffic.Traffic | None = None
        style = {"description_width": "120px"}
        layout = widgets.Layout(width="420px")
        self.target = widgets.ToggleButtons(options=traffic.TARGETS, description="target")
        self.rate = widgets.FloatLogSlider(
            value=10, base=10, min=-1, max=3, description="requests/s", style=style, layout=layout
        )
        self.concurrency = widgets.IntSlider(
            value=4, min=1, max=32, description="concurrency", style=style, layout=layout
        )
        self.duration = widgets.IntSlider(
            value=60,
            min=0,
            max=900,
            step=10,
            description="seconds (0: ∞)",
            style=style,
            layout=layout,
        )
        self.mix = {
            kind: widgets.FloatSlider(
                value=1.0 if kind == "normal" else 0.0,
                min=0,
                max=1,
                step=0.05,
                description=kind.replace("_", " "),
                style=style,
                layout=layout,
            )
            for kind in traffic.MIXES
        }
        self.start_button = widgets.Button(description="Start", button_style="success")
        self.stop_button = widgets.Button(description="Stop", button_style="danger", disabled=True)
        self.progress = widgets.FloatProgress(value=0, min=0, max=1, description="progress")
        self.counters = widgets.HTML(value="idle")
        self.output = widgets.Output(layout=widgets.Layout(max_height="160px", overflow="auto"))
        self.widget = widgets.VBox(
            [
                self.target,
                self.rate,
                self.concurrency,
                self.duration,
                widgets.HTML("<b>route mix</b> (relative weights)"),
                *self.mix.values(),
                widgets.HBox([self.start_button, self.stop_button, self.progress]),
                self.counters,
                self.output,
            ]
        )
        self.start_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.stop())
        self.target.observe(self._on_target, names="value")
        self._ticker: threading.Thread | None = None
        self._closing = threading.Event()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    @property
    def running(self) -> bool:
        """Return True while traffic is being sent."""
        return self.load is not None and self.load.running

    def knobs(self) -> dict[str, Any]:
        """Return the Traffic arguments the controls describe."""
        return {
            "target": self.target.value,
            "rate": self.rate.value,
            "concurrency": self.concurrency.value,
            "duration": self.duration.value or None,
            "mix": {kind: s.value for kind, s in self.mix.items() if not s.disabled},
        }

    def start(self) -> traffic.Traffic | None:
        """Start traffic with the current knobs (stopping any earlier run first)."""
        self.stop()
        try:
            self.load = traffic.start(self.stack, **self.knobs())
        except (traffic.TrafficError, OSError, ValueError) as error:
            self._say(f"not started: {error}")
            return None
        self._say(f"started: {self.knobs()}")
        self.start_button.disabled, self.stop_button.disabled = True, False
        self._closing.clear()
        self._ticker = threading.Thread(
            target=self._tick, name="promlab-traffic-panel", daemon=True
        )
        self._ticker.start()
        return self.load

    def stop(self) -> traffic.TrafficStats | None:
        """Stop the traffic and the counter updates; return the final counts."""
        self._closing.set()
        if self._ticker is not None and self._ticker is not threading.current_thread():
            self._ticker.join()
        self._ticker = None
        if self.load is None:
            return None
        stats = self.load.stop()
        self._show(stats)
        self.start_button.disabled, self.stop_button.disabled = False, True
        return stats

    def _tick(self) -> None:
        while self.load is not None and not self._closing.wait(TICK):
            stats = self.load.stats()
            self._show(stats)
            if not stats.running:
                self.start_button.disabled, self.stop_button.disabled = False, True
                self._say(f"finished: {stats.summary()}")
                break

    def _show(self, stats: traffic.TrafficStats) -> None:
        self.progress.value = stats.progress
        codes = ", ".join(
            f"{code or 'no answer'}: {n}" for code, n in sorted(stats.by_status.items())
        )
        self.counters.value = (
            f"<b>sent</b> {stats.sent} &nbsp; <b>ok</b> {stats.ok} &nbsp; "
            f"<b>failed</b> {stats.failed} &nbsp; <b>rate</b> {stats.recent_rate:.1f}/s "
            f"&nbsp; <small>({codes})</small>"
        )
        if stats.last_error:
            self.counters.value += f"<br><small>last error: {stats.last_error}</small>"

    def _on_target(self, change: dict) -> None:
        offered = traffic.ROUTES[change["new"]]
        for kind, slider in self.mix.items():
            slider.disabled = kind not in offered

    def _say(self, text: str) -> None:
        # append_stdout only changes widget state: safe from any thread.
        log.info("traffic panel: %s", text)
        self.output.append_stdout(text + "\n")
