"""Benchmark: edit-to-running time of a valid rule change.

    .venv/bin/python bench/rules.py [--runs 5]

Starts a throwaway stack on free ports with a copy of the rules, then applies a
threshold edit to promlab.alerts.yml again and again through `rules.apply`:
validate (names, windows, promtool check rules), promtool unit tests, write,
POST /-/reload, and confirmation through /api/v1/rules. Prints the median time of
each step and of the whole; it never passes or fails.
"""

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

from promlab import rules
from promlab.paths import CONFIGS
from promlab.stack import Stack


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description="Time rules.apply on a live stack.")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="promlab-bench-rules-") as tmp:
        rules_dir = Path(tmp) / "rules"
        shutil.copytree(CONFIGS / "prometheus" / "rules", rules_dir)
        stack = Stack(run_dir=Path(tmp) / "run", ports="auto", rules_dir=rules_dir)
        try:
            stack.up(wait_targets=False)
            text = rules.read(stack, "promlab.alerts.yml")
            results = []
            for run in range(args.runs):
                threshold = f"0.0{5 + run % 2}"
                edited = text.replace('{job="api"} > 0.05', f'{{job="api"}} > {threshold}', 1)
                results.append(rules.apply(stack, "promlab.alerts.yml", edited))
        finally:
            stack.down(purge=True)
    print(f"runs: {args.runs} threshold edits of promlab.alerts.yml on a live stack")
    for step in results[0].seconds:
        values = [r.seconds[step] for r in results]
        print(f"{step:>9}: median {statistics.median(values):.2f} s")
    totals = [r.total for r in results]
    print(
        f"edit to running: median {statistics.median(totals):.2f} s "
        f"(min {min(totals):.2f}, max {max(totals):.2f})"
    )


if __name__ == "__main__":
    main()
