"""Rendering: the shared config files change only in addresses and paths."""

from pathlib import Path

import yaml

from promlab import render
from promlab.paths import CONFIGS

PROM = CONFIGS / "prometheus" / "prometheus.yml"
AM = CONFIGS / "alertmanager" / "alertmanager.yml"


def test_each_job_gets_exactly_its_rendered_target(tmp_path: Path) -> None:
    targets = {"web": "127.0.0.1:1111", "api": "127.0.0.1:2222"}
    doc = yaml.safe_load(render.prometheus_config(targets, "127.0.0.1:3333", tmp_path))
    by_job = {s["job_name"]: s["static_configs"][0]["targets"] for s in doc["scrape_configs"]}
    assert by_job["web"] == ["127.0.0.1:1111"]
    assert by_job["api"] == ["127.0.0.1:2222"]
    am_targets = doc["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert am_targets == ["127.0.0.1:3333"]


def test_rendering_keeps_everything_but_addresses_and_paths(tmp_path: Path) -> None:
    source = yaml.safe_load(PROM.read_text())
    doc = yaml.safe_load(render.prometheus_config({}, "127.0.0.1:9093", tmp_path))
    assert doc["global"] == source["global"]
    for before, after in zip(source["scrape_configs"], doc["scrape_configs"], strict=True):
        assert {k: v for k, v in before.items() if k != "static_configs"} == {
            k: v for k, v in after.items() if k != "static_configs"
        }


def test_rule_globs_point_into_the_chosen_rules_folder(tmp_path: Path) -> None:
    doc = yaml.safe_load(render.prometheus_config({}, "127.0.0.1:9093", tmp_path))
    assert doc["rule_files"]
    assert all(Path(p).parent == tmp_path for p in doc["rule_files"])


def test_alertmanager_secret_paths_become_absolute(tmp_path: Path) -> None:
    doc = yaml.safe_load(render.alertmanager_config(tmp_path, AM))
    files = [c["api_url_file"] for r in doc["receivers"] for c in r.get("slack_configs", [])]
    assert files
    assert all(Path(f).parent == tmp_path for f in files)
    assert "api_url" not in str([r.get("slack_configs") for r in doc["receivers"]]).replace(
        "api_url_file", ""
    )


def test_default_secrets_point_at_the_inbox_and_are_private(tmp_path: Path) -> None:
    render.ensure_secrets(tmp_path, ["slack_oncall_url"], "http://127.0.0.1:8082")
    path = tmp_path / "slack_oncall_url"
    assert path.read_text().strip() == "http://127.0.0.1:8082/hooks/oncall"
    assert path.stat().st_mode & 0o777 == 0o600


def test_existing_secret_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "slack_team_url").write_text("https://example.invalid/real\n")
    render.ensure_secrets(tmp_path, ["slack_team_url"], "http://127.0.0.1:8082")
    assert (tmp_path / "slack_team_url").read_text() == "https://example.invalid/real\n"


def test_stack_secrets_follow_the_inbox_port_but_keep_a_real_url(tmp_path: Path) -> None:
    learner, stack = tmp_path / "learner", tmp_path / "stack"
    learner.mkdir()
    (learner / "slack_oncall_url").write_text("http://127.0.0.1:8082/hooks/oncall\n")
    (learner / "slack_team_url").write_text("https://example.invalid/real\n")
    names = ["slack_oncall_url", "slack_team_url"]
    render.stack_secrets(learner, stack, names, "http://127.0.0.1:45678")
    assert (stack / "slack_oncall_url").read_text() == "http://127.0.0.1:45678/hooks/oncall\n"
    assert (stack / "slack_team_url").read_text() == "https://example.invalid/real\n"


def test_secret_file_names_come_from_the_alertmanager_config() -> None:
    names = render.secret_files(AM)
    assert "slack_oncall_url" in names
    assert "slack_team_url" in names
