"""Timing profiles: how often to scrape, evaluate, wait and notify.

`load("classroom")` (the default) holds the values the files under configs/ are
written with, so alerts fire and resolve within a lesson. `load("production")`
holds the values a real on-call team would run with. Both live in
configs/profiles/<name>.yml; the stack controller renders them into the
Prometheus and Alertmanager configuration it runs.
"""

import logging
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from promlab import binaries
from promlab.paths import CONFIGS

log = logging.getLogger(__name__)

PROFILES_DIR = CONFIGS / "profiles"
DEFAULT = "classroom"

_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {
    "ms": 0.001,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 604800,
    "y": 31536000,
}


class ProfileError(ValueError):
    """A timing profile is missing, incomplete or contradicts itself."""


@dataclass(frozen=True)
class Profile:
    """One timing profile, durations as Prometheus writes them ("5s", "4h")."""

    name: str
    description: str
    scrape_interval: str
    evaluation_interval: str
    scrape_timeout: str
    resend_delay: str
    group_wait: str
    group_interval: str
    repeat_interval: str
    alert_for: dict[str, str] = field(default_factory=dict)

    def seconds(self, setting: str) -> float:
        """Return one duration setting (e.g. "group_wait") in seconds."""
        return parse_duration(getattr(self, setting))

    def for_of(self, alert: str, default: str) -> str:
        """Return the `for` this profile runs `alert` with (`default`: the rule's own)."""
        return self.alert_for.get(alert, default)


def renders_rules(profile: Profile) -> bool:
    """Tell whether `profile` runs rule files rendered for it, not the shipped ones."""
    return profile.name != DEFAULT or bool(profile.alert_for)


def parse_duration(text: str) -> float:
    """Return a Prometheus duration such as "1m30s" in seconds.

    Raises:
        ProfileError: the text is not a Prometheus duration.
    """
    text = str(text).strip()
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ProfileError(f"{text!r} is not a duration; write it like 15s, 2m or 1h30m")
    return sum(int(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def names() -> list[str]:
    """List the profiles shipped under configs/profiles/."""
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yml"))


def load(name: str = DEFAULT, directory: Path | None = None) -> Profile:
    """Read and check one profile.

    Raises:
        ProfileError: no such profile, a missing setting, or settings that cannot
            work together (scrape_timeout above scrape_interval, repeat_interval
            below group_interval).
    """
    directory = directory or PROFILES_DIR
    path = directory / f"{name}.yml"
    if not path.is_file():
        available = ", ".join(sorted(p.stem for p in directory.glob("*.yml"))) or "none"
        raise ProfileError(f"no timing profile {name!r} in {directory}; available: {available}")
    doc = yaml.safe_load(path.read_text()) or {}
    try:
        profile = Profile(
            name=name,
            description=doc.get("description", ""),
            **{k: str(v) for k, v in doc["prometheus"].items()},
            **{k: str(v) for k, v in doc["alertmanager"].items()},
            alert_for={k: str(v) for k, v in (doc.get("alert_for") or {}).items()},
        )
    except (KeyError, TypeError) as error:
        raise ProfileError(
            f"{path} is incomplete or has an unknown setting ({error}); it needs "
            "prometheus: scrape_interval, evaluation_interval, scrape_timeout, "
            "resend_delay and alertmanager: group_wait, group_interval, repeat_interval"
        ) from None
    check(profile)
    return profile


def check(profile: Profile) -> None:
    """Raise ProfileError when the profile's settings contradict each other."""
    for setting in (
        "scrape_interval",
        "evaluation_interval",
        "scrape_timeout",
        "resend_delay",
        "group_wait",
        "group_interval",
        "repeat_interval",
    ):
        profile.seconds(setting)
    for alert, duration in profile.alert_for.items():
        parse_duration(duration)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", alert):
            raise ProfileError(f"{profile.name}: {alert!r} is not an alert name")
    if profile.seconds("scrape_timeout") > profile.seconds("scrape_interval"):
        raise ProfileError(
            f"{profile.name}: scrape_timeout {profile.scrape_timeout} exceeds "
            f"scrape_interval {profile.scrape_interval}; Prometheus refuses that"
        )
    # Repeats only happen when a group is flushed, every group_interval: a
    # shorter repeat_interval silently behaves like group_interval.
    if profile.seconds("repeat_interval") < profile.seconds("group_interval"):
        raise ProfileError(
            f"{profile.name}: repeat_interval {profile.repeat_interval} is shorter than "
            f"group_interval {profile.group_interval}; repeats come only on group "
            "flushes, so raise repeat_interval to at least group_interval"
        )


def render_rules(
    profile: Profile, source_dir: Path, target_dir: Path, strict: bool = True
) -> list[Path]:
    """Write the rule files of `source_dir` into `target_dir` with the profile's timing.

    Alerts get the profile's `for`; the SLO files generated from configs/slo are
    generated again with the profile's windows (the shipped ones are compressed
    for the classroom). Files the profile does not change are copied byte for
    byte; the others are re-serialised (their comments stay in the source files).

    Args:
        strict: refuse a profile that names an alert no rule file defines (a typo
            in the profile). A stack renders its learner's rules with False: an
            alert the learner removed or renamed is logged, not an error.

    Raises:
        ProfileError: strict, and the profile names an alert no rule file defines.
    """
    target_dir.mkdir(parents=True, exist_ok=True)
    for stale in target_dir.glob("*.yml"):
        stale.unlink()
    written, seen = [], set()
    slo_files = _slo_files(profile)
    for source in sorted(source_dir.glob("*.yml")):
        text = source.read_text()
        generated = _slo_file(slo_files, source.name, text)
        doc = yaml.safe_load(generated or text) or {}
        changed = generated is not None
        for group in doc.get("groups", []):
            for rule in group.get("rules", []):
                name = rule.get("alert")
                if name is None:
                    continue
                seen.add(name)
                wanted = profile.for_of(name, rule.get("for", "0s"))
                if wanted != rule.get("for"):
                    rule["for"] = wanted
                    changed = True
        target = target_dir / source.name
        if changed:
            made = f"configs/slo windows and the {profile.name}" if generated else "the"
            header = f"# Rendered from {source.name} with {made} profile.\n"
            target.write_text(header + yaml.safe_dump(doc, sort_keys=False, width=100))
        else:
            shutil.copyfile(source, target)
        written.append(target)
    unknown = sorted(set(profile.alert_for) - seen)
    if unknown and not strict:
        log.info("no rule in %s defines %s any more", source_dir, ", ".join(unknown))
    elif unknown:
        raise ProfileError(
            f"profile {profile.name} sets `for` of alerts no rule file in {source_dir} "
            f"defines: {', '.join(unknown)}; fix the names in configs/profiles/"
        )
    log.debug("rendered %d rule files into %s (%s)", len(written), target_dir, profile.name)
    return written


def _slo_files(profile: Profile) -> dict[str, tuple[str, str]]:
    """Return {rule file name: (classroom text, text for `profile`)} of every SLO spec."""
    if profile.name == DEFAULT:
        return {}
    # promlab.slo builds on this module: imported here, when it is needed.
    from promlab import slo

    files = {}
    for name in slo.names():
        spec = slo.load(name)
        classroom = slo.generate(spec, DEFAULT)
        for relative, text in slo.generate(spec, profile.name).items():
            if relative.startswith("rules/"):
                files[Path(relative).name] = (classroom[relative], text)
    return files


def _slo_file(slo_files: dict[str, tuple[str, str]], name: str, text: str) -> str | None:
    """Return the profile's version of an SLO rule file, or None to keep `text`.

    The SLO windows are compressed in class: a file generated from a spec is
    generated again with the profile's windows. A file edited by hand is kept
    as it is, since regenerating it would drop the edit.
    """
    if name not in slo_files:
        return None
    classroom, wanted = slo_files[name]
    if text != classroom:
        log.warning(
            "%s is not what its spec in configs/slo generates; it keeps its classroom "
            "windows. Edit the spec and regenerate the file to run production windows.",
            name,
        )
        return None
    return wanted


def unit_test_files(profile: Profile) -> list[Path]:
    """Return the promtool unit test files written for this profile's timing."""
    tests = CONFIGS / "prometheus" / "tests"
    # The classroom tests sit at the top and run directly against rules/; the
    # others sit in a folder named after their profile, one level deeper.
    folder = tests if profile.name == DEFAULT else tests / profile.name
    return sorted(folder.glob("*.test.yml"))


def run_rule_tests(profile: Profile, workdir: Path) -> subprocess.CompletedProcess:
    """Run the profile's promtool unit tests against rules rendered for it.

    A copy of configs/prometheus goes to `workdir` with its rules rendered in
    place, so the tests' relative `rule_files` find the rendered rules.

    Raises:
        BinaryNotFoundError: promtool is not installed.
    """
    tree = workdir / "prometheus"
    shutil.copytree(CONFIGS / "prometheus", tree, dirs_exist_ok=True)
    render_rules(profile, CONFIGS / "prometheus" / "rules", tree / "rules")
    files = [str(f.relative_to(CONFIGS / "prometheus")) for f in unit_test_files(profile)]
    if not files:
        raise ProfileError(f"profile {profile.name} has no promtool unit tests")
    command = [str(binaries.find_binary("promtool")), "test", "rules", *files]
    return subprocess.run(command, cwd=tree, capture_output=True, text=True, timeout=120)
