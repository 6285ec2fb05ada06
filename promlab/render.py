"""Render the shared Prometheus and Alertmanager files for one stack's addresses.

The files under configs/ are the source of truth; rendering changes only addresses
and file paths, so what a learner reads is what runs.
"""

import logging
import re
from pathlib import Path

import yaml

from promlab.paths import CONFIGS
from promlab.profiles import Profile

log = logging.getLogger(__name__)

# Secret files the tooling made point at the inbox; anything else is the learner's.
DEFAULT_HOOK = re.compile(r"^http://127\.0\.0\.1:\d+/hooks/(?P<channel>[\w-]+)\s*$")
SECRET_NAME = re.compile(r"^slack_(?P<channel>[\w-]+)_url$")


def prometheus_config(
    targets: dict[str, str],
    alertmanager: str,
    rules_dir: Path,
    source: Path | None = None,
    profile: Profile | None = None,
    skip_jobs: set[str] | frozenset[str] = frozenset(),
) -> str:
    """Return prometheus.yml with each job's target, the rules folder and Alertmanager.

    Args:
        targets: job name to "host:port".
        alertmanager: "host:port" of Alertmanager.
        rules_dir: folder the `rules/` globs of the source file resolve into.
        source: the file to render (configs/prometheus/prometheus.yml by default).
        profile: timing profile whose scrape and evaluation intervals replace the
            file's (None keeps the file's own).
        skip_jobs: scrape jobs to leave out (a service the stack runs without).
    """
    source = source or CONFIGS / "prometheus" / "prometheus.yml"
    doc = yaml.safe_load(source.read_text())
    if profile is not None:
        settings = ("scrape_interval", "evaluation_interval", "scrape_timeout")
        doc.setdefault("global", {}).update({k: getattr(profile, k) for k in settings})
    doc["scrape_configs"] = [
        scrape for scrape in doc.get("scrape_configs", []) if scrape["job_name"] not in skip_jobs
    ]
    for scrape in doc["scrape_configs"]:
        job = scrape["job_name"]
        if job in targets:
            statics = scrape.get("static_configs") or [{}]
            scrape["static_configs"] = [{**statics[0], "targets": [targets[job]]}]
    doc["rule_files"] = [
        str(_resolve_rules(pattern, source.parent, rules_dir))
        for pattern in doc.get("rule_files", [])
    ]
    for am in doc.get("alerting", {}).get("alertmanagers", []):
        am["static_configs"] = [{"targets": [alertmanager]}]
    return yaml.safe_dump(doc, sort_keys=False)


def alertmanager_config(
    secrets_dir: Path,
    source: Path | None = None,
    profile: Profile | None = None,
    config_dir: Path | None = None,
) -> str:
    """Return alertmanager.yml with secret and template paths made absolute.

    A timing `profile` replaces the root route's group_wait, group_interval and
    repeat_interval; child routes that set their own keep them. `config_dir` is
    where the source's folder is seen by Alertmanager (inside a container, say);
    relative template paths resolve against it.
    """
    source = source or CONFIGS / "alertmanager" / "alertmanager.yml"
    doc = yaml.safe_load(source.read_text())
    if profile is not None:
        settings = ("group_wait", "group_interval", "repeat_interval")
        doc.setdefault("route", {}).update({k: getattr(profile, k) for k in settings})
    for key, value in list((doc.get("global") or {}).items()):
        if key.endswith("_file"):
            doc["global"][key] = str(secrets_dir / Path(value).name)
    for receiver in doc.get("receivers", []):
        for kind, configs in receiver.items():
            if not kind.endswith("_configs"):
                continue
            for config in configs:
                for key, value in list(config.items()):
                    if key.endswith("_file"):
                        config[key] = str(secrets_dir / Path(value).name)
    base = config_dir or source.parent
    doc["templates"] = [str(base / t) for t in doc.get("templates", [])]
    return yaml.safe_dump(doc, sort_keys=False)


def secret_files(source: Path | None = None) -> list[str]:
    """List the secret file names alertmanager.yml reads (`*_file` settings)."""
    source = source or CONFIGS / "alertmanager" / "alertmanager.yml"
    text = source.read_text()
    return sorted({Path(m).name for m in re.findall(r"_file:\s*['\"]?([^'\"\s]+)", text)})


def ensure_secrets(learner_dir: Path, names: list[str], inbox_url: str) -> None:
    """Create each missing secret file in `learner_dir` with the inbox as its URL."""
    learner_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        path = learner_dir / name
        match = SECRET_NAME.match(name)
        if path.exists() or not match:
            continue
        path.write_text(f"{inbox_url}/hooks/{match['channel']}\n")
        path.chmod(0o600)
        log.info("created %s pointing at the local inbox", path)


def stack_secrets(learner_dir: Path, stack_dir: Path, names: list[str], inbox_url: str) -> None:
    """Fill `stack_dir` with the secrets this stack runs with.

    A learner's own value (a real Slack URL) is copied as it is; a default that points
    at the inbox is re-pointed at this stack's inbox, whatever port it runs on.
    """
    stack_dir.mkdir(parents=True, exist_ok=True)
    stack_dir.chmod(0o700)
    for name in names:
        source = learner_dir / name
        value = source.read_text() if source.exists() else ""
        default = DEFAULT_HOOK.match(value.strip())
        if default:
            value = f"{inbox_url}/hooks/{default['channel']}\n"
        target = stack_dir / name
        target.write_text(value)
        target.chmod(0o600)


def _resolve_rules(pattern: str, config_dir: Path, rules_dir: Path) -> Path:
    path = Path(pattern)
    if path.is_absolute():
        return path
    if path.parts and path.parts[0] == "rules":
        return rules_dir.joinpath(*path.parts[1:])
    return config_dir / path
