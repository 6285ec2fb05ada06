"""Benchmark: how long `Stack.up()` takes, and how much memory the stack uses.

    .venv/bin/python bench/stack_start.py [--runs 5]

Each run starts a fresh stack (new run directory, new database, free ports), times
`up()` until Prometheus reports every target up, sums the resident memory of every
process of the stack, and stops it. Prints figures; it never passes or fails.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import psutil

from promlab.stack import Stack


def stack_rss(stack: Stack) -> int:
    """Return the resident memory in bytes of every service process and its children."""
    total = 0
    for pid in stack.status()["pid"].dropna():
        try:
            proc = psutil.Process(int(pid))
            for member in [proc, *proc.children(recursive=True)]:
                total += member.memory_info().rss
        except psutil.Error:
            continue
    return total


def one_run(home: Path, index: int) -> tuple[float, float, int]:
    """Start and stop one fresh stack; return (up seconds, services-ready seconds, rss)."""
    stack = Stack(run_dir=home / f"run{index}", ports="auto")
    started = time.perf_counter()
    stack.up(wait_targets=False)
    ready = time.perf_counter() - started
    stack.wait_targets_up()
    total = time.perf_counter() - started
    rss = stack_rss(stack)
    stack.down(purge=True)
    return total, ready, rss


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description="Time Stack.up() from cold.")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="promlab-bench-") as tmp:
        results = [one_run(Path(tmp), i) for i in range(args.runs)]
    totals = [r[0] for r in results]
    readies = [r[1] for r in results]
    rss = [r[2] for r in results]
    print(f"runs: {args.runs} cold starts (fresh run directory and database each)")
    print(f"up() to every service ready: median {statistics.median(readies):.2f} s")
    print(
        f"up() to every target up:     median {statistics.median(totals):.2f} s "
        f"(min {min(totals):.2f}, max {max(totals):.2f})"
    )
    print(f"resident memory once up:     median {statistics.median(rss) / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
