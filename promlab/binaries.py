"""Find the programs the local stack runs: Debian's names first, upstream names next."""

import glob
import os
import platform
import shutil
from pathlib import Path

from promlab.errors import BinaryNotFoundError

# Debian ships the Prometheus family under prefixed names; upstream tarballs do not.
CANDIDATES: dict[str, tuple[str, ...]] = {
    "prometheus": ("prometheus",),
    "promtool": ("promtool",),
    "alertmanager": ("prometheus-alertmanager", "alertmanager"),
    "amtool": ("amtool",),
    "node_exporter": ("prometheus-node-exporter", "node_exporter"),
    "postgres_exporter": ("prometheus-postgres-exporter", "postgres_exporter"),
    "postgres": ("postgres",),
    "initdb": ("initdb",),
    "psql": ("psql",),
}

DEBIAN_PACKAGES: dict[str, str] = {
    "prometheus": "prometheus",
    "promtool": "prometheus",
    "alertmanager": "prometheus-alertmanager",
    "amtool": "prometheus-alertmanager",
    "node_exporter": "prometheus-node-exporter",
    "postgres_exporter": "prometheus-postgres-exporter",
    "postgres": "postgresql",
    "initdb": "postgresql",
    "psql": "postgresql-client",
}

BREW_FORMULAE: dict[str, str] = {
    "prometheus": "prometheus",
    "promtool": "prometheus",
    "alertmanager": "alertmanager",
    "amtool": "alertmanager",
    "node_exporter": "node_exporter",
    "postgres_exporter": "postgres_exporter",
    "postgres": "postgresql@15",
    "initdb": "postgresql@15",
    "psql": "postgresql@15",
}


def search_dirs() -> list[str]:
    """List the folders searched, in order: PATH, then PostgreSQL's versioned folders."""
    dirs = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    # Debian keeps PostgreSQL's server programs off PATH; newest version first.
    pg_dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    brew = sorted(glob.glob("/opt/homebrew/opt/postgresql@*/bin"), reverse=True)
    extra = ["/usr/sbin", "/usr/local/sbin", *pg_dirs, *brew]
    return dirs + [d for d in extra if d not in dirs]


def install_hint(name: str) -> str:
    """Return the command that installs the program on this kind of machine."""
    if platform.system() == "Darwin":
        return f"brew install {BREW_FORMULAE.get(name, name)}"
    package = DEBIAN_PACKAGES.get(name, name)
    return f"sudo apt-get install --no-install-recommends {package}  (or run `make lab`)"


def find_binary(name: str) -> Path:
    """Return the path of program `name`.

    `PROMLAB_<NAME>_BIN` (for example `PROMLAB_PROMETHEUS_BIN`) wins over the search.

    Raises:
        BinaryNotFoundError: nothing executable was found; the message lists every
            place searched and how to install it.
    """
    variable = f"PROMLAB_{name.upper()}_BIN"
    override = os.environ.get(variable)
    dirs = search_dirs()
    if override:
        if os.path.isfile(override) and os.access(override, os.X_OK):
            return Path(override)
        found = _search(name, dirs)
        usual = f"unset it to use {found}" if found else f"or install it: {install_hint(name)}"
        raise BinaryNotFoundError(
            f"{variable}={override} is not an executable file, and promlab looks nowhere "
            f"else while it is set. Fix the path, or {usual} "
            f"(the usual places are {', '.join(dirs)})"
        )
    found = _search(name, dirs)
    if found:
        return found
    names = " or ".join(CANDIDATES.get(name, (name,)))
    raise BinaryNotFoundError(
        f"{name} is not installed: looked for {names} in "
        + ", ".join(dirs)
        + f". Install it with: {install_hint(name)}; or set {variable} "
        "to the program's full path"
    )


def _search(name: str, dirs: list[str]) -> Path | None:
    for exe in CANDIDATES.get(name, (name,)):
        found = shutil.which(exe, path=os.pathsep.join(dirs))
        if found:
            return Path(found)
    return None


def _version_key(path: str) -> tuple[int, ...]:
    parts = Path(path).parent.name.split(".")
    return tuple(int(p) for p in parts if p.isdigit())
