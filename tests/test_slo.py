"""promlab.slo: specs become SLI recording rules, burn-rate alerts and their tests."""

import shutil
import subprocess

import pytest
import yaml

from promlab import profiles, promql, slo
from promlab.paths import CONFIGS

PROM = CONFIGS / "prometheus"


def promtool(*args: str, cwd=None) -> subprocess.CompletedProcess:
    """Run promtool and capture its report."""
    command = [shutil.which("promtool") or "promtool", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_shipped_specs_cover_web_and_api_availability_and_api_latency():
    assert slo.names() == ["api-availability", "api-latency", "web-availability"]


@pytest.mark.parametrize("name", slo.names())
def test_shipped_files_are_what_the_spec_generates(name):
    """Nobody edited a generated file by hand, and no spec changed without them."""
    for relative, text in slo.generate(slo.load(name), "classroom").items():
        assert (PROM / relative).read_text() == text, f"regenerate {relative}"


@pytest.mark.parametrize("profile", ["classroom", "production"])
def test_generated_rules_pass_promtool_check_and_their_tests(profile, tmp_path):
    for name in slo.names():
        slo.write(slo.load(name), tmp_path, profile)
    rule_files = sorted(str(p) for p in (tmp_path / "rules").glob("*.yml"))
    checked = promtool("check", "rules", *rule_files)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tests = sorted(p.name for p in (tmp_path / "tests").glob("*.yml"))
    tested = promtool("test", "rules", *tests, cwd=tmp_path / "tests")
    assert tested.returncode == 0, tested.stdout + tested.stderr


@pytest.mark.parametrize("profile", ["classroom", "production"])
def test_every_window_spans_four_scrapes_of_both_profiles(profile):
    """C08: the stack runs the classroom files with either profile's scrape interval."""
    slowest = max(profiles.load(p).seconds("scrape_interval") for p in profiles.names())
    timing = slo.timing(profile)
    for name in slo.names():
        assert min(slo.windows(slo.load(name), timing)) >= 4 * slowest


def test_classroom_time_pages_a_full_outage_within_two_and_a_half_minutes():
    timing = slo.timing("classroom")
    page = slo.BURN_WINDOWS[0]
    for name in slo.names():
        spec = slo.load(name)
        detect = timing.window(page.long) * slo.threshold(spec, page.factor)
        assert detect + profiles.parse_duration(slo.alert_for(timing, "critical")) < 150


def test_production_windows_follow_the_sre_workbook():
    timing = slo.timing("production")
    pairs = [
        (slo.format_duration(w.long), slo.format_duration(w.short), w.factor, w.severity)
        for w in slo.BURN_WINDOWS
    ]
    assert pairs == [
        ("1h", "5m", 14.4, "critical"),
        ("6h", "30m", 6, "critical"),
        ("1d", "2h", 3, "warning"),
        ("3d", "6h", 1, "warning"),
    ]
    assert slo.windows(slo.load("api-availability"), timing)[-1] == 30 * 86400


def test_production_profile_lists_the_production_for_of_every_slo_alert():
    production = profiles.load("production").alert_for
    timing = slo.timing("production")
    for name in slo.names():
        spec = slo.load(name)
        for severity in ("critical", "warning"):
            assert production[spec.alert_name(severity)] == slo.alert_for(timing, severity)


def test_no_traffic_records_zero_not_nan_and_the_tests_prove_it():
    spec = slo.load("api-availability")
    expr = slo.error_ratio_expr(spec, 300)
    assert "> 0" in expr and "* 0" in expr
    tests = slo.unit_tests(spec, slo.timing("classroom"))["tests"]
    idle = [t for t in tests if "no traffic" in t["name"]]
    assert idle and all(c["exp_samples"][0]["value"] == 0 for c in idle[0]["promql_expr_test"])


def test_every_generated_alert_has_a_firing_and_a_silent_test():
    for name in slo.names():
        spec = slo.load(name)
        names = [t["name"] for t in slo.unit_tests(spec, slo.timing("classroom"))["tests"]]
        for severity in ("critical", "warning"):
            alert = spec.alert_name(severity)
            assert any(n.startswith(f"{alert} fires when") for n in names)
            assert any(n.startswith(f"{alert} stays silent when") for n in names)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sli": {"errors": "sum(rate(x[5m]))", "total": "sum(rate(y[{window}]))"}}, "{window}"),
        ({"objective": 99.5}, "between 0 and 1"),
        ({"service": "Api-Tier"}, "lower_snake_case"),
        ({"sli": {"total": "sum(rate(y[{window}]))"}}, "exactly one of"),
    ],
    ids=["no-window", "percent-objective", "bad-service", "no-errors-or-good"],
)
def test_broken_specs_are_refused_with_the_reason(change, message):
    doc = yaml.safe_load((CONFIGS / "slo" / "api-availability.yml").read_text())
    doc.update(change)
    with pytest.raises(slo.SLOSpecError, match=message.replace("{", r"\{").replace("}", r"\}")):
        slo.parse(yaml.safe_dump(doc))


def test_durations_print_as_prometheus_reads_them():
    assert [slo.format_duration(s) for s in (60, 300, 4320, 86400 * 30)] == [
        "1m",
        "5m",
        "1h12m",
        "30d",
    ]


@pytest.mark.stack
def test_idle_service_records_zero_error_ratio_on_the_stack(stack):
    """The running stack records every SLO window; with no errors each is 0, never NaN."""
    spec = slo.load("api-availability")
    for window in slo.windows(spec, slo.timing()):
        frame = promql.wait_for(slo.selector(spec, window), stack, timeout=30)
        assert not frame["value"].isna().any(), window


def test_exercise_spec_with_blanks_asks_for_them_and_a_full_one_passes():
    blank = (CONFIGS / "slo" / "api-latency.yml").read_text().replace("0.99", slo.BLANK, 1)
    assert slo.BLANK in blank
    assert slo.try_spec(blank) == "not yet: fill in every ___ in the spec"
    verdict = slo.try_spec((CONFIGS / "slo" / "api-latency.yml").read_text())
    assert verdict.startswith("passed: ApiLatency")
