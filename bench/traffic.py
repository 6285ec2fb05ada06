"""Benchmark: the traffic generator's top rate against web, beside wrk, and what bounds it.

    .venv/bin/python bench/traffic.py [--seconds 10] [--concurrency 8] [--run-dir DIR]

Both tools hit GET /items/1 on web, the cheapest counted business route: web renders
one item it fetched from the api, which reads one row by primary key. (/healthz is
not counted; /slow sleeps on purpose.) wrk runs first, then the generator unpaced,
on the same stack. During each run the CPU use of every process involved is sampled
with psutil. Prints figures; it never passes or fails.
"""

import argparse
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psutil

from promlab import traffic
from promlab.stack import Stack

ROUTE = "/items/1"


def stack_processes(stack: Stack) -> dict[str, list[psutil.Process]]:
    """Return the processes (with children) of web, api and postgres by service."""
    found = {}
    status = stack.status().set_index("service")
    for name in ("web", "api", "postgres"):
        proc = psutil.Process(int(status.loc[name, "pid"]))
        found[name] = [proc, *proc.children(recursive=True)]
    return found


class CpuSampler:
    """Measure the CPU seconds each group of processes uses between start and stop."""

    def __init__(self, groups: dict[str, list[psutil.Process]]) -> None:
        """Remember the groups to watch."""
        self.groups = groups
        self.before: dict[str, float] = {}

    def _cpu(self) -> dict[str, float]:
        totals = {}
        for name, procs in self.groups.items():
            seconds = 0.0
            for proc in procs:
                try:
                    times = proc.cpu_times()
                    seconds += times.user + times.system
                except psutil.Error:
                    continue
            totals[name] = seconds
        return totals

    def start(self) -> None:
        """Take the first reading."""
        self.before = self._cpu()
        self.began = time.perf_counter()

    def stop(self) -> dict[str, float]:
        """Return each group's CPU use in percent of one core since start."""
        after, elapsed = self._cpu(), time.perf_counter() - self.began
        return {k: 100 * (after[k] - self.before[k]) / elapsed for k in after}


def run_wrk(url: str, seconds: int, concurrency: int) -> tuple[float, float]:
    """Run wrk against url; return (requests per second, wrk's CPU seconds)."""
    command = ["wrk", "-t2", f"-c{concurrency}", f"-d{seconds}s", url]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    # wait4 hands back the child's own CPU use, which psutil cannot read after exit.
    _, _, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0
    out = proc.stdout.read()
    proc.stdout.close()
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return rate, usage.ru_utime + usage.ru_stime


def run_generator(stack: Stack, seconds: int, concurrency: int, route: str) -> traffic.TrafficStats:
    """Run the generator unpaced against `route`; return its stats."""
    load = traffic.Traffic(
        stack,
        rate=None,
        concurrency=concurrency,
        duration=seconds,
        routes=[traffic.Route("GET", route)],
    )
    return load.start().wait()


def measure(stack: Stack, seconds: int, concurrency: int, route: str = ROUTE) -> None:
    """Run wrk and the generator in turn; print rates, ratio and CPU use."""
    # Warm up first: the api's pool opens its PostgreSQL sessions (processes) here.
    traffic.burst(stack, requests_total=50, concurrency=8)
    groups = stack_processes(stack)
    cpu_count = psutil.cpu_count()
    print(f"route: GET {stack.url('web')}{route}; {seconds} s per tool; {cpu_count} CPUs")

    wrk_watch = CpuSampler(groups)
    wrk_watch.start()
    wrk_rate, wrk_seconds = run_wrk(stack.url("web") + route, seconds, concurrency)
    wrk_cpu = wrk_watch.stop()
    wrk_cpu["wrk"] = 100 * wrk_seconds / seconds

    gen_watch = CpuSampler({**groups, "generator": [psutil.Process()]})
    gen_watch.start()
    stats = run_generator(stack, seconds, concurrency, route)
    gen_cpu = gen_watch.stop()

    print(f"wrk        -c{concurrency}: {wrk_rate:8.1f} req/s")
    print(
        f"generator  x{concurrency}: {stats.rate:8.1f} req/s "
        f"({stats.ok} ok, {stats.failed} failed, mean latency {stats.mean_latency * 1000:.1f} ms)"
    )
    print(f"ratio generator / wrk: {stats.rate / wrk_rate:.2f}")
    print("CPU, % of one core    " + "  ".join(f"{k:>9}" for k in gen_cpu))
    print("  during wrk          " + "  ".join(f"{wrk_cpu.get(k, 0):9.0f}" for k in gen_cpu))
    print("  during generator    " + "  ".join(f"{gen_cpu[k]:9.0f}" for k in gen_cpu))
    print(f"  wrk itself: {wrk_cpu['wrk']:.0f}%")
    print(f"  machine total: {cpu_count * 100}%")


def main() -> None:
    """Start a throwaway stack (or use --run-dir), measure, stop it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--run-dir", type=Path, help="Use this running stack instead.")
    parser.add_argument(
        "--route", default=ROUTE, help="Another web path, e.g. /healthz for the tools' ceiling."
    )
    args = parser.parse_args()

    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    if args.run_dir:
        measure(Stack(run_dir=args.run_dir), args.seconds, args.concurrency, args.route)
        return
    home = Path(tempfile.mkdtemp(prefix="promlab-bench-"))
    stack = Stack(run_dir=home / "traffic", ports="auto")
    try:
        stack.up()
        measure(stack, args.seconds, args.concurrency, args.route)
    finally:
        stack.down(purge=True)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
