"""A rule editor: a rule file in a text area, validate, test and apply, and what happened."""

import logging
from html import escape
from typing import Any

import ipywidgets as widgets

from promlab import profiles, rules
from promlab.stack import Stack

log = logging.getLogger(__name__)


class RuleEditor:
    """Edit one rule file of the stack and apply it all-or-nothing.

    Validate runs the name, window and promtool checks; Test also runs the
    promtool unit tests that load the file; Apply does both, writes, reloads and
    confirms that Prometheus runs the file. Every answer, good or bad, goes to the
    result pane in plain words with the line that caused it; nothing is raised.

    Args:
        stack: the stack whose rules to edit (default `Stack()`).
        name: the file to open first (default the first rule file).
        extra_tests: a promtool test file (YAML) run with the shipped tests.
    """

    def __init__(
        self, stack: Stack | None = None, name: str | None = None, extra_tests: str | None = None
    ) -> None:
        """Build the editor with the file's current text; nothing is written yet."""
        self.stack = stack or Stack()
        self.extra_tests = extra_tests
        names = rules.files(self.stack)
        self.file = widgets.Combobox(
            value=name or (names[0] if names else ""),
            options=names,
            description="file",
            ensure_option=False,
            layout=widgets.Layout(width="420px"),
        )
        self.text = widgets.Textarea(layout=widgets.Layout(width="100%", height="360px"))
        self.validate_button = widgets.Button(description="Validate", icon="check")
        self.test_button = widgets.Button(description="Test", icon="flask")
        self.apply_button = widgets.Button(description="Apply", button_style="primary")
        self.revert_button = widgets.Button(description="Revert", tooltip="reload from disk")
        self.result = widgets.HTML()
        self.output = widgets.Output(layout=widgets.Layout(max_height="160px", overflow="auto"))
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.file, self.revert_button]),
                self.text,
                widgets.HBox([self.validate_button, self.test_button, self.apply_button]),
                self.result,
                self.output,
            ]
        )
        self.validate_button.on_click(lambda _: self.validate())
        self.test_button.on_click(lambda _: self.test())
        self.apply_button.on_click(lambda _: self.apply())
        self.revert_button.on_click(lambda _: self.revert())
        self.file.observe(lambda _: self.revert(), names="value")
        self.revert()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def revert(self) -> None:
        """Show the file as it is on disk."""
        self.text.value = rules.read(self.stack, self.file.value)
        self._show("info", f"{self.file.value} as on disk")

    def validate(self) -> bool:
        """Check names, windows and promtool check rules; say what is wrong."""
        scrape = profiles.load(self.stack.profile).seconds("scrape_interval")
        return self._run(
            "valid",
            lambda: rules.validate(self.text.value, self.file.value, scrape),
        )

    def test(self) -> bool:
        """Validate, then run the promtool unit tests that load this file."""

        def run() -> list[str]:
            rules.test(self.text.value, self.file.value, self.stack, self.extra_tests)
            return []

        return self.validate() and self._run("tests pass", run)

    def apply(self) -> bool:
        """Validate, test, write, reload and confirm; on any failure nothing changes."""
        outcome: list[rules.ApplyResult] = []

        def run() -> list[str]:
            outcome.append(
                rules.apply(self.stack, self.file.value, self.text.value, self.extra_tests)
            )
            return outcome[0].warnings

        done = self._run("applied", run)
        if done:
            self._show("ok", escape(outcome[0].summary()), outcome[0].warnings)
        return done

    def _run(self, success: str, action: Any) -> bool:
        try:
            warnings = action() or []
        except (rules.RuleError, rules.RuleApplyError) as error:
            where = f" (line {error.line})" if getattr(error, "line", None) else ""
            self._show("error", f"refused at step {error.step}{where}: {escape(str(error))}")
            return False
        except Exception as error:
            log.debug("rule editor action failed", exc_info=True)
            self._show("error", f"{type(error).__name__}: {escape(str(error))}")
            return False
        self._show("ok", success, warnings)
        return True

    def _show(self, kind: str, message: str, warnings: list[str] | None = None) -> None:
        color = {"ok": "#1b5e20", "error": "#b00020", "info": "#555"}[kind]
        notes = "".join(
            f"<pre style='color:#8a6d00;white-space:pre-wrap'>warning: {escape(w)}</pre>"
            for w in warnings or []
        )
        self.result.value = (
            f"<pre style='color:{color};white-space:pre-wrap'>{message}</pre>{notes}"
        )
