"""Benchmark: seconds from an injected failure to its message in the inbox.

    .venv/bin/python bench/alert_latency.py [--rounds 5] [--run-dir DIR]

Starts a throwaway stack with the classroom profile and, `--rounds` times each,
(1) makes api hard-down through its fault knob and times the InstanceDown page in
#oncall, (2) makes half of web's answers fail under steady traffic and times the
WebHighErrorRate page in #oncall. Each round is restored and its resolved message
awaited before the next. Then prints the same figure for the production profile,
computed from its settings (nobody waits minutes per round). Prints figures; it
never passes or fails.
"""

import argparse
import contextlib
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import requests
import yaml

from promlab import alerts, profiles
from promlab.paths import CONFIGS
from promlab.stack import Stack


def set_faults(stack: Stack, tier: str, **knobs: object) -> None:
    """Set a tier's fault knobs."""
    answer = requests.put(f"{stack.url(tier)}/admin/faults", json=knobs, timeout=10)
    answer.raise_for_status()


def steady_traffic(stack: Stack, stop: threading.Event, per_second: float = 5) -> None:
    """Call web's front page at a steady rate until `stop` is set."""
    with requests.Session() as session:
        while not stop.is_set():
            with contextlib.suppress(requests.RequestException):
                session.get(f"{stack.url('web')}/", timeout=5)
            stop.wait(1 / per_second)


def time_round(stack: Stack, tier: str, alertname: str, **fault: object) -> float:
    """Inject `fault`, return seconds until the #oncall page; restore and wait it out."""
    channel = "oncall"
    alerts.clear_inbox(stack)
    began = time.monotonic()
    set_faults(stack, tier, **fault)
    try:
        alerts.wait_for_message(channel, alertname, "firing", stack, timeout=180)
        took = time.monotonic() - began
    finally:
        set_faults(stack, tier, down=False, error_ratio=0)
    alerts.wait_for_message(channel, alertname, "resolved", stack, timeout=180)
    return took


def expected(profile: profiles.Profile, alert: str, detect_scrapes: int) -> tuple[float, float]:
    """Return (typical, worst) seconds to the first message from a profile's settings.

    A failure waits for the next scrape (half an interval typically, a whole one at
    worst) and `detect_scrapes` more, the next evaluation likewise, then the
    alert's `for`, then group_wait.
    """
    scrape, evaluation = profile.seconds("scrape_interval"), profile.seconds("evaluation_interval")
    hold = profiles.parse_duration(profile.for_of(alert, classroom_for(alert)))
    fixed = detect_scrapes * scrape + hold + profile.seconds("group_wait")
    return fixed + (scrape + evaluation) / 2, fixed + scrape + evaluation


def classroom_for(alert: str) -> str:
    """Return the `for` written in the rule files for `alert`."""
    for path in (CONFIGS / "prometheus" / "rules").glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == alert:
                    return rule["for"]
    raise KeyError(alert)


def main() -> None:
    """Run the rounds and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--run-dir", type=Path)
    args = parser.parse_args()
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="promlab-bench-"))
    stack = Stack(ports="auto", run_dir=run_dir, profile="classroom").up()
    stop = threading.Event()
    try:
        down = [time_round(stack, "api", "InstanceDown", down=True) for _ in range(args.rounds)]
        print("api hard-down:", ", ".join(f"{v:.1f}" for v in down), flush=True)
        threading.Thread(target=steady_traffic, args=(stack, stop), daemon=True).start()
        time.sleep(20)  # a 1m rate needs a few scrapes of traffic before errors count
        # The web tier's ratio pages (critical). The api's is a warning, and the
        # api's burn-rate page (critical, same service) inhibits it, as designed.
        errors = [
            time_round(stack, "web", "WebHighErrorRate", error_ratio=0.5)
            for _ in range(args.rounds)
        ]
    finally:
        stop.set()
        stack.down(purge=True)
        if not args.run_dir:
            shutil.rmtree(run_dir, ignore_errors=True)

    print(f"classroom, measured over {args.rounds} rounds (seconds, failure to inbox):")
    for label, values in (("api hard-down", down), ("web error ratio 50%", errors)):
        shown = ", ".join(f"{v:.1f}" for v in values)
        print(f"  {label:22} median {statistics.median(values):5.1f}  [{shown}]")
    print("computed from the profile settings (typical / worst case):")
    for name in ("classroom", "production"):
        profile = profiles.load(name)
        # Hard-down: the first failed scrape is the signal. Error ratio: the 1m rate
        # crosses 5% one scrape after errors start.
        for label, alert, scrapes in (
            ("api hard-down", "InstanceDown", 0),
            ("web error ratio 50%", "WebHighErrorRate", 1),
        ):
            typical, worst = expected(profile, alert, scrapes)
            print(f"  {name:10} {label:22} {typical:6.1f} / {worst:6.1f}")


if __name__ == "__main__":
    main()
