"""Docker Compose plumbing: the CLI, container status, secrets for the containers.

The compose backend of `promlab.stack` runs the same services as containers from
docker-compose.yml. Everything here works without a Docker engine except the calls
that really need one, which raise `DockerUnavailableError` saying so.
"""

import json
import logging
import secrets
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

from promlab import render
from promlab.errors import StackError
from promlab.paths import ROOT

log = logging.getLogger(__name__)

PROJECT = "promlab"
COMPOSE_FILE = ROOT / "docker-compose.yml"
# Stack service name to compose service name.
SERVICE_NAMES: dict[str, str] = {
    "web": "web",
    "api": "api",
    "inbox": "inbox",
    "postgres": "db",
    "postgres_exporter": "db-exporter",
    "node_exporter": "node-exporter",
    "prometheus": "prometheus",
    "alertmanager": "alertmanager",
    "grafana": "grafana",
}
# Inside the compose network each service is reached by its name.
COMPOSE_ADDRESSES: dict[str, str] = {
    "web": "web:8080",
    "api": "api:8081",
    "inbox": "inbox:8082",
    "postgres": "db-exporter:9187",
    "node": "node-exporter:9100",
    "prometheus": "localhost:9090",
    "alertmanager": "alertmanager:9093",
}
PASSWORD_FILES = ("db_superuser_password", "db_app_password", "db_monitor_password")


class DockerUnavailableError(StackError):
    """The compose backend was asked for, but no Docker engine answers."""


def cli() -> list[str]:
    """Return the compose command: `docker compose` (v2) or `docker-compose` (v1).

    Raises:
        DockerUnavailableError: neither is installed.
    """
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, timeout=30
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    raise DockerUnavailableError(
        "the compose backend needs Docker Compose: neither `docker compose` nor "
        "`docker-compose` is installed. Install Docker, or use the local backend: "
        "unset PROMLAB_BACKEND (or Stack(backend='local'))"
    )


def engine_error() -> str:
    """Return why no Docker engine answers, or "" when one does."""
    docker = shutil.which("docker")
    if not docker:
        return "the docker command is not installed"
    try:
        done = subprocess.run([docker, "info"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer within 20 s"
    if done.returncode != 0:
        return (done.stderr or done.stdout).strip().splitlines()[-1]
    return ""


def require_engine() -> None:
    """Raise DockerUnavailableError with the reason and the way out when no engine runs."""
    why = engine_error()
    if why:
        raise DockerUnavailableError(
            f"the compose backend needs a running Docker engine, but {why}. "
            "Start Docker, or use the local backend, which needs no Docker: unset "
            "PROMLAB_BACKEND (or Stack(backend='local'))"
        )


def command(*args: str, files: tuple[Path, ...] = (COMPOSE_FILE,)) -> list[str]:
    """Build a compose command line for the promlab project."""
    line = [*cli(), "--project-name", PROJECT, "--project-directory", str(ROOT)]
    for path in files:
        line += ["--file", str(path)]
    return [*line, *args]


def run(*args: str, timeout: float = 600) -> str:
    """Run a compose command; return its output.

    Raises:
        StackError: the command failed; the message holds its last output lines.
    """
    line = command(*args)
    log.debug("running %s", " ".join(line))
    done = subprocess.run(line, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-20:])
        raise StackError(f"`{' '.join(line[-len(args) :])}` failed:\n{tail}")
    return done.stdout


def parse_containers(inspected: list[dict]) -> dict[str, dict]:
    """Turn `docker inspect` records into {compose service: state, health, pid}."""
    rows = {}
    for record in inspected:
        labels = record.get("Config", {}).get("Labels", {}) or {}
        service = labels.get("com.docker.compose.service")
        if not service:
            continue
        state = record.get("State", {})
        health = (state.get("Health") or {}).get("Status", "")
        rows[service] = {
            "state": state.get("Status", "unknown"),
            "health": health,
            "pid": state.get("Pid") or None,
            "started": state.get("StartedAt", ""),
        }
    return rows


def containers() -> dict[str, dict]:
    """Return the state of each of the project's containers."""
    ids = run("ps", "--all", "--quiet").split()
    if not ids:
        return {}
    docker = shutil.which("docker") or "docker"
    done = subprocess.run([docker, "inspect", *ids], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise StackError(f"docker inspect failed: {done.stderr.strip()[-500:]}")
    return parse_containers(json.loads(done.stdout))


def state_name(row: dict | None) -> str:
    """Map a container's state and health onto the local backend's state names."""
    if not row:
        return "STOPPED"
    if row["state"] == "running":
        return "STARTING" if row["health"] == "starting" else "RUNNING"
    if row["state"] in ("exited", "dead"):
        return "EXITED"
    return row["state"].upper()


def write_secrets(folder: Path, learner_dir: Path, names: list[str]) -> dict[str, str]:
    """Write the containers' secret files; return the database passwords.

    Passwords are generated once and kept; Slack URLs follow the learner's
    secrets/ files, with the inbox defaults re-pointed at the inbox container.
    """
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    for name in (*PASSWORD_FILES, "grafana_admin_password"):
        path = folder / name
        if not path.exists() or not path.read_text().strip():
            # Characters that need quoting in a URL, on purpose (see dsn below).
            path.write_text(secrets.token_urlsafe(12) + "@!:")
    passwords = {name: (folder / name).read_text() for name in PASSWORD_FILES}
    app_url = (
        f"postgresql://promlab_app:{quote(passwords['db_app_password'], safe='')}"
        "@db:5432/promlab?sslmode=disable"
    )
    (folder / "api_database_url").write_text(app_url)
    render.stack_secrets(learner_dir, folder, names, "http://inbox:8082")
    for path in folder.iterdir():
        # The container users (postgres, nobody, promlab) are not the file's owner.
        path.chmod(0o644)
    return passwords
