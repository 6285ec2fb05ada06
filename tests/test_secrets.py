"""No secret in the repository: webhook URLs come from git-ignored files."""

import subprocess

import pytest
import yaml

from promlab import alerts, render
from promlab.paths import CONFIGS, ROOT

AM_CONFIG = CONFIGS / "alertmanager" / "alertmanager.yml"
FAKE_HOOK = "https://hooks." + "slack.com/services/T000/B000/not-a-real-token"


def test_no_publishable_file_holds_a_webhook_url_or_password():
    """Tracked files, and new ones git would add, hold no inline secret."""
    files = alerts.tracked_files()
    assert any(p.name == "alertmanager.yml" for p in files)
    assert alerts.find_inline_secrets(files) == []


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (f"webhook: {FAKE_HOOK}\n", "Slack webhook URL"),
        ("  - api_url: http://127.0.0.1:8082/hooks/team\n", "inline api_url"),
        ("global:\n  slack_api_url: 'https://example.com/x'\n", "inline api_url"),
        ("basic_auth:\n  password: hunter2\n", "inline password"),
    ],
    ids=["slack-url", "api-url", "global-slack-api-url", "password"],
)
def test_secret_scan_finds_inline_secrets(tmp_path, text, kind):
    """The scan reports file, line and kind for each inline secret."""
    path = tmp_path / "alertmanager.yml"
    path.write_text("route: {}\n" + text)
    found = alerts.find_inline_secrets([path])
    assert len(found) == 1
    assert found[0].endswith(f": {kind}")


def test_secret_scan_accepts_file_references_and_masked_values(tmp_path):
    """api_url_file, password_file and Alertmanager's <secret> mask are not secrets."""
    path = tmp_path / "ok.yml"
    path.write_text(
        "api_url_file: secrets/slack_team_url\npassword_file: /run/pw\npassword: <secret>\n"
    )
    assert alerts.find_inline_secrets([path]) == []


def test_secrets_folder_is_ignored_by_git():
    """Whatever a learner writes under secrets/ can never be committed by accident."""
    for name in render.secret_files(AM_CONFIG):
        result = subprocess.run(
            ["git", "check-ignore", "-q", f"secrets/{name}"], cwd=ROOT, timeout=30
        )
        assert result.returncode == 0, f"secrets/{name} is not git-ignored"


def test_every_slack_receiver_reads_a_secret_file():
    """Each Slack config names a file under secrets/, and no inline URL."""
    config = yaml.safe_load(AM_CONFIG.read_text())
    slack = [c for r in config["receivers"] for c in r.get("slack_configs", [])]
    assert slack
    for entry in slack:
        assert entry["api_url_file"].startswith("secrets/")
        assert "api_url" not in entry
    assert "slack_api_url" not in (config.get("global") or {})


def test_default_secrets_point_at_the_inbox(tmp_path):
    """The tooling's default secret is the inbox hook of the receiver's channel."""
    names = render.secret_files(AM_CONFIG)
    render.ensure_secrets(tmp_path, names, "http://127.0.0.1:8082")
    for name in names:
        channel = name.removeprefix("slack_").removesuffix("_url")
        assert (tmp_path / name).read_text().strip().endswith(f"/hooks/{channel}")


def test_a_real_url_in_the_secret_file_is_used_unchanged(tmp_path):
    """A learner's own webhook URL reaches the stack's copy as written."""
    learner, stack_dir = tmp_path / "learner", tmp_path / "stack"
    learner.mkdir()
    (learner / "slack_team_url").write_text(FAKE_HOOK + "\n")
    render.stack_secrets(learner, stack_dir, ["slack_team_url"], "http://127.0.0.1:1")
    assert (stack_dir / "slack_team_url").read_text().strip() == FAKE_HOOK


@pytest.mark.slow
def test_alertmanager_loads_the_shipped_config_with_secret_files(tmp_path):
    """A throwaway Alertmanager starts with it and never shows the URL itself."""
    names = render.secret_files(AM_CONFIG)
    for name in names:
        (tmp_path / name).write_text(FAKE_HOOK + "\n")
    status = alerts.try_config(AM_CONFIG, tmp_path)
    original = status["config"]["original"]
    assert "api_url_file" in original
    assert FAKE_HOOK not in original
