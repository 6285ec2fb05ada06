"""Grafana dashboards generated from configs/panels.yml.

`python -m promlab.grafana` rewrites configs/grafana/dashboards/ from the panels.
"""

import json
import sys
from pathlib import Path

from promlab import panels
from promlab.paths import CONFIGS

DASHBOARDS_DIR = CONFIGS / "grafana" / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "promlab-prometheus"}
# Two panels side by side on Grafana's 24-column grid.
WIDTH, HEIGHT = 12, 8


def dashboard_json(board: panels.Dashboard) -> dict:
    """Return the Grafana JSON model of one dashboard."""
    items = []
    for index, panel in enumerate(board.panels):
        targets = [
            {
                "refId": chr(ord("A") + number),
                "datasource": DATASOURCE,
                "expr": query.expr,
                "legendFormat": query.legend,
            }
            for number, query in enumerate(panel.queries)
        ]
        items.append(
            {
                "id": index + 1,
                "type": "timeseries",
                "title": panel.title,
                "datasource": DATASOURCE,
                "gridPos": {
                    "x": (index % 2) * WIDTH,
                    "y": (index // 2) * HEIGHT,
                    "w": WIDTH,
                    "h": HEIGHT,
                },
                "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
                "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
                "targets": targets,
            }
        )
    return {
        "uid": board.uid,
        "title": board.title,
        "tags": ["promlab"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "5s",
        "time": {"from": "now-15m", "to": "now"},
        "panels": items,
    }


def render_all() -> dict[str, str]:
    """Return file name to JSON text for every dashboard."""
    return {
        f"{board.uid}.json": json.dumps(dashboard_json(board), indent=2) + "\n"
        for board in panels.load()
    }


def write_all(folder: Path = DASHBOARDS_DIR) -> list[Path]:
    """Write every dashboard into `folder`, removing ones no longer defined."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = render_all()
    for stale in folder.glob("*.json"):
        if stale.name not in wanted:
            stale.unlink()
    written = []
    for name, text in wanted.items():
        path = folder / name
        path.write_text(text)
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_all():
        sys.stdout.write(f"wrote {written_path}\n")
