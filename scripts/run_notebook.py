"""Execute course notebooks in place and keep only outputs that nbval can compare.

    .venv/bin/python scripts/run_notebook.py notebooks/00-start-here.ipynb [...]

Runs each notebook top to bottom against a throwaway stack (free ports, temporary
run directory, stopped afterwards), then empties the outputs of cells marked
`# NBVAL_IGNORE_OUTPUT` and drops stored widget state, so the committed file holds
only deterministic outputs.
"""

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

IGNORE = "NBVAL_IGNORE_OUTPUT"


def strip_volatile(nb: nbformat.NotebookNode) -> None:
    """Empty outputs that change run to run and remove widget state."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.metadata.pop("execution", None)
        if IGNORE in cell.source:
            cell.outputs = []


def main() -> int:
    """Execute and strip each notebook named on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--keep-stack", action="store_true", help="Leave the stack running.")
    args = parser.parse_args()

    home = tempfile.mkdtemp(prefix="promlab-nb-")
    os.environ.setdefault("PROMLAB_HOME", home)
    os.environ.setdefault("PROMLAB_PORTS", "auto")
    # Notebooks edit rules: they get a copy, never the tracked files.
    rules = Path(home) / "rules"
    shutil.copytree(Path(__file__).resolve().parent.parent / "configs/prometheus/rules", rules)
    os.environ.setdefault("PROMLAB_RULES_DIR", str(rules))
    try:
        for path in args.notebooks:
            nb = nbformat.read(path, as_version=4)
            client = NotebookClient(
                nb,
                timeout=600,
                kernel_name="python3",
                resources={"metadata": {"path": str(path.parent)}},
            )
            client.execute()
            strip_volatile(nb)
            nbformat.write(nb, path)
            print(f"executed {path}")
    finally:
        if not args.keep_stack:
            from promlab.stack import Stack

            for run_dir in Path(os.environ["PROMLAB_HOME"]).iterdir():
                if run_dir != rules:
                    Stack(run_dir=run_dir).down(purge=True)
            shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
