"""Session set-up shared by the unit tests and the notebook tests.

Every stack a test run starts (the notebooks' included: their kernels inherit this
environment) lives under one temporary PROMLAB_HOME, on free ports, so a learner's
own running stack is never touched; all of them are stopped and purged at the end.
"""

import logging
import os
import shutil
import tempfile
from pathlib import Path

import pytest

log = logging.getLogger(__name__)


def pytest_configure(config: pytest.Config) -> None:
    """Point every stack of this test run at a private home and free ports."""
    if not os.environ.get("PROMLAB_TEST_HOME"):
        home = tempfile.mkdtemp(prefix="promlab-test-")
        os.environ["PROMLAB_TEST_HOME"] = home
        os.environ["PROMLAB_HOME"] = home
        os.environ["PROMLAB_PORTS"] = "auto"
        # The suite tests the local backend even where Docker runs; the compose
        # backend's own tests choose it explicitly.
        os.environ["PROMLAB_BACKEND"] = "local"
        # Tests and notebooks edit rules: give them a copy, never the tracked files.
        rules = Path(home) / "rules"
        shutil.copytree(Path(__file__).parent / "configs" / "prometheus" / "rules", rules)
        os.environ["PROMLAB_RULES_DIR"] = str(rules)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop and delete every stack the test run started."""
    from promlab.stack import Stack

    home = Path(os.environ.get("PROMLAB_TEST_HOME", ""))
    if not home.name.startswith("promlab-test-") or not home.is_dir():
        return
    for run_dir in sorted(p for p in home.iterdir() if p.is_dir() and p.name != "rules"):
        Stack(run_dir=run_dir).down(purge=True)
    shutil.rmtree(home, ignore_errors=True)
