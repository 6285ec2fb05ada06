"""Docker Compose plumbing: the CLI, container status, secrets for the containers.

The compose backend of `promlab.stack` runs the same services as containers from
docker-compose.yml. Everything here works without a Docker engine except the calls
that really need one, which raise `DockerUnavailableError` saying so.
"""

import functools
import json
import logging
import os
import secrets
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import pandas as pd
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from promlab import postgres, probes, profiles, render
from promlab.errors import ServiceNotReadyError, StackError
from promlab.paths import CONFIGS, ROOT, SECRETS, home
from promlab.ports import HOST
from promlab.stack import DEFAULT_PORTS, SERVICES, Stack

log = logging.getLogger(__name__)

PROJECT = "promlab"
GRAFANA_PORT = 3000
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
# Where docker-compose.yml mounts the rules folder into the Prometheus container.
CONTAINER_RULES = Path("/etc/prometheus/rules")
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


@functools.cache
def engine_error() -> str:
    """Return why no Docker engine answers, or "" when one does (asked once a process)."""
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


def run(*args: str, timeout: float = 900, env: dict[str, str] | None = None) -> str:
    """Run a compose command; return its output.

    Raises:
        StackError: the command failed; the message holds its last output lines.
    """
    line = command(*args)
    log.debug("running %s", " ".join(line))
    done = subprocess.run(
        line,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
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


def containers(env: dict[str, str] | None = None) -> dict[str, dict]:
    """Return the state of each of the project's containers."""
    ids = run("ps", "--all", "--quiet", env=env).split()
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


class ComposeStack(Stack):
    """The lab's services as Docker containers, from docker-compose.yml.

    Same methods as the local stack. Ports are the ones docker-compose.yml
    publishes on 127.0.0.1; rendered configs and secrets live in `PROMLAB_HOME/compose`.

    Args:
        profile: timing profile under configs/profiles/ (classroom by default).
        deadline: seconds the containers get to become healthy.
        rules_dir: the rule files mounted into Prometheus (default: as for `LocalStack`).
        ports, name, run_dir, alertmanager_config: accepted for the same call
            signature; custom ports are refused (the compose file fixes them).
    """

    backend = "compose"

    def __init__(
        self,
        name: str = "default",
        ports: str | dict[str, int] | None = None,
        run_dir: str | Path | None = None,
        rules_dir: str | Path | None = None,
        alertmanager_config: str | Path | None = None,
        deadline: float = 180,
        profile: str | None = None,
        backend: str | None = None,
    ) -> None:
        if isinstance(ports, dict) and any(DEFAULT_PORTS.get(k) != v for k, v in ports.items()):
            raise ValueError(
                "the compose backend publishes the ports written in docker-compose.yml; "
                "edit its `ports:` lines, or use the local backend for custom ports"
            )
        self.run_dir = Path(run_dir).resolve() if run_dir else home() / "compose"
        self._use_rules(rules_dir)
        self.alertmanager_source = Path(
            alertmanager_config or CONFIGS / "alertmanager" / "alertmanager.yml"
        ).resolve()
        self.deadline = deadline
        self.profile = profile or os.environ.get("PROMLAB_PROFILE") or profiles.DEFAULT
        self.ports = {**DEFAULT_PORTS, "grafana": GRAFANA_PORT}

    def __repr__(self) -> str:
        return f"ComposeStack(project={PROJECT!r}, run_dir={str(self.run_dir)!r})"

    def up(self, progress: bool = False, wait_targets: bool = True) -> Stack:
        """Build and start every container, wait until each is healthy, and return the stack.

        Raises:
            DockerUnavailableError: no Docker engine answers (the message says how
                to use the local backend instead).
            ServiceNotReadyError: a container exited or stayed unhealthy; the message
                carries its last log lines. Everything started is stopped again.
        """
        require_engine()
        self._write_configs()
        try:
            self._run("up", "--detach", "--build", "--remove-orphans")
            self._wait_healthy()
            if wait_targets:
                self.wait_targets_up()
        except BaseException:
            log.warning("compose start failed; stopping the containers again")
            self.down()
            raise
        return self

    def down(self, purge: bool = False) -> None:
        """Stop and remove the containers (and with `purge`, their volumes and secrets)."""
        if engine_error():
            log.info("no Docker engine answers: no containers to stop")
        else:
            self._run("down", "--remove-orphans", *(["--volumes"] if purge else []))
        if purge:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def is_running(self) -> bool:
        """Tell whether any of the project's containers runs."""
        if engine_error():
            return False
        return any(row["state"] == "running" for row in self._containers().values())

    def status(self) -> pd.DataFrame:
        """Return one row per service: state (as the local backend names them), pid, address."""
        rows_by_service = {} if engine_error() else self._containers()
        rows = []
        for name in (*SERVICES, "grafana"):
            row = rows_by_service.get(SERVICE_NAMES[name])
            rows.append(
                {
                    "service": name,
                    "state": state_name(row),
                    "pid": row["pid"] if row else None,
                    "address": f"{HOST}:{self.ports[name]}",
                    "uptime": f"since {row['started']}" if row else "",
                }
            )
        return pd.DataFrame(rows)

    def logs(self, name: str, lines: int = 40) -> str:
        """Return the last `lines` lines a container wrote."""
        self._check_name(name)
        return self._run("logs", "--no-color", "--tail", str(lines), SERVICE_NAMES[name])

    def restart(self, name: str) -> None:
        """Restart one container and wait until it is healthy again."""
        self._check_name(name)
        self._run("restart", SERVICE_NAMES[name])
        self._wait_healthy([name])

    def stop_service(self, name: str) -> None:
        """Stop one container (to see an alert fire); `start_service` brings it back."""
        self._check_name(name)
        self._run("stop", SERVICE_NAMES[name])

    def start_service(self, name: str) -> None:
        """Start one stopped container and wait until it is healthy."""
        self._check_name(name)
        self._run("start", SERVICE_NAMES[name])
        self._wait_healthy([name])

    def dsn(self, role: str = "app") -> str:
        """Return a libpq URL for a database role, through the published port."""
        files = {
            "superuser": "db_superuser_password",
            "app": "db_app_password",
            "monitor": "db_monitor_password",
        }
        if role not in files:
            raise ValueError(f"unknown role {role!r}; use one of {sorted(files)}")
        password = (self.run_dir / "secrets" / files[role]).read_text()
        return postgres.dsn(role, password, self.ports["postgres"])

    def _check_name(self, name: str) -> None:
        if name not in SERVICE_NAMES:
            raise ValueError(f"unknown service {name!r}; services are {', '.join(SERVICE_NAMES)}")

    def _run(self, *args: str) -> str:
        return run(
            *args,
            env={
                "PROMLAB_COMPOSE_DIR": str(self.run_dir),
                "PROMLAB_COMPOSE_RULES": str(self.loaded_rules_dir()),
            },
        )

    def _containers(self) -> dict[str, dict]:
        return containers(env={"PROMLAB_COMPOSE_DIR": str(self.run_dir)})

    def prometheus_rules_dir(self) -> Path:
        """Return the rules folder as the Prometheus container sees it."""
        return CONTAINER_RULES

    def _write_configs(self) -> None:
        """Render prometheus.yml and alertmanager.yml for the compose network."""
        config = self.run_dir / "config"
        config.mkdir(parents=True, exist_ok=True)
        timing = profiles.load(self.profile)
        self._sync_rules()
        if self.loaded_rules_dir() != self.rules_dir:
            profiles.render_rules(timing, self.rules_dir, self.loaded_rules_dir(), strict=False)
        prometheus = render.prometheus_config(
            COMPOSE_ADDRESSES, "alertmanager:9093", CONTAINER_RULES, profile=timing
        )
        (config / "prometheus.yml").write_text(prometheus)
        names = render.secret_files(self.alertmanager_source)
        render.ensure_secrets(SECRETS, names, f"http://{HOST}:{DEFAULT_PORTS['inbox']}")
        write_secrets(self.run_dir / "secrets", SECRETS, names)
        alertmanager = render.alertmanager_config(
            Path("/run/secrets"),
            self.alertmanager_source,
            timing,
            config_dir=Path("/etc/alertmanager"),
        )
        (config / "alertmanager.yml").write_text(alertmanager)
        for path in config.iterdir():
            # The Prometheus and Alertmanager images run as nobody.
            path.chmod(0o644)

    def _wait_healthy(self, names: list[str] | None = None) -> None:
        wanted = [SERVICE_NAMES[n] for n in (names or [*SERVICES, "grafana"])]
        last: dict[str, dict] = {}

        def check() -> None:
            nonlocal last
            last = self._containers()
            for service in wanted:
                row = last.get(service)
                if row and row["state"] in ("exited", "dead"):
                    raise _ContainerExited(service)
                if not row or row["state"] != "running" or row["health"] not in ("healthy", ""):
                    raise probes.NotReadyYet(service)

        try:
            Retrying(
                stop=stop_after_delay(self.deadline),
                wait=wait_fixed(1),
                retry=retry_if_exception_type(probes.NotReadyYet),
                reraise=False,
            )(check)
        except _ContainerExited as exited:
            service = exited.args[0]
            tail = self._run("logs", "--no-color", "--tail", "30", service)
            raise ServiceNotReadyError(
                f"container {service} exited while starting. Its last log lines:\n{tail}",
                service,
                tail,
            ) from None
        except RetryError:
            waiting = [s for s in wanted if (last.get(s) or {}).get("health") != "healthy"]
            service = waiting[0] if waiting else "?"
            tail = self._run("logs", "--no-color", "--tail", "30", service) if waiting else ""
            raise ServiceNotReadyError(
                f"containers not healthy after {self.deadline:.0f} s: {', '.join(waiting)}. "
                f"Last log lines of {service}:\n{tail}\nA first start builds images and "
                "pulls others, which can take minutes: Stack(deadline=600).",
                service,
                tail,
            ) from None


class _ContainerExited(Exception):
    pass
