"""The lab's copy of the rules: seeded from the shipped files, kept out of the repository."""

import json
from pathlib import Path

import pytest

from promlab import workspace
from promlab.paths import CONFIGS
from promlab.stack import Stack


@pytest.fixture
def shipped(tmp_path: Path) -> Path:
    """Return a stand-in for configs/prometheus/rules with two files."""
    folder = tmp_path / "shipped"
    folder.mkdir()
    (folder / "a.rules.yml").write_text("groups: []\n# a, first version\n")
    (folder / "b.alerts.yml").write_text("groups: []\n# b, first version\n")
    return folder


def test_first_sync_copies_every_shipped_file(shipped: Path, tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    assert workspace.sync_rules(lab, shipped) == ["a.rules.yml", "b.alerts.yml"]
    for path in shipped.iterdir():
        assert (lab / path.name).read_text() == path.read_text()
    assert workspace.sync_rules(lab, shipped) == []


def test_shipped_changes_reach_untouched_files_only(shipped: Path, tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    workspace.sync_rules(lab, shipped)
    (lab / "a.rules.yml").write_text("groups: []\n# my edit\n")
    for path in shipped.iterdir():
        path.write_text(path.read_text().replace("first", "second"))
    assert workspace.sync_rules(lab, shipped) == ["b.alerts.yml"]
    assert (lab / "a.rules.yml").read_text() == "groups: []\n# my edit\n"
    assert "second" in (lab / "b.alerts.yml").read_text()


def test_files_the_learner_added_or_deleted_stay_so(shipped: Path, tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    workspace.sync_rules(lab, shipped)
    (lab / "b.alerts.yml").unlink()
    (lab / "mine.rules.yml").write_text("groups: []\n")
    workspace.sync_rules(lab, shipped)
    assert sorted(p.name for p in lab.glob("*.yml")) == ["a.rules.yml", "mine.rules.yml"]


def test_a_file_removed_upstream_goes_unless_edited(shipped: Path, tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    workspace.sync_rules(lab, shipped)
    (lab / "b.alerts.yml").write_text("groups: []\n# kept: my edit\n")
    for path in shipped.iterdir():
        path.unlink()
    assert workspace.sync_rules(lab, shipped) == ["a.rules.yml"]
    assert sorted(p.name for p in lab.glob("*.yml")) == ["b.alerts.yml"]


def test_reset_puts_the_shipped_files_back(shipped: Path, tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    workspace.sync_rules(lab, shipped)
    (lab / "a.rules.yml").write_text("broken")
    (lab / "mine.rules.yml").write_text("groups: []\n")
    workspace.reset_rules(lab, shipped)
    assert sorted(p.name for p in lab.glob("*.yml")) == ["a.rules.yml", "b.alerts.yml"]
    assert (lab / "a.rules.yml").read_text() == (shipped / "a.rules.yml").read_text()
    with pytest.raises(ValueError, match="shipped rules folder itself"):
        workspace.reset_rules(shipped, shipped)


def test_default_stack_edits_the_lab_copy_never_the_tracked_files(monkeypatch, tmp_path):
    """A learner's rule edits land under PROMLAB_HOME, which git ignores."""
    monkeypatch.delenv("PROMLAB_RULES_DIR", raising=False)
    monkeypatch.setenv("PROMLAB_HOME", str(tmp_path / "home"))
    stack = Stack(backend="local", ports="auto")
    assert stack.rules_dir == (tmp_path / "home" / "rules").resolve()
    stack._write_configs()
    tracked = CONFIGS / "prometheus" / "rules"
    assert sorted(p.name for p in stack.rules_dir.glob("*.yml")) == sorted(
        p.name for p in tracked.glob("*.yml")
    )
    rendered = (stack.run_dir / "config" / "prometheus.yml").read_text()
    assert str(stack.rules_dir) in rendered and str(tracked) not in rendered


def test_explicit_rules_folder_is_used_as_it_is(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMLAB_RULES_DIR", str(tmp_path / "mine"))
    (tmp_path / "mine").mkdir()
    stack = Stack(backend="local", run_dir=tmp_path / "run", ports="auto")
    stack._write_configs()
    assert list((tmp_path / "mine").iterdir()) == []


@pytest.mark.parametrize("manifest", ["null", "[]", '""', '{"trunc'])
def test_an_unreadable_manifest_keeps_the_learners_edits(shipped, tmp_path, manifest):
    lab = tmp_path / "lab"
    workspace.sync_rules(lab, shipped)
    (lab / "a.rules.yml").write_text("groups: []\n# my edit\n")
    (lab / workspace.MANIFEST).write_text(manifest)
    workspace.sync_rules(lab, shipped)
    assert (lab / "a.rules.yml").read_text() == "groups: []\n# my edit\n"
    assert isinstance(json.loads((lab / workspace.MANIFEST).read_text()), dict)
