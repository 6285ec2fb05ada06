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
    copied = _read_manifest(manifest_path)
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
    # Written whole or not at all: a torn manifest would bring deleted files back.
    partial = manifest_path.with_suffix(".tmp")
    partial.write_text(json.dumps(copied, indent=2, sort_keys=True) + "\n")
    partial.replace(manifest_path)
    if changed:
        log.info("rules in %s follow the shipped files: %s", target, ", ".join(changed))
    return changed


def reset_rules(target: Path, source: Path = SHIPPED_RULES) -> None:
    """Replace the rule files (*.yml, *.yaml) in `target` with the shipped ones.

    Other files are left alone. Reload the stack afterwards.
    """
    if target.resolve() == source.resolve():
        raise ValueError(f"{target} is the shipped rules folder itself; nothing to reset")
    for path in [*target.glob("*.yml"), *target.glob("*.yaml"), target / MANIFEST]:
        path.unlink(missing_ok=True)
    sync_rules(target, source)
    log.info("rules in %s reset to the shipped files", target)


def _read_manifest(path: Path) -> dict[str, str]:
    """Return the manifest; an unreadable one counts as none (edits are kept)."""
    try:
        copied = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(copied, dict):
        log.warning("%s is not a manifest; starting a new one", path)
        return {}
    return {str(k): str(v) for k, v in copied.items()}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
