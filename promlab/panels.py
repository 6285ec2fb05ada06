"""Dashboard panels: the PromQL the notebooks chart and Grafana shows, from one file."""

from dataclasses import dataclass
from pathlib import Path

import yaml

from promlab.paths import CONFIGS

PANELS_FILE = CONFIGS / "panels.yml"


@dataclass(frozen=True)
class Query:
    """One PromQL expression of a panel and its legend template ("{{route}}")."""

    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    """One chart: a title, a unit, and the queries drawn on it."""

    title: str
    unit: str
    queries: tuple[Query, ...]


@dataclass(frozen=True)
class Dashboard:
    """A titled group of panels, one per concern of a tier."""

    uid: str
    title: str
    panels: tuple[Panel, ...]


def load(path: Path = PANELS_FILE) -> list[Dashboard]:
    """Read every dashboard from configs/panels.yml.

    Raises:
        ValueError: a dashboard or panel lacks a field; the message says which.
    """
    doc = yaml.safe_load(path.read_text()) or {}
    dashboards = []
    for board in doc.get("dashboards", []):
        panels = []
        for panel in board.get("panels", []):
            where = f"{path.name}: {board.get('uid')} / {panel.get('title')!r}"
            if not panel.get("queries"):
                raise ValueError(f"{where} has no queries; add at least one expr")
            queries = tuple(
                Query(q["expr"].strip(), str(q.get("legend", ""))) for q in panel["queries"]
            )
            panels.append(Panel(panel["title"], panel.get("unit", "short"), queries))
        dashboards.append(Dashboard(board["uid"], board["title"], tuple(panels)))
    return dashboards


def dashboard(uid: str, path: Path = PANELS_FILE) -> Dashboard:
    """Return one dashboard by uid, e.g. "promlab-api".

    Raises:
        KeyError: no such dashboard; the message lists the known ones.
    """
    boards = {board.uid: board for board in load(path)}
    if uid not in boards:
        raise KeyError(f"no dashboard {uid!r} in {path.name}; known: {', '.join(boards)}")
    return boards[uid]


def expressions(path: Path = PANELS_FILE) -> list[str]:
    """List every PromQL expression of every panel."""
    return [q.expr for board in load(path) for panel in board.panels for q in panel.queries]
