"""Benchmark: what one live-chart refresh costs with 10 series.

    .venv/bin/python bench/charts.py [--refreshes 20] [--window 5m] [--run-dir DIR]

Draws 10 series two ways: one expression that returns 10 label sets, and 10
expressions of one series each. The series are computed from `vector()`, so every
step of the window has a point even on a stack that started seconds ago (a 5m
window at the default step is about 240 points a series). For each, times a
refresh split into its two parts: the range queries with building the traces, and
updating the FigureWidget in place. Prints figures; it never passes or fails.
"""

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from promlab import charts
from promlab.stack import Stack


def series(i: int) -> str:
    """Return one series labelled n=i with a sample at every step of any window."""
    return f'label_replace({i} * (1 + 0.1 * sin(vector(time() / 60))), "n", "{i}", "", "")'


def time_chart(chart: charts.LiveChart, refreshes: int) -> tuple[list[float], list[float]]:
    """Return per-refresh seconds spent querying and seconds spent redrawing."""
    queries, draws = [], []
    for _ in range(refreshes):
        began = time.perf_counter()
        traces, errors = charts.fetch(chart.exprs, chart.stack, chart.window, chart.step)
        fetched = time.perf_counter()
        chart._redraw(traces)
        queries.append(fetched - began)
        draws.append(time.perf_counter() - fetched)
        assert not errors, errors
    return queries, draws


def report(label: str, chart: charts.LiveChart, refreshes: int) -> None:
    """Print the refresh cost of `chart`."""
    first = chart.refresh()  # builds the traces once; later refreshes update in place
    queries, draws = time_chart(chart, refreshes)
    totals = [q + d for q, d in zip(queries, draws, strict=True)]
    points = sum(len(t.y) for t in chart.figure.data)
    print(
        f"{label}: {len(chart.figure.data)} series, {points} points; first draw "
        f"{first * 1000:.0f} ms; refresh median {statistics.median(totals) * 1000:.1f} ms "
        f"(p90 {statistics.quantiles(totals, n=10)[-1] * 1000:.1f}), of which PromQL "
        f"{statistics.median(queries) * 1000:.1f} ms and drawing "
        f"{statistics.median(draws) * 1000:.1f} ms"
    )


def measure(stack: Stack, refreshes: int, window: str) -> None:
    """Print refresh costs for one 10-series expression and ten 1-series expressions."""
    print(f"window {window}, {refreshes} refreshes each")
    one = " or ".join(series(i) for i in range(1, 11))
    report("one expression ", charts.LiveChart(one, stack, window=window), refreshes)
    tenfold = {f"s{i}": series(i) for i in range(1, 11)}
    report("ten expressions", charts.LiveChart(tenfold, stack, window=window), refreshes)


def main() -> None:
    """Start a throwaway stack (or use --run-dir), measure, stop it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refreshes", type=int, default=20)
    parser.add_argument("--window", default="5m")
    parser.add_argument("--run-dir", type=Path, help="Use this running stack instead.")
    args = parser.parse_args()
    if args.run_dir:
        measure(Stack(run_dir=args.run_dir), args.refreshes, args.window)
        return
    home = Path(tempfile.mkdtemp(prefix="promlab-bench-"))
    stack = Stack(run_dir=home / "charts", ports="auto")
    try:
        stack.up()
        measure(stack, args.refreshes, args.window)
    finally:
        stack.down(purge=True)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
