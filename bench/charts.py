"""Benchmark: what one live-chart refresh costs with 10 series.

    .venv/bin/python bench/charts.py [--refreshes 20] [--window 5m] [--run-dir DIR]

Draws 10 series two ways: one expression that returns 10 label sets, and 10
expressions of one series each. For each, times `LiveChart.refresh()` (query,
build traces, update the FigureWidget), and splits it into the PromQL part and the
drawing part. Prints figures; it never passes or fails.
"""

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from promlab import charts, promql, traffic
from promlab.stack import Stack


def ten_series_expr(stack: Stack) -> str:
    """Return one expression with exactly 10 series on this machine (by label filter)."""
    frame = promql.query("rate(node_cpu_seconds_total[1m])", stack)
    keys = sorted(zip(frame["cpu"], frame["mode"], strict=True))[:10]
    parts = []
    for cpu in sorted({c for c, _ in keys}):
        modes = "|".join(m for c, m in keys if c == cpu)
        parts.append(f'rate(node_cpu_seconds_total{{cpu="{cpu}",mode=~"{modes}"}}[1m])')
    expr = " or ".join(parts)
    count = len(promql.query(expr, stack))
    if count != 10:
        # Fall back to web request rates by route and status; say how many there are.
        expr = 'sum by (route, status) (rate(http_requests_total{job="web"}[1m]))'
    return expr


def time_chart(chart: charts.LiveChart, refreshes: int) -> tuple[list[float], list[float]]:
    """Return per-refresh total seconds and query-only seconds."""
    totals, queries = [], []
    for _ in range(refreshes):
        began = time.perf_counter()
        charts.fetch(chart.exprs, chart.stack, chart.window, chart.step)
        queries.append(time.perf_counter() - began)
        totals.append(chart.refresh())
    return totals, queries


def report(label: str, chart: charts.LiveChart, refreshes: int) -> None:
    """Print the refresh cost of `chart`."""
    first = chart.refresh()  # builds the traces once; later refreshes update in place
    totals, queries = time_chart(chart, refreshes)
    points = sum(len(t.y) for t in chart.figure.data)
    total, query = statistics.median(totals), statistics.median(queries)
    print(
        f"{label}: {len(chart.figure.data)} series, {points} points; first draw "
        f"{first * 1000:.0f} ms; refresh median {total * 1000:.1f} ms "
        f"(p90 {statistics.quantiles(totals, n=10)[-1] * 1000:.1f}), of which PromQL "
        f"{query * 1000:.1f} ms and drawing {(total - query) * 1000:.1f} ms"
    )


def measure(stack: Stack, refreshes: int, window: str) -> None:
    """Print refresh costs for one 10-series expression and ten 1-series expressions."""
    traffic.burst(stack, requests_total=100)
    promql.wait_for('sum(rate(http_requests_total{job="web"}[1m])) > 0', stack, timeout=60)
    promql.wait_for("count(rate(node_cpu_seconds_total[1m])) >= 10", stack, timeout=60)
    expr = ten_series_expr(stack)
    print(f"window {window}, {refreshes} refreshes each")
    report("one expression ", charts.LiveChart(expr, stack, window=window), refreshes)
    tenfold = {
        f"s{i}": f'sum(rate(http_requests_total{{job="web"}}[1m])) * {i}' for i in range(1, 11)
    }
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
