"""A failure panel: error ratio, added latency and hard-down for web and api."""

import logging
from typing import Any

import ipywidgets as widgets

from promlab import traffic
from promlab.stack import Stack

log = logging.getLogger(__name__)


class FailurePanel:
    """One row of fault knobs per tier, applied through its /admin/faults.

    Moving a control applies it at once; `set()` does the same from code and moves
    the controls. Refusals and connection errors appear in the panel's Output.
    """

    def __init__(self, stack: Stack | None = None) -> None:
        """Build the panel for `stack` (default `Stack()`) from the tiers' current knobs."""
        self.stack = stack or Stack()
        self.output = widgets.Output(layout=widgets.Layout(max_height="120px", overflow="auto"))
        self.controls: dict[str, dict[str, widgets.ValueWidget]] = {}
        rows = []
        for tier in traffic.TARGETS:
            controls = {
                "error_ratio": widgets.FloatSlider(
                    min=0, max=1, step=0.05, description="error ratio", readout_format=".2f"
                ),
                "extra_latency_seconds": widgets.FloatSlider(
                    min=0, max=10, step=0.1, description="latency (s)"
                ),
                "down": widgets.ToggleButton(description="down", button_style="danger"),
            }
            self.controls[tier] = controls
            rows.append(widgets.HBox([widgets.HTML(f"<b>{tier}</b>"), *controls.values()]))
        self.reset_button = widgets.Button(description="Heal all", button_style="success")
        self.reset_button.on_click(lambda _: self.clear())
        self.widget = widgets.VBox([*rows, self.reset_button, self.output])
        self._quiet = False
        self.sync()
        for tier, controls in self.controls.items():
            for knob, control in controls.items():
                control.observe(self._on_change(tier, knob), names="value")

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def set(self, tier: str, **knobs: Any) -> dict[str, Any]:
        """Set fault knobs of `tier` and move its controls; return the tier's knobs."""
        applied = traffic.set_faults(self.stack, tier, **knobs)
        self._show(tier, applied)
        self._say(f"{tier}: {applied}")
        return applied

    def clear(self) -> dict[str, dict[str, Any]]:
        """Heal web and api; return their knobs."""
        try:
            knobs = traffic.clear_faults(self.stack)
        except (OSError, ValueError) as error:
            self._say(f"could not heal: {error}")
            return {}
        for tier, values in knobs.items():
            self._show(tier, values)
        self._say("web and api healthy")
        return knobs

    def sync(self) -> None:
        """Move the controls to the tiers' current knobs."""
        for tier in self.controls:
            try:
                self._show(tier, traffic.read_faults(self.stack, tier))
            except (OSError, ValueError) as error:
                self._say(f"cannot read {tier} faults: {error}")

    def _show(self, tier: str, knobs: dict[str, Any]) -> None:
        self._quiet = True
        try:
            for knob, control in self.controls[tier].items():
                control.value = knobs[knob]
        finally:
            self._quiet = False

    def _on_change(self, tier: str, knob: str) -> Any:
        def apply(change: dict) -> None:
            if self._quiet:
                return
            try:
                self.set(tier, **{knob: change["new"]})
            except (OSError, ValueError) as error:
                self._say(f"{tier} {knob}={change['new']!r} not applied: {error}")

        return apply

    def _say(self, text: str) -> None:
        log.info("failure panel: %s", text)
        self.output.append_stdout(text + "\n")
