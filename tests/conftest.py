"""Fixtures: a shared running stack, and helpers for tests that need their own."""

import os
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from promlab import postgres
from promlab.stack import Stack


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """Return the session's running stack (the one the notebooks use too)."""
    running = Stack().up()
    yield running
    # Stopped at the end of the session by the root conftest, after the notebooks.


@pytest.fixture
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Return a fresh run directory under the test home; its stack is purged after."""
    path = Path(os.environ["PROMLAB_HOME"]) / tmp_path_factory.mktemp("stack").name
    yield path
    Stack(run_dir=path).down(purge=True)


def leftovers(stack: Stack) -> list[str]:
    """Describe live processes that belong to `stack`: by path, or by listening port."""
    marks = (str(stack.run_dir), str(postgres.data_dir(stack.run_dir)))
    found = set()
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if any(mark in cmdline for mark in marks):
            found.add(f"pid {proc.info['pid']}: {cmdline[:120]}")
    ports = set(stack.ports.values())
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port in ports:
            found.add(f"pid {conn.pid} listening on {conn.laddr.port}")
    return sorted(found)


@pytest.fixture
def healthy_after(stack: Stack) -> Iterator[Stack]:
    """Return the session stack; web and api faults are cleared afterwards."""
    from promlab import traffic

    yield stack
    traffic.clear_faults(stack)
