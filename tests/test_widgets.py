"""Behaviour of the traffic and failure panels."""

import threading
import time

import pytest

from promlab import traffic
from promlab.stack import Stack
from promlab.widgets import FailurePanel, TrafficPanel


class DownStack:
    """Look like a stack none of whose services answer."""

    def url(self, name: str) -> str:
        """Return a URL nothing listens on."""
        return "http://127.0.0.1:9"


def output_text(output) -> str:
    """Return what an Output widget holds as text."""
    return "".join(item.get("text", "") for item in output.outputs)


def panel_threads() -> list[str]:
    """Return the names of live traffic and panel threads."""
    return [t.name for t in threading.enumerate() if t.name.startswith("promlab-traffic")]


def test_traffic_panel_knobs_follow_the_controls() -> None:
    panel = TrafficPanel(DownStack())
    panel.rate.value, panel.duration.value = 20, 0
    panel.mix["slow"].value = 0.5
    knobs = panel.knobs()
    assert knobs["rate"] == pytest.approx(20) and knobs["duration"] is None
    assert knobs["mix"]["slow"] == 0.5


def test_choosing_api_keeps_every_mix_the_api_offers() -> None:
    panel = TrafficPanel(DownStack())
    panel.mix["slow"].value = 1
    panel.target.value = "api"
    assert not any(slider.disabled for slider in panel.mix.values())
    assert panel.knobs()["mix"]["slow"] == 1


def test_refused_knobs_are_shown_in_the_output_not_raised() -> None:
    panel = TrafficPanel(DownStack())
    panel.mix["normal"].value = 0
    panel.start_button.click()
    assert "not started" in output_text(panel.output) and not panel.running


def test_failure_panel_shows_an_unreachable_tier_in_its_output() -> None:
    panel = FailurePanel(DownStack())
    assert "cannot read web faults" in output_text(panel.output)


@pytest.mark.stack
def test_traffic_panel_runs_counts_and_stops_cleanly(stack: Stack) -> None:
    panel = TrafficPanel(stack)
    panel.rate.value, panel.duration.value = 40, 0
    panel.start_button.click()
    time.sleep(1.2)
    assert panel.running and "sent" in panel.counters.value
    assert panel.stop_button.disabled is False
    panel.stop_button.click()
    assert not panel.running and not panel_threads()
    assert panel.start_button.disabled is False


@pytest.mark.stack
def test_traffic_panel_finishes_with_its_duration(stack: Stack) -> None:
    panel = TrafficPanel(stack)
    panel.rate.value, panel.duration.value = 40, 10
    panel.load = None
    load = panel.start()
    load.duration = None  # the slider's minimum is 10 s; end it sooner by hand
    load.stop()
    deadline = time.monotonic() + 5
    while panel_threads() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not panel_threads() and panel.progress.value == 1.0
    assert "finished" in output_text(panel.output)


@pytest.mark.stack
def test_failure_panel_set_moves_the_control_and_the_tier(healthy_after: Stack) -> None:
    panel = FailurePanel(healthy_after)
    panel.set("api", error_ratio=0.25)
    assert panel.controls["api"]["error_ratio"].value == 0.25
    assert traffic.read_faults(healthy_after, "api")["error_ratio"] == 0.25


@pytest.mark.stack
def test_moving_a_control_applies_it_and_heal_all_restores(healthy_after: Stack) -> None:
    panel = FailurePanel(healthy_after)
    panel.controls["web"]["extra_latency_seconds"].value = 0.5
    assert traffic.read_faults(healthy_after, "web")["extra_latency_seconds"] == 0.5
    panel.reset_button.click()
    assert traffic.read_faults(healthy_after, "web")["extra_latency_seconds"] == 0
    assert panel.controls["web"]["extra_latency_seconds"].value == 0
