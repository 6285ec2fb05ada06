"""Checks for the Prometheus and Alertmanager configuration under configs/."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from promlab import profiles

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
PROM_DIR = CONFIGS / "prometheus"
PROM_CONFIG = PROM_DIR / "prometheus.yml"
RULE_FILES = sorted((PROM_DIR / "rules").glob("*.yml"))
RULE_TEST_FILES = sorted((PROM_DIR / "tests").glob("*.yml"))
AM_DIR = CONFIGS / "alertmanager"
AM_CONFIG = AM_DIR / "alertmanager.yml"

INSTALL_HINT = "apt-get install prometheus prometheus-alertmanager"

# Default local address of every scrape job, as agreed for the stack.
DEFAULT_TARGETS = {
    "web": "127.0.0.1:8080",
    "api": "127.0.0.1:8081",
    "postgres": "127.0.0.1:9187",
    "node": "127.0.0.1:9100",
    "prometheus": "127.0.0.1:9090",
    "alertmanager": "127.0.0.1:9093",
    "inbox": "127.0.0.1:8082",
}

SECRET_FILES = {
    "slack-oncall": "secrets/slack_oncall_url",
    "slack-team": "secrets/slack_team_url",
}

# A metric name with exactly two colons: level:metric:operations.
RECORDING_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*:[a-zA-Z0-9_]+:[a-zA-Z0-9_]+$")


def binary(name: str) -> str:
    """Return the path of an installed binary, failing the test when it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found on PATH; install it with: {INSTALL_HINT}")
    return path


def run(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run a command and capture its text output."""
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)


def load_yaml(path: Path):
    """Parse one YAML file."""
    return yaml.safe_load(path.read_text())


def alert_rules() -> list[dict]:
    """All alerting rules of every rule file."""
    rules = []
    for path in RULE_FILES:
        for group in load_yaml(path)["groups"]:
            rules.extend(rule for rule in group["rules"] if "alert" in rule)
    return rules


def recording_rules() -> list[dict]:
    """All recording rules of every rule file."""
    rules = []
    for path in RULE_FILES:
        for group in load_yaml(path)["groups"]:
            rules.extend(rule for rule in group["rules"] if "record" in rule)
    return rules


def unit_test_groups() -> list[dict]:
    """All test groups of every promtool unit test file."""
    groups = []
    for path in RULE_TEST_FILES:
        groups.extend(load_yaml(path)["tests"])
    return groups


def alert_cases(group: dict, alertname: str) -> list[dict]:
    """The alert_rule_test entries of a test group that check one alert."""
    return [case for case in group.get("alert_rule_test", []) if case["alertname"] == alertname]


def alertmanager_copy(tmp_path: Path) -> Path:
    """Copy the Alertmanager config with its secrets pointing into tmp_path."""
    shutil.copytree(AM_DIR, tmp_path / "alertmanager")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    config_path = tmp_path / "alertmanager" / "alertmanager.yml"
    text = config_path.read_text()
    for receiver, relative in SECRET_FILES.items():
        channel = receiver.removeprefix("slack-")
        secret = tmp_path / relative
        secret.write_text(f"http://127.0.0.1:8082/hooks/{channel}\n")
        text = text.replace(f"api_url_file: {relative}", f"api_url_file: {secret}")
    config_path.write_text(text)
    return config_path


def test_rule_and_test_files_exist():
    """The config tree holds rule files, unit tests and both main configs."""
    assert PROM_CONFIG.is_file()
    assert AM_CONFIG.is_file()
    assert any(p.name.endswith(".rules.yml") for p in RULE_FILES)
    assert any(p.name.endswith(".alerts.yml") for p in RULE_FILES)
    assert RULE_TEST_FILES


def test_prometheus_config_passes_promtool_check(tmp_path):
    """promtool accepts prometheus.yml and loads every rule file through it."""
    promtool = binary("promtool")
    copy = tmp_path / "prometheus"
    shutil.copytree(PROM_DIR, copy)
    result = run([promtool, "check", "config", "prometheus.yml"], cwd=copy)
    assert result.returncode == 0, result.stdout + result.stderr
    for path in RULE_FILES:
        assert path.name in result.stdout, f"{path.name} not loaded:\n{result.stdout}"


def test_prometheus_config_has_one_static_target_per_contract_job():
    """Every job of the stack is scraped once, at its default local address."""
    config = load_yaml(PROM_CONFIG)
    jobs = {}
    for scrape in config["scrape_configs"]:
        assert scrape["job_name"] not in jobs, f"duplicate job {scrape['job_name']}"
        static = scrape["static_configs"]
        assert len(static) == 1, scrape["job_name"]
        assert len(static[0]["targets"]) == 1, scrape["job_name"]
        assert scrape.get("metrics_path", "/metrics") == "/metrics", scrape["job_name"]
        jobs[scrape["job_name"]] = static[0]["targets"][0]
    assert jobs == DEFAULT_TARGETS


def test_prometheus_config_uses_classroom_timing_and_relative_rules():
    """The file holds the classroom profile's intervals and loads rules/*.yml."""
    config = load_yaml(PROM_CONFIG)
    classroom = profiles.load("classroom")
    assert config["global"]["scrape_interval"] == classroom.scrape_interval
    assert config["global"]["evaluation_interval"] == classroom.evaluation_interval
    assert config["global"]["scrape_timeout"] == classroom.scrape_timeout
    assert config["rule_files"] == ["rules/*.yml"]
    managers = config["alerting"]["alertmanagers"]
    assert len(managers) == 1
    assert managers[0]["static_configs"] == [{"targets": ["127.0.0.1:9093"]}]


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_rule_file_passes_promtool_check(path):
    """promtool check rules accepts each rule file."""
    result = run([binary("promtool"), "check", "rules", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", RULE_TEST_FILES, ids=lambda p: p.name)
def test_rule_unit_tests_pass(path):
    """promtool test rules passes for each unit test file."""
    result = run([binary("promtool"), "test", "rules", path.name], cwd=path.parent)
    assert result.returncode == 0, result.stdout + result.stderr


# One token of promtool's series notation: "1", "1x11", "0+5x30", "_x3", "stale".
SERIES_TOKEN = re.compile(
    r"^(?P<value>_|stale|[-+]?[0-9.eE+]+?)(?:[+-][0-9.eE]+)?(?:x(?P<times>[0-9]+))?$"
)


def last_sample(values: str) -> int:
    """Return how many steps a promtool series spans up to its last real sample."""
    steps = last = 0
    for token in str(values).split():
        match = SERIES_TOKEN.match(token)
        assert match, f"unreadable series token {token!r}"
        steps += int(match["times"]) + 1 if match["times"] else 1
        if match["value"] not in ("_", "stale"):
            last = steps
    return last - 1


def short_series(doc: dict) -> list[str]:
    """Return input series that end before their test group's last eval_time.

    A series may end on purpose only where the group checks the job's absent()
    alert (`up{job="api"}` and ApiJobAbsent).
    """
    found = []
    for group in doc["tests"]:
        default = doc.get("evaluation_interval", "1m")
        interval = profiles.parse_duration(group.get("interval", default))
        cases = group.get("alert_rule_test", []) + group.get("promql_expr_test", [])
        if not cases:
            continue
        end = max(profiles.parse_duration(case["eval_time"]) for case in cases)
        for series in group["input_series"]:
            if last_sample(series["values"]) * interval >= end:
                continue
            job = re.search(r'job="([^"]+)"', series["series"])
            if job and f"{job[1].capitalize()}JobAbsent" in yaml.safe_dump(group):
                continue
            found.append(f"{group['name']}: {series['series']} ends before {end:g}s")
    return found


ALL_RULE_TEST_FILES = sorted((PROM_DIR / "tests").rglob("*.test.yml"))


@pytest.mark.parametrize("path", ALL_RULE_TEST_FILES, ids=lambda p: p.name)
def test_input_series_cover_every_eval_time(path):
    """C12: a series that ends early still shows for 5 minutes and fakes a result."""
    assert short_series(load_yaml(path)) == []


def test_shortened_series_is_caught():
    """The mutation C12 warns about (cut a series short) fails the check above."""
    doc = load_yaml(PROM_DIR / "tests" / "availability.test.yml")
    series = doc["tests"][0]["input_series"][0]
    assert series["values"] == "1x11 0x30"
    series["values"] = "1x11 0x2"
    assert short_series(doc) == [f"{doc['tests'][0]['name']}: {series['series']} ends before 120s"]


def test_every_alert_has_for_severity_service_and_annotations():
    """Each alert waits with `for`, names severity and service, and explains itself."""
    alerts = alert_rules()
    assert alerts
    for rule in alerts:
        name = rule["alert"]
        assert re.fullmatch(r"(?:[A-Z][a-z0-9]+)+", name), f"{name} is not PascalCase"
        assert rule.get("for"), f"{name} has no `for`"
        labels = rule.get("labels", {})
        assert labels.get("severity") in {"critical", "warning"}, name
        assert labels.get("service"), f"{name} has no service label"
        annotations = rule.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            assert annotations.get(key), f"{name} has no {key} annotation"
        assert "{{" in annotations["description"], f"{name} description is not templated"
        assert annotations["runbook_url"].startswith("http://127.0.0.1:8888/lab/tree/")
        assert "#" in annotations["runbook_url"], f"{name} runbook_url has no anchor"


def test_alert_names_are_unique():
    """No two alerting rules share a name."""
    names = [rule["alert"] for rule in alert_rules()]
    assert len(names) == len(set(names))


def test_every_alert_has_a_firing_and_a_silent_unit_test():
    """Each alert has a "fires when" and a "stays silent when" unit test group."""
    groups = unit_test_groups()
    for rule in alert_rules():
        name = rule["alert"]
        firing = [
            group
            for group in groups
            if group.get("name", "").startswith(f"{name} fires when")
            and any(case.get("exp_alerts") for case in alert_cases(group, name))
        ]
        silent = [
            group
            for group in groups
            if group.get("name", "").startswith(f"{name} stays silent when")
            and alert_cases(group, name)
            and not any(case.get("exp_alerts") for case in alert_cases(group, name))
        ]
        assert firing, f"no '{name} fires when ...' test group with an expected alert"
        assert silent, f"no '{name} stays silent when ...' test group without alerts"


def test_recording_rule_names_follow_level_metric_operations():
    """Recording rule names are valid metric names with exactly two colons."""
    rules = recording_rules()
    assert rules
    for rule in rules:
        assert RECORDING_NAME.fullmatch(rule["record"]), rule["record"]


def test_recording_rules_are_checked_by_unit_tests():
    """Every recording rule is queried by at least one promql_expr_test."""
    exprs = " ".join(
        case["expr"] for group in unit_test_groups() for case in group.get("promql_expr_test", [])
    )
    for rule in recording_rules():
        assert rule["record"] in exprs, f"{rule['record']} has no promql_expr_test"


def test_alertmanager_config_passes_amtool_check(tmp_path):
    """amtool accepts the Alertmanager config once its secret files exist."""
    config_path = alertmanager_copy(tmp_path)
    result = run([binary("amtool"), "check-config", str(config_path)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_alertmanager_binary_is_installed():
    """The Alertmanager server the stack runs is installed."""
    assert binary("prometheus-alertmanager")


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=critical", "service=api"], "slack-oncall"),
        (["severity=critical", "service=web", "alertname=InstanceDown"], "slack-oncall"),
        (["severity=warning", "service=api"], "slack-team"),
        (["severity=warning", "service=postgres"], "slack-team"),
        (["severity=critical", "service=postgres", "alertname=PostgresDown"], "slack-oncall"),
        (["severity=warning", "service=node", "alertname=NodeDiskSpaceLow"], "slack-team"),
        (["severity=info", "service=api"], "null"),
        (["severity=info", "service=web", "alertname=InstanceDown"], "null"),
        (["service=api"], "null"),
    ],
    ids=[
        "critical-api",
        "critical-web",
        "warning-api",
        "warning-postgres",
        "critical-postgres-down",
        "warning-node-disk",
        "info",
        "info-named",
        "none",
    ],
)
def test_alert_routes_to_expected_receiver(labels, receiver):
    """Critical goes to #oncall, warning to #team, anything else to the null receiver."""
    result = run(
        [
            binary("amtool"),
            "config",
            "routes",
            "test",
            f"--config.file={AM_CONFIG}",
            f"--verify.receivers={receiver}",
            *labels,
        ]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver


def test_default_receiver_has_no_configs():
    """The fallback receiver sends nothing anywhere."""
    config = load_yaml(AM_CONFIG)
    default = config["route"]["receiver"]
    receiver = next(r for r in config["receivers"] if r["name"] == default)
    assert set(receiver) == {"name"}


def test_slack_receivers_read_urls_from_secret_files_and_send_resolved():
    """Each Slack config reads its URL from a secret file and reports resolution."""
    config = load_yaml(AM_CONFIG)
    receivers = {r["name"]: r for r in config["receivers"]}
    channels = {"slack-oncall": "#oncall", "slack-team": "#team"}
    for name, secret in SECRET_FILES.items():
        slack_configs = receivers[name]["slack_configs"]
        assert len(slack_configs) == 1
        slack = slack_configs[0]
        assert slack["api_url_file"] == secret
        assert "api_url" not in slack
        assert slack["send_resolved"] is True
        assert slack["channel"] == channels[name]
        assert slack.get("title") and slack.get("text")


def test_alertmanager_grouping_and_timing():
    """Groups by alert and service, with the classroom profile's timing."""
    route = load_yaml(AM_CONFIG)["route"]
    classroom = profiles.load("classroom")
    assert route["group_by"] == ["alertname", "service"]
    assert route["group_wait"] == classroom.group_wait
    assert route["group_interval"] == classroom.group_interval
    assert route["repeat_interval"] == classroom.repeat_interval
    # Repeats only happen on a group flush (field case C18).
    interval = profiles.parse_duration(route["group_interval"])
    assert profiles.parse_duration(route["repeat_interval"]) >= interval


def test_no_route_continues_so_each_alert_reaches_one_receiver():
    """Without `continue`, the first matching child route is the only receiver."""
    route = load_yaml(AM_CONFIG)["route"]
    for child in route["routes"]:
        assert not child.get("continue", False), child
        assert "routes" not in child, "nested routes need their own route tests"


def test_inhibit_equal_labels_are_carried_by_every_alert():
    """Every label an inhibit rule compares is set by every alerting rule."""
    config = load_yaml(AM_CONFIG)
    inhibit_rules = config["inhibit_rules"]
    assert inhibit_rules
    for inhibit in inhibit_rules:
        assert inhibit["equal"], "an inhibit rule without equal silences everything"
        for label in inhibit["equal"]:
            if label == "alertname":
                continue
            for rule in alert_rules():
                value = rule.get("labels", {}).get(label)
                assert value, f"{rule['alert']} lacks {label}"
                # A templated value is only as good as the label it reads: the
                # expression must keep that label on every series it returns.
                for source in re.findall(r"\$labels\.(\w+)", value):
                    assert source == "job", f"{rule['alert']}: {label} from {source}"
                    assert "sum(" not in rule["expr"].replace(" ", ""), rule["alert"]


def test_no_inline_webhook_url_under_configs():
    """No file under configs/ holds a webhook URL inline."""
    offenders = []
    for path in sorted(CONFIGS.rglob("*")):
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if re.search(r"^\s*(?:slack_)?api_url\s*:", text, re.MULTILINE):
            offenders.append(f"{path}: api_url key")
        if "hooks.slack.com" in text:
            offenders.append(f"{path}: hooks.slack.com")
    assert not offenders, "\n".join(offenders)
