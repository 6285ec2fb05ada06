"""Where promlab's own files live: the repository checkout and its run directories."""

import os
from pathlib import Path

ROOT = Path(os.environ.get("PROMLAB_ROOT") or Path(__file__).resolve().parent.parent)
CONFIGS = ROOT / "configs"
SERVICES = ROOT / "services"
SECRETS = ROOT / "secrets"


def home() -> Path:
    """Return the folder that holds run directories (`PROMLAB_HOME`, else `.run/`)."""
    return Path(os.environ.get("PROMLAB_HOME") or ROOT / ".run").resolve()
