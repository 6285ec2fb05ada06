"""Control panels for the notebooks: each routes its errors and logs to an Output widget."""

from promlab.widgets.failures import FailurePanel
from promlab.widgets.inbox import InboxPanel, inbox_panel  # noqa: F401  (re-exported)
from promlab.widgets.traffic import TrafficPanel

__all__ = ["FailurePanel", "TrafficPanel"]
from promlab.widgets.rules import RuleEditor  # noqa: F401  (re-exported)
