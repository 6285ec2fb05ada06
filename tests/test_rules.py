"""promlab.rules: checks before writing, all-or-nothing apply, confirmation (C08, C12-C14)."""

from pathlib import Path

import pytest
import requests

from promlab import rules
from promlab.stack import Stack

HTTP_RULES = "http.rules.yml"
ALERTS = "promlab.alerts.yml"


@pytest.fixture
def shipped_rules(stack: Stack):
    """Give a test the stack; afterwards put every rule file back and reload."""
    before = {p.name: p.read_text() for p in stack.rules_dir.glob("*")}
    yield stack
    for path in stack.rules_dir.glob("*"):
        if path.name not in before:
            path.unlink()
    for name, text in before.items():
        if (stack.rules_dir / name).read_text() != text:
            (stack.rules_dir / name).write_text(text)
    stack.reload()
    rules.confirm(stack)


def assert_unchanged(stack: Stack, before: dict) -> None:
    """Prometheus is healthy and runs the same rules as before."""
    healthy = requests.get(f"{stack.url('prometheus')}/-/healthy", timeout=5)
    assert healthy.status_code == 200
    assert rules.running(stack) == before


def test_invalid_recording_names_are_refused_with_their_line():
    for bad in ("api-error-ratio:5m", 'job:errors{env="x"}', "job errors"):
        text = f"groups:\n  - name: g\n    rules:\n      - record: {bad}\n        expr: up\n"
        problems = rules.check_names(text)
        assert [p.line for p in problems] == [4], bad
        assert "not a metric name" in problems[0].message


def test_broken_yaml_is_refused_as_yaml_with_its_line():
    with pytest.raises(rules.RuleError) as caught:
        rules.validate("groups: [\n  - name: x\n")
    assert caught.value.step == "yaml"
    assert "not valid YAML" in str(caught.value) and "nothing was written" in str(caught.value)


def rule_file(expr: str) -> str:
    """Return a rule file with one recording rule of `expr`."""
    return f"groups:\n  - name: g\n    rules:\n      - record: job:x:y\n        expr: {expr}\n"


@pytest.mark.parametrize(
    "expr",
    [
        "histogram_quantile(0.95, sum by (job) (rate(x_bucket[1m])))",
        "histogram_quantile(0.95, sum(rate(x_bucket[1m])))",
        "histogram_quantile(0.95, sum without (le) (rate(x_bucket[1m])))",
    ],
    ids=["by-without-le", "no-by", "without-le"],
)
def test_quantile_that_drops_le_is_refused(expr):
    """C09: without `le` in the aggregation, histogram_quantile is always empty."""
    with pytest.raises(rules.RuleError, match="drops the le label") as caught:
        rules.validate(rule_file(expr))
    assert caught.value.step == "queries" and caught.value.line == 5


@pytest.mark.parametrize(
    "expr",
    [
        "histogram_quantile(0.95, sum by (job, le) (rate(x_bucket[1m])))",
        "histogram_quantile(0.95, sum(rate(x_bucket[1m])) by (le))",
        "histogram_quantile(0.95, sum without (instance) (rate(x_bucket[1m])))",
        "histogram_quantile(0.95, rate(x_bucket[1m]))",
    ],
)
def test_quantile_that_keeps_le_passes_the_query_check(expr):
    assert rules.check_queries(rule_file(expr)) == []


@pytest.mark.parametrize(
    "expr",
    [
        "histogram_quantile(0.9, (sum by (job) (rate(x_bucket[5m]))))",
        "histogram_quantile(0.9, sum by (le) (sum by (job) (rate(x_bucket[5m]))))",
        'histogram_quantile(0.9, label_replace(sum by (j) (x), "a", "", "b", ""))',
        "rate((sum(x))[1m:])",
        "rate(abs(sum(x))[1m:])",
    ],
    ids=["parentheses", "nested", "label-replace", "rate-parentheses", "rate-function"],
)
def test_query_check_sees_through_wrapping(expr):
    assert rules.check_queries(rule_file(expr)), expr


@pytest.mark.parametrize(
    "expr",
    [
        "rate(sum:requests:total[5m])",
        "sum(rate(x[5m]))  # never rate(sum(x)[5m:])",
        "histogram_quantile(0.9, topk(50, rate(x_bucket[5m])))",
        'sum(rate(x{path=~"/x[5s]"}[5m]))',
        "rate(sum_total[5m])",
        "histogram_quantile(0.99, sum by (le, job) (rate(x_bucket[5m]))) > 0.5"
        " and on (job) sum by (job) (rate(y_total[5m])) > 1",
    ],
    ids=["recorded-name", "comment", "topk", "regex-brackets", "metric-prefix", "after-call"],
)
def test_query_and_window_checks_pass_legitimate_promql(expr):
    text = rule_file(f"'{expr}'")
    assert rules.check_queries(text) == []
    assert rules.check_windows(text, scrape_interval=5) == ([], [])


def test_query_problem_in_a_block_is_reported_on_its_line_and_case_does_not_hide_it():
    text = rule_file(
        "|\n          histogram_quantile(\n            0.9,\n"
        "            SUM BY (job) (rate(x_bucket[5m]))\n          )"
    )
    problems = rules.check_queries(text)
    assert [p.line for p in problems] == [8] and "drops the le label" in problems[0].message


def test_window_in_a_block_expression_is_reported_on_its_own_line():
    text = rule_file("|\n          sum(\n            rate(x[5s])\n          )")
    errors, _ = rules.check_windows(text, scrape_interval=5)
    assert [p.line for p in errors] == [7]


def test_rate_of_a_sum_is_refused_with_the_right_order():
    """C11: sum-then-rate turns one instance's counter reset into a spike."""
    with pytest.raises(rules.RuleError, match=r"Rate first, then aggregate") as caught:
        rules.validate(rule_file("rate(sum by (job) (http_requests_total)[1m:])"))
    assert caught.value.step == "queries"


def test_shipped_rules_and_panel_queries_pass_the_query_check():
    from promlab import panels
    from promlab.paths import CONFIGS

    for path in sorted((CONFIGS / "prometheus" / "rules").glob("*.yml")):
        assert rules.check_queries(path.read_text()) == [], path.name
    for expr in panels.expressions():
        assert rules.expression_problems(expr) == [], expr


def test_name_without_level_metric_operations_is_refused():
    text = "groups:\n  - name: g\n    rules:\n      - record: errors\n        expr: up\n"
    assert "level:metric:operations" in rules.check_names(text)[0].message


def test_bad_promql_is_refused_with_promtools_message_and_line():
    text = (
        "groups:\n  - name: g\n    rules:\n      - record: job:x:rate5m\n"
        "        expr: sum by (job) (rate(x[5m])\n"
    )
    with pytest.raises(rules.RuleError) as caught:
        rules.validate(text)
    assert caught.value.line == 5
    assert "unclosed left parenthesis" in str(caught.value)
    assert "expr: sum by (job)" in str(caught.value)


def test_window_under_two_scrapes_is_refused_and_under_four_warned():
    text = (
        "groups:\n  - name: g\n    rules:\n"
        "      - record: job:x:rate15s\n        expr: sum(rate(x[15s]))\n"
        "      - record: job:x:rate40s\n        expr: sum(rate(x[40s]))\n"
    )
    errors, warnings = rules.check_windows(text, scrape_interval=15)
    assert [p.line for p in errors] == [5]
    assert [p.line for p in warnings] == [7]


def test_expressions_compare_as_prometheus_prints_them():
    mine = "sum by (job) (\n  rate(x{a='b'}[30d])\n) > 0.10"
    printed = 'sum by (job) (rate(x{a="b"}[4w2d])) > 0.1'
    assert rules._normal(mine) == rules._normal(printed)
    assert rules._normal("x > 0.1") != rules._normal("x > 0.2")


def test_compare_names_missing_extra_and_changed_groups():
    rule = {"record": "job:x:rate5m", "expr": "sum(rate(x[5m]))"}
    wanted = {("a.yml", "g"): [rule], ("b.yaml", "h"): [rule]}
    got = {
        ("a.yml", "g"): [{"name": "job:x:rate5m", "type": "recording", "query": "sum(x)"}],
        ("c.yml", "old"): [],
    }
    differences = "\n".join(rules.compare(wanted, got))
    assert "b.yaml: group h is not loaded" in differences
    assert "c.yml: group old runs but is in no rule file" in differences
    assert "sum(x) instead of sum(rate(x[300s]))" in differences


@pytest.mark.stack
def test_valid_threshold_edit_runs_within_seconds(shipped_rules):
    stack = shipped_rules
    text = rules.read(stack, ALERTS)
    edited = text.replace('{job="api"} > 0.05', '{job="api"} > 0.06', 1)
    assert edited != text
    result = rules.apply(stack, ALERTS, edited)
    assert result.total < 15
    queries = [r["query"] for g in rules.running(stack).values() for r in g]
    assert any('{job="api"} > 0.06' in q for q in queries)


@pytest.mark.stack
@pytest.mark.parametrize(
    ("old", "new", "step"),
    [
        ("record: job:http_requests:rate1m", "record: api-error-ratio:5m", "names"),
        ("record: job:http_requests:rate1m", 'record: job:errors{env="x"}', "names"),
        ("sum by (job) (rate(http_requests_total[1m]))", "sum by (job) (rate(", "check"),
        ("expr: sum by (job) (rate(http_requests_total[1m]))", "expr: rate(x[5s])", "windows"),
        ('http_requests_total{status=~"5.."}', 'http_requests_total{status=~"4.."}', "test"),
    ],
    ids=["hyphen-name", "braces-name", "bad-promql", "short-window", "failing-test"],
)
def test_broken_edit_keeps_running_rules(shipped_rules, old, new, step):
    stack = shipped_rules
    before = rules.running(stack)
    text = rules.read(stack, HTTP_RULES)
    assert old in text
    with pytest.raises(rules.RuleError) as caught:
        rules.apply(stack, HTTP_RULES, text.replace(old, new, 1))
    assert caught.value.step == step
    assert rules.read(stack, HTTP_RULES) == text
    assert_unchanged(stack, before)


@pytest.mark.stack
@pytest.mark.parametrize("name", ["extra.yaml", "sub/extra.yml", "../extra.yml"])
def test_file_outside_the_rule_glob_is_refused(shipped_rules, name):
    stack = shipped_rules
    before = rules.running(stack)
    with pytest.raises(rules.RuleError, match="outside the rule_files globs"):
        rules.apply(stack, name, rules.read(stack, HTTP_RULES))
    assert not (stack.rules_dir / name).exists()
    assert_unchanged(stack, before)


@pytest.mark.stack
def test_reload_refused_by_prometheus_restores_the_previous_file(shipped_rules):
    stack = shipped_rules
    before = rules.running(stack)
    text = rules.read(stack, HTTP_RULES)
    # Passes every check of this file, but another file on disk is broken.
    broken = stack.rules_dir / "zz-broken.yml"
    broken.write_text("groups:\n  - name: x\n    rules:\n      - record: a-b\n        expr: up\n")
    try:
        with pytest.raises(rules.RuleApplyError) as caught:
            rules.apply(stack, HTTP_RULES, text + "\n# edited\n")
    finally:
        broken.unlink()
    assert caught.value.step == "reload"
    assert "zz-broken.yml" in str(caught.value)
    assert rules.read(stack, HTTP_RULES) == text
    stack.reload()
    assert_unchanged(stack, before)


@pytest.mark.stack
def test_rule_file_missed_by_the_glob_fails_confirmation(shipped_rules):
    stack = shipped_rules
    stray: Path = stack.rules_dir / "stray.yaml"
    stray.write_text(
        "groups:\n  - name: stray\n    rules:\n      - record: a:b:c\n        expr: 1\n"
    )
    with pytest.raises(rules.RuleApplyError, match=r"stray\.yaml: group stray is not loaded"):
        rules.confirm(stack, timeout=1)


@pytest.mark.stack
def test_rule_editor_shows_a_refused_name_with_its_line(stack):
    from promlab.widgets import RuleEditor

    editor = RuleEditor(stack, HTTP_RULES)
    old = "record: job:http_requests:rate1m"
    editor.text.value = editor.text.value.replace(old, "record: api-error-ratio", 1)
    assert editor.validate() is False
    assert "(line " in editor.result.value
    assert "api-error-ratio" in editor.result.value
    assert rules.read(stack, HTTP_RULES) != editor.text.value


@pytest.mark.stack
@pytest.mark.slow
def test_production_stack_runs_production_windows_and_confirms_edits(run_dir, tmp_path):
    """A production stack loads rules rendered for it; an edit is confirmed there."""
    import shutil

    from promlab.paths import CONFIGS

    rules_dir = tmp_path / "rules"
    shutil.copytree(CONFIGS / "prometheus" / "rules", rules_dir)
    stack = Stack(run_dir=run_dir, ports="auto", rules_dir=rules_dir, profile="production")
    stack.up(wait_targets=False)
    assert stack.loaded_rules_dir() == run_dir / "rules"
    names = {r["name"] for g in rules.running(stack).values() for r in g}
    assert {"slo:sli_error:ratio_rate1h", "slo:sli_error:ratio_rate3d"} <= names
    assert "slo:sli_error:ratio_rate12m" not in names
    text = rules.read(stack, ALERTS)
    edited = text.replace('{job="api"} > 0.05', '{job="api"} > 0.06', 1)
    result = rules.apply(stack, ALERTS, edited)
    assert f"{ALERTS}: promlab" in " ".join(result.groups)
    queries = [r["query"] for g in rules.running(stack).values() for r in g]
    assert any('{job="api"} > 0.06' in q for q in queries)
    # Removing an alert the profile times is the learner's right, not an error.
    assert rules.remove(stack, "slo-web-availability.alerts.yml")
    names = {r["name"] for g in rules.running(stack).values() for r in g}
    assert "WebAvailabilityFastBurn" not in names
