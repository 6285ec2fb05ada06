"""Timing profiles: both load, agree with the rule files, and pass their promtool tests."""

import re
import shutil
import subprocess

import pytest
import yaml

from promlab import binaries, profiles, render, slo
from promlab.paths import CONFIGS

RULES = CONFIGS / "prometheus" / "rules"
CLASSROOM_TESTS = CONFIGS / "prometheus" / "tests"


def alert_fors() -> dict[str, str]:
    """Map each alert of the rule files to its `for` as written there."""
    found = {}
    for path in sorted(RULES.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    found[rule["alert"]] = rule["for"]
    return found


def test_classroom_and_production_profiles_ship():
    """Both profiles exist and load without contradictions."""
    assert profiles.names() == ["classroom", "production"]
    for name in profiles.names():
        assert profiles.load(name).name == name


@pytest.mark.parametrize("name", ["classroom", "production"])
def test_profile_repeats_on_group_flushes_and_scrapes_finish_in_time(name):
    """repeat_interval >= group_interval (C18) and scrape_timeout <= scrape_interval."""
    profile = profiles.load(name)
    assert profile.seconds("repeat_interval") >= profile.seconds("group_interval")
    assert profile.seconds("scrape_timeout") <= profile.seconds("scrape_interval")


@pytest.mark.parametrize("name", ["classroom", "production"])
def test_every_rate_window_spans_four_scrapes_in_each_profile(name):
    """Rule expressions stay the same, so their windows must suit both scrape intervals."""
    scrape = profiles.load(name).seconds("scrape_interval")
    windows = re.findall(r"\[(\d+[smh])\]", "".join(p.read_text() for p in RULES.glob("*.yml")))
    assert windows
    for window in windows:
        assert profiles.parse_duration(window) >= 4 * scrape, f"[{window}] with {scrape}s"


def test_production_profile_sets_for_of_every_alert_and_never_shorter():
    """No alert runs with classroom `for` in production, and none waits less there."""
    production = profiles.load("production")
    fors = alert_fors()
    assert set(production.alert_for) == set(fors)
    for alert, classroom_for in fors.items():
        longer = profiles.parse_duration(production.alert_for[alert])
        assert longer >= profiles.parse_duration(classroom_for), alert


def test_classroom_profile_keeps_the_rule_files_as_written(tmp_path):
    """Rendering the classroom profile copies every rule file byte for byte."""
    written = profiles.render_rules(profiles.load("classroom"), RULES, tmp_path)
    assert [p.name for p in written] == sorted(p.name for p in RULES.glob("*.yml"))
    for path in written:
        assert path.read_bytes() == (RULES / path.name).read_bytes()


def test_production_profile_changes_only_for_durations(tmp_path):
    """The rendered production rules differ from the source only in `for`.

    The SLO files are the exception: they are generated with production windows.
    """
    production = profiles.load("production")
    profiles.render_rules(production, RULES, tmp_path)
    for source in RULES.glob("*.yml"):
        if source.name.startswith("slo-"):
            continue
        original = yaml.safe_load(source.read_text())
        rendered = yaml.safe_load((tmp_path / source.name).read_text())
        for before, after in zip(original["groups"], rendered["groups"], strict=True):
            for rule, new in zip(before["rules"], after["rules"], strict=True):
                if "alert" in rule:
                    assert new.pop("for") == production.alert_for[rule["alert"]]
                    rule.pop("for")
                assert new == rule


def test_production_profile_runs_slo_windows_of_production(tmp_path):
    """The 5m, 1h, 6h and 3d windows run as such, not compressed fivefold."""
    profiles.render_rules(profiles.load("production"), RULES, tmp_path)
    for spec in slo.names():
        stem = slo.load(spec).stem
        generated = slo.generate(slo.load(spec), "production")
        for kind in ("rules", "alerts"):
            rendered = yaml.safe_load((tmp_path / f"{stem}.{kind}.yml").read_text())
            assert rendered == yaml.safe_load(generated[f"rules/{stem}.{kind}.yml"])
        recorded = (tmp_path / f"{stem}.rules.yml").read_text()
        for window in ("5m", "1h", "6h", "3d", "30d"):
            assert f"record: slo:sli_error:ratio_rate{window}\n" in recorded
        assert "ratio_rate12m" not in recorded


def test_hand_edited_slo_file_keeps_its_edit_in_production(tmp_path, caplog):
    """An SLO file that no longer matches its spec is rendered as written, with a warning."""
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    edited = rules / "slo-api-availability.alerts.yml"
    edited.write_text(edited.read_text().replace("14.4", "15", 1))
    out = tmp_path / "out"
    profiles.render_rules(profiles.load("production"), rules, out)
    kept = yaml.safe_load((out / edited.name).read_text())
    assert kept["groups"] and "15" in (out / edited.name).read_text()
    assert "ratio_rate12m" in (out / edited.name).read_text()
    assert "slo-api-availability.alerts.yml is not what its spec" in caplog.text
    regenerated = (out / "slo-api-availability.rules.yml").read_text()
    assert "ratio_rate1h\n" in regenerated


def test_profile_naming_an_unknown_alert_is_refused(tmp_path):
    """A typo in a profile's alert_for fails loudly instead of being ignored."""
    typo = profiles.Profile(
        **{**profiles.load("production").__dict__, "alert_for": {"InstanceDwn": "1m"}}
    )
    with pytest.raises(profiles.ProfileError, match="InstanceDwn"):
        profiles.render_rules(typo, RULES, tmp_path)


def test_profile_with_repeat_shorter_than_group_interval_is_refused(tmp_path):
    """Loading a profile whose repeats could never happen raises ProfileError."""
    doc = yaml.safe_load((profiles.PROFILES_DIR / "classroom.yml").read_text())
    doc["alertmanager"]["repeat_interval"] = "5s"
    (tmp_path / "bad.yml").write_text(yaml.safe_dump(doc))
    with pytest.raises(profiles.ProfileError, match="repeat_interval"):
        profiles.load("bad", tmp_path)


def test_unknown_profile_names_the_available_ones():
    """Asking for a profile that does not exist lists those that do."""
    with pytest.raises(profiles.ProfileError, match="classroom, production"):
        profiles.load("staging")


@pytest.mark.parametrize("name", ["classroom", "production"])
def test_promtool_unit_tests_pass_with_profile(name, tmp_path):
    """Each profile's unit tests pass against the rules rendered for it."""
    result = profiles.run_rule_tests(profiles.load(name), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_tests_fail_against_classroom_timing(tmp_path):
    """The production tests really check `for`: with classroom rules they fail."""
    tree = tmp_path / "prometheus"
    shutil.copytree(CONFIGS / "prometheus", tree)
    promtool = str(binaries.find_binary("promtool"))
    command = [promtool, "test", "rules", "tests/production/alerts.test.yml"]
    result = subprocess.run(command, cwd=tree, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "InstanceDown" in result.stdout + result.stderr


def test_firing_expectations_fail_when_moved_before_for_elapses(tmp_path):
    """Mutation check (C12): every firing case fails at eval_time 0s."""
    tree = tmp_path / "prometheus"
    shutil.copytree(CONFIGS / "prometheus", tree)
    mutated = 0
    for path in sorted((tree / "tests").glob("*.test.yml")):
        doc = yaml.safe_load(path.read_text())
        for group in doc["tests"]:
            for case in group.get("alert_rule_test", []):
                if case.get("exp_alerts"):
                    case["eval_time"] = "0s"
                    mutated += 1
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
    promtool = str(binaries.find_binary("promtool"))
    for path in sorted((tree / "tests").glob("*.test.yml")):
        command = [promtool, "test", "rules", path.name]
        result = subprocess.run(command, cwd=path.parent, capture_output=True, text=True)
        expected = sum(
            1
            for group in yaml.safe_load(path.read_text())["tests"]
            for case in group.get("alert_rule_test", [])
            if case.get("exp_alerts")
        )
        report = result.stdout + result.stderr
        assert result.returncode == 1, report
        assert report.count("alertname:") >= expected, report
    assert mutated >= len(alert_fors())


def test_rendered_configs_take_the_profile_timing(tmp_path):
    """prometheus.yml and alertmanager.yml get the profile's intervals when rendered."""
    production = profiles.load("production")
    prom = yaml.safe_load(
        render.prometheus_config({}, "127.0.0.1:9093", tmp_path, profile=production)
    )
    assert prom["global"]["scrape_interval"] == production.scrape_interval
    assert prom["global"]["evaluation_interval"] == production.evaluation_interval
    am = yaml.safe_load(render.alertmanager_config(tmp_path, profile=production))
    assert am["route"]["group_wait"] == production.group_wait
    assert am["route"]["group_interval"] == production.group_interval
    assert am["route"]["repeat_interval"] == production.repeat_interval
