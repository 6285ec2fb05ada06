"""The lab's working copy of the rule files, kept out of the repository.

A stack loads its rules from `<PROMLAB_HOME>/rules/` (`.run/rules/` in a
checkout), seeded from configs/prometheus/rules. Rule edits made in the notebooks
land there, so a half-done exercise never changes a tracked file, and the tests,
which check the shipped files, never see it.

`sync_rules` runs on every start and reload: shipped files the learner has not
changed follow the repository (a `git pull`, a regenerated SLO file); files the
learner changed, added or deleted stay as the learner left them. `reset_rules`
puts the shipped files back.
"""

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

from promlab.paths import CONFIGS, home

log = logging.getLogger(__name__)

SHIPPED_RULES = CONFIGS / "prometheus" / "rules"
# What was copied from the repository, by file name: its SHA-256 at the time.
MANIFEST = ".shipped.json"


def lab_rules_dir() -> Path:
    """Return the lab's copy of the rules: `<PROMLAB_HOME>/rules`."""
    return (home() / "rules").resolve()


def default_rules_dir() -> Path:
    """Return the rules folder a stack uses unless told: `PROMLAB_RULES_DIR`, else the lab copy."""
    explicit = os.environ.get("PROMLAB_RULES_DIR")
    return Path(explicit).resolve() if explicit else lab_rules_dir()


def sync_rules(target: Path, source: Path = SHIPPED_RULES) -> list[str]:
    """Bring the shipped rule files the learner has not changed into `target`.

    Returns:
        The names of the files copied, updated or removed.
    """
    target.mkdir(parents=True, exist_ok=True)
    manifest_path = target / MANIFEST
    try:
        copied: dict[str, str] = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        copied = {}
    shipped = {p.name: p for p in source.iterdir() if p.is_file() and not p.name.startswith(".")}
    changed = []
    for name, path in sorted(shipped.items()):
        mine, wanted = target / name, _digest(path)
        if mine.exists():
            have = _digest(mine)
            if have == wanted:
                copied[name] = wanted
                continue
            if have != copied.get(name):
                log.info("keeping %s: the learner changed it", mine)
                continue
        elif name in copied:
            continue  # the learner deleted it
        shutil.copyfile(path, mine)
        copied[name] = wanted
        changed.append(name)
    for name in sorted(set(copied) - set(shipped)):
        mine = target / name
        if mine.exists() and _digest(mine) == copied[name]:
            mine.unlink()
            changed.append(name)
        del copied[name]
    manifest_path.write_text(json.dumps(copied, indent=2, sort_keys=True) + "\n")
    if changed:
        log.info("rules in %s follow the shipped files: %s", target, ", ".join(changed))
    return changed


def reset_rules(target: Path, source: Path = SHIPPED_RULES) -> None:
    """Replace every rule file in `target` with the shipped ones (reload the stack after)."""
    if target.resolve() == source.resolve():
        raise ValueError(f"{target} is the shipped rules folder itself; nothing to reset")
    shutil.rmtree(target, ignore_errors=True)
    sync_rules(target, source)
    log.info("rules in %s reset to the shipped files", target)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
