"""Benchmark: seconds to backfill and plot 30 days of history for one SLO.

    .venv/bin/python bench/timetravel.py [--runs 3] [--spec api-availability]

Each run synthesizes 30 days of counters (one sample a minute), backfills them
with `promtool tsdb create-blocks-from openmetrics`, starts a private Prometheus
on the blocks, evaluates every window's error ratio and both alerts with
query_range (one point every 10 minutes), and builds the plotly figure. Prints
the median of each step; it never passes or fails.
"""

import argparse
import statistics
import time

from promlab import slo, timetravel


def one_run(spec: slo.Spec) -> dict[str, float]:
    """Time one run end to end; return seconds per step."""
    began = time.perf_counter()
    history = timetravel.synthesize(spec)
    seconds = {"synthesize": time.perf_counter() - began}
    with timetravel.TimeMachine(spec, history) as machine:
        view = machine.evaluate()
        began = time.perf_counter()
        timetravel.figure(view).to_dict()
        seconds.update(machine.seconds, plot=time.perf_counter() - began)
    seconds["total"] = sum(seconds.values())
    return seconds


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description="Time 30 days of SLO time travel.")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--spec", default="api-availability")
    args = parser.parse_args()
    spec = slo.load(args.spec)
    runs = [one_run(spec) for _ in range(args.runs)]
    print(f"runs: {args.runs}, 30 days of {spec.stem} at one sample a minute")
    for step in runs[0]:
        print(f"{step:>10}: median {statistics.median(r[step] for r in runs):.2f} s")


if __name__ == "__main__":
    main()
