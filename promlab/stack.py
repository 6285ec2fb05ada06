"""Start, inspect and stop the whole lab: the monitored system and its monitoring.

`Stack().up()` starts every service and waits until Prometheus scrapes each one;
`targets()` shows what it scrapes and how that went; `down()` leaves nothing running.
"""

import contextlib
import json
import logging
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import requests
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_delay, wait_fixed
from tqdm.auto import tqdm

from promlab import binaries, ports, postgres, probes, profiles, render, workspace
from promlab.errors import BinaryNotFoundError, ServiceNotReadyError, StackError
from promlab.paths import CONFIGS, ROOT, SECRETS, home
from promlab.processes import DEAD_STATES, Program, Supervisor

log = logging.getLogger(__name__)

DEFAULT_PORTS: dict[str, int] = {
    "web": 8080,
    "api": 8081,
    "inbox": 8082,
    "postgres": 5433,
    "postgres_exporter": 9187,
    "node_exporter": 9100,
    "prometheus": 9090,
    "alertmanager": 9093,
}
# Prometheus job name of each scraped service.
JOBS: dict[str, str] = {
    "web": "web",
    "api": "api",
    "inbox": "inbox",
    "postgres_exporter": "postgres",
    "node_exporter": "node",
    "prometheus": "prometheus",
    "alertmanager": "alertmanager",
}
# Services the lab can run without: the machine metrics are a lesson of their own.
OPTIONAL: dict[str, str] = {"node_exporter": "PROMLAB_NODE_EXPORTER"}
_OFF = {"0", "off", "no", "n", "false", "disabled", "none"}
_ON = {"", "1", "on", "yes", "y", "true", "enabled"}
# What "the database is monitored" means once every target is up (C24).
DATABASE_READY = "max(pg_up) == 1 and on () count(pg_stat_database_xact_commit) > 0"
# Start waves: a wave starts once the one before it is ready.
WAVES: tuple[tuple[str, ...], ...] = (
    ("postgres", "prometheus", "alertmanager", "node_exporter", "inbox"),
    ("api", "postgres_exporter", "web"),
)
SERVICES: tuple[str, ...] = tuple(s for wave in WAVES for s in wave)


@dataclass(frozen=True)
class Service:
    """A service of a running stack: its name, port and Prometheus job."""

    name: str
    port: int
    job: str | None

    @property
    def address(self) -> str:
        """Return "127.0.0.1:port"."""
        return f"{ports.HOST}:{self.port}"


BACKENDS = ("local", "compose")


def choose_backend(backend: str | None = None) -> str:
    """Return the backend to use: the argument, `PROMLAB_BACKEND`, else auto.

    Auto picks "compose" when a Docker engine answers and "local" otherwise.
    """
    chosen = backend or os.environ.get("PROMLAB_BACKEND") or ""
    if not chosen:
        from promlab import compose

        chosen = "compose" if not compose.engine_error() else "local"
    if chosen not in BACKENDS:
        raise ValueError(
            f"unknown backend {chosen!r} (from the argument or PROMLAB_BACKEND); "
            f"use one of {', '.join(BACKENDS)}"
        )
    return chosen


class Stack:
    """The lab: the monitored system and its monitoring, with one API for every backend.

    `Stack()` gives a `LocalStack` (processes on this machine, the default) or a
    `ComposeStack` (Docker containers), as `choose_backend` decides; both take the
    arguments documented on `LocalStack` and offer the same methods.
    """

    backend = ""
    ports: dict[str, int]
    deadline: float
    profile: str
    rules_dir: Path
    run_dir: Path

    def __new__(cls, *args: Any, backend: str | None = None, **kwargs: Any) -> "Stack":
        if cls is Stack:
            if choose_backend(backend) == "compose":
                from promlab.compose import ComposeStack

                cls = ComposeStack
            else:
                cls = LocalStack
        return super().__new__(cls)

    def __enter__(self) -> "Stack":
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

    def up(self, progress: bool = False, wait_targets: bool = True) -> "Stack":
        """Start every service, wait until each is ready, and return the stack."""
        raise NotImplementedError

    def down(self, purge: bool = False) -> None:
        """Stop every service; safe to call twice."""
        raise NotImplementedError

    def status(self) -> pd.DataFrame:
        """Return one row per service: state, pid, address, uptime."""
        raise NotImplementedError

    def logs(self, name: str, lines: int = 40) -> str:
        """Return the last `lines` lines a service wrote."""
        raise NotImplementedError

    def is_running(self) -> bool:
        """Tell whether the stack runs."""
        raise NotImplementedError

    def dsn(self, role: str = "app") -> str:
        """Return a libpq URL for a database role: "app", "monitor" or "superuser"."""
        raise NotImplementedError

    def reload(self) -> None:
        """Make Prometheus and Alertmanager re-read their configuration and rules."""
        self._reload_servers()

    def _use_rules(self, rules_dir: str | Path | None) -> None:
        """Take the rules folder; by default the lab's copy, which follows the shipped files."""
        self.rules_dir = Path(rules_dir).resolve() if rules_dir else workspace.default_rules_dir()
        self._rules_follow_shipped = self.rules_dir == workspace.lab_rules_dir()

    def _sync_rules(self) -> list[str]:
        if self._rules_follow_shipped:
            return workspace.sync_rules(self.rules_dir)
        return []

    def loaded_rules_dir(self) -> Path:
        """Return the folder on this machine whose rule files Prometheus loads.

        That is `rules_dir` itself in the classroom profile; any other profile
        runs a copy rendered for its timing under the run directory.
        """
        if profiles.renders_rules(profiles.load(self.profile)):
            return self.run_dir / "rules"
        return self.rules_dir

    def prometheus_rules_dir(self) -> Path:
        """Return the rules folder as Prometheus sees it (its rule_files name it)."""
        return self.loaded_rules_dir()

    def skipped(self) -> dict[str, str]:
        """Return {service: why} for optional services this stack runs without."""
        return {}

    def jobs(self) -> list[str]:
        """List the Prometheus jobs this stack scrapes (node is left out when skipped)."""
        return [JOBS[n] for n in SERVICES if n in JOBS and n not in self.skipped()]

    def services(self) -> list[Service]:
        """List the stack's services with their ports and Prometheus jobs."""
        return [Service(n, self.ports[n], JOBS.get(n)) for n in SERVICES]

    def url(self, name: str) -> str:
        """Return the base URL of an HTTP service, e.g. url("prometheus").

        For "postgres" this is the application's libpq URL (see `dsn`).
        """
        self._check_name(name)
        if name == "postgres":
            return self.dsn("app")
        return f"http://{ports.HOST}:{self.ports[name]}"

    def targets(self) -> pd.DataFrame:
        """Return Prometheus's scrape targets: job, address, health, last error."""
        answer = requests.get(f"{self.url('prometheus')}/api/v1/targets", timeout=10)
        answer.raise_for_status()
        rows = [
            {
                "job": t["labels"].get("job", ""),
                "address": t["labels"].get("instance", t.get("scrapeUrl", "")),
                "health": t["health"],
                "last_error": t.get("lastError", ""),
                "last_scrape_s": round(t.get("lastScrapeDuration", 0.0), 4),
            }
            for t in answer.json()["data"]["activeTargets"]
        ]
        frame = pd.DataFrame(
            rows, columns=["job", "address", "health", "last_error", "last_scrape_s"]
        )
        return frame.sort_values("job", ignore_index=True)

    def wait_targets_up(self, timeout: float | None = None) -> pd.DataFrame:
        """Wait until Prometheus scrapes every job as up; return the targets table.

        Also waits until postgres_exporter reports the database itself: pg_up is 1
        and the pg_stat_database_* series exist.

        Raises:
            ServiceNotReadyError: some target was still down at the deadline.
        """
        timeout = timeout or self.deadline
        expected = set(self.jobs())
        last = pd.DataFrame()

        def check() -> None:
            nonlocal last
            last = self.targets()
            up = set(last.loc[last["health"] == "up", "job"])
            if not expected <= up:
                raise probes.NotReadyYet(", ".join(sorted(expected - up)))
            # An exporter that answers is up even when it cannot reach the database.
            if not self._query(DATABASE_READY):
                raise probes.NotReadyYet("postgres metrics (pg_up, pg_stat_database_*)")

        try:
            Retrying(
                stop=stop_after_delay(timeout),
                wait=wait_fixed(0.25),
                retry=retry_if_exception_type((probes.NotReadyYet, requests.RequestException)),
            )(check)
        except RetryError:
            down = last[last["health"] != "up"] if not last.empty else last
            if not last.empty and down.empty:
                raise ServiceNotReadyError(
                    f"every target is up, but after {timeout:.0f} s Prometheus still has no "
                    "pg_up == 1 with pg_stat_database_* from postgres_exporter: it cannot "
                    "read the database. See logs('postgres_exporter') and logs('postgres').",
                    "postgres_exporter",
                ) from None
            raise ServiceNotReadyError(
                f"Prometheus did not see every target up within {timeout:.0f} s:\n"
                f"{down.to_string(index=False) if not down.empty else 'no targets yet'}\n"
                "Check the failing service with status() and logs(name).",
                "prometheus",
            ) from None
        return last

    def _query(self, expr: str) -> list[dict]:
        """Return the result of an instant query (promlab.promql builds on Stack)."""
        answer = requests.get(
            f"{self.url('prometheus')}/api/v1/query", params={"query": expr}, timeout=10
        )
        answer.raise_for_status()
        return answer.json()["data"]["result"]

    def _reload_servers(self) -> None:
        for name in ("prometheus", "alertmanager"):
            answer = requests.post(f"{self.url(name)}/-/reload", timeout=30)
            if answer.status_code != 200:
                cause = _first_of_last_errors(self.logs(name, 30))
                cause = f"\nits log says: {cause[-600:]}" if cause else ""
                raise StackError(
                    f"{name} refused to reload (HTTP {answer.status_code}): "
                    f"{answer.text.strip()[:800]}; it keeps running its previous "
                    f"configuration.{cause}\nDetails: logs('{name}')"
                )
        log.info("prometheus and alertmanager reloaded")

    def _check_name(self, name: str) -> None:
        if name not in DEFAULT_PORTS:
            raise ValueError(f"unknown service {name!r}; services are {', '.join(SERVICES)}")

    def _write_configs(self) -> None:
        raise NotImplementedError


class LocalStack(Stack):
    """The lab's services, run as local processes under one run directory.

    Args:
        name: the run directory's name under `PROMLAB_HOME` (default `.run/`).
        ports: None for the running stack's ports, else the defaults (each
            overridable with `PROMLAB_PORT_<SERVICE>`); "auto" for free ports; or a
            dict overriding some services' ports. `PROMLAB_PORTS=auto` makes "auto"
            the default.
        run_dir: an explicit run directory (wins over `name`).
        rules_dir: the rule files Prometheus loads (`PROMLAB_RULES_DIR`, else the
            lab's copy `<PROMLAB_HOME>/rules`, which follows configs/prometheus/rules
            except where the learner edited it).
        alertmanager_config: the Alertmanager file to render (configs/alertmanager/...).
        deadline: seconds each service gets to become ready.
        profile: timing profile under configs/profiles/ ("classroom" or "production");
            None keeps a running stack's profile (`PROMLAB_PROFILE`, else classroom).
        backend: "local" here; `Stack(backend=...)` chooses the class.
    """

    backend = "local"

    def __init__(
        self,
        name: str = "default",
        ports: str | dict[str, int] | None = None,
        run_dir: str | Path | None = None,
        rules_dir: str | Path | None = None,
        alertmanager_config: str | Path | None = None,
        deadline: float = 60,
        profile: str | None = None,
        backend: str | None = None,
    ) -> None:
        self.run_dir = Path(run_dir).resolve() if run_dir else home() / name
        self.requested_ports = ports if ports is not None else os.environ.get("PROMLAB_PORTS")
        self._use_rules(rules_dir)
        self.alertmanager_source = Path(
            alertmanager_config or CONFIGS / "alertmanager" / "alertmanager.yml"
        ).resolve()
        self.deadline = deadline
        self.supervisor = Supervisor(self.run_dir)
        self.requested_profile = profile
        self.profile = profile or self._saved("profile") or _default_profile()
        self.ports: dict[str, int] = self._saved_ports() or self._wanted_ports()
        self._skipped: dict[str, str] = self._saved("skipped") or {}

    def __repr__(self) -> str:
        return f"Stack(run_dir={str(self.run_dir)!r}, running={self.is_running()})"

    # -- lifecycle -------------------------------------------------------------

    def up(self, progress: bool = False, wait_targets: bool = True) -> "Stack":
        """Start every service, wait until each is ready, and return the stack.

        A stack that already runs is reused unless other ports, another profile or
        other optional services were asked for; then it is stopped and started
        again. Settings are checked first: a bad one raises and changes nothing.
        On a failure after that, everything this call started is stopped again.

        Args:
            progress: show a progress bar (a widget in Jupyter).
            wait_targets: also wait until Prometheus has scraped every target as up.

        Raises:
            BinaryNotFoundError, PortInUseError, ServiceNotReadyError, StackError.
        """
        started = time.monotonic()
        # Settings are checked before anything changes: a bad one leaves a running
        # stack as it is.
        wanted_ports = self._wanted_ports()
        left_out = _optional_services_left_out()
        profiles.load(self.requested_profile or self.profile)
        self.supervisor.reap()
        steps = len(SERVICES) + (1 if wait_targets else 0)
        with _progress(progress, steps) as bar:
            try:
                if self.supervisor.is_running() and self._reusable(wanted_ports, left_out):
                    log.info("stack in %s already runs; checking its services", self.run_dir)
                    if self._sync_rules():
                        self.reload()
                else:
                    self._prepare(wanted_ports, left_out)
                self._start_waves(bar)
                if wait_targets:
                    bar.set_description("prometheus: waiting for every target to be up")
                    self.wait_targets_up()
                    bar.update(1)
            except BaseException:
                log.warning("start failed; stopping what was started")
                self.down()
                raise
        log.info("stack up in %.1f s (%s)", time.monotonic() - started, self.run_dir)
        return self

    def down(self, purge: bool = False) -> None:
        """Stop every service and leave no process behind; safe to call twice.

        Args:
            purge: also delete the run directory (metrics, database, logs).
        """
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("stopping supervised services", self.supervisor.shutdown),
            ("reaping leftover processes", self.supervisor.reap),
        ]
        if purge:
            steps += [
                ("removing the database", lambda: postgres.remove_data(self.run_dir)),
                ("removing the run directory", lambda: shutil.rmtree(self.run_dir, True)),
            ]
        for what, step in steps:
            # One failed step must not keep the others from cleaning up.
            try:
                step()
            except Exception as error:
                log.warning("%s failed: %s", what, error)
        log.info("stack in %s is down", self.run_dir)

    def restart(self, name: str) -> None:
        """Restart one service and wait until it is ready again."""
        self._check_name(name)
        self.supervisor.stop(name)
        self.supervisor.start(name)
        self._wait_ready(name)

    def stop_service(self, name: str) -> None:
        """Stop one service (to see an alert fire); `start_service` brings it back."""
        self._check_name(name)
        self.supervisor.stop(name)

    def start_service(self, name: str) -> None:
        """Start one stopped service and wait until it is ready."""
        self._check_name(name)
        self.supervisor.start(name)
        self._wait_ready(name)

    def reload(self) -> None:
        """Re-render the configuration, then make Prometheus and Alertmanager re-read it.

        Raises:
            StackError: a reload was refused; the message carries the server's answer.
        """
        self._write_configs()
        self._reload_servers()

    # -- inspection ------------------------------------------------------------

    def skipped(self) -> dict[str, str]:
        """Return {service: why} for optional services this stack runs without.

        node_exporter is left out when `PROMLAB_NODE_EXPORTER=off` or when it is
        not installed; the machine metrics (job node) are missing then.
        """
        return dict(self._skipped)

    def is_running(self) -> bool:
        """Tell whether this stack's supervisor runs (services may still be stopped)."""
        return self.supervisor.is_running()

    def dsn(self, role: str = "app") -> str:
        """Return a libpq URL for a database role: "app", "monitor" or "superuser"."""
        if role not in postgres.ROLES:
            raise ValueError(f"unknown role {role!r}; use one of {sorted(postgres.ROLES)}")
        pw = postgres.passwords(self.run_dir)
        return postgres.dsn(role, pw[role], self.ports["postgres"])

    def status(self) -> pd.DataFrame:
        """Return one row per service: state, pid, address, uptime.

        A service whose supervisor was killed but which still runs is ORPHANED;
        `down()` stops it.
        """
        states = self.supervisor.states()
        orphans = self.supervisor.leftovers()
        if orphans:
            log.warning(
                "the supervisor of %s is gone but %s still run; down() stops them",
                self.run_dir,
                ", ".join(sorted(orphans)),
            )
            self.ports = self._last("ports") or self.ports
            self._skipped = self._last("skipped") or self._skipped
        rows = []
        for svc in self.services():
            info = states.get(svc.name, {})
            state = "ORPHANED" if svc.name in orphans else info.get("statename", "STOPPED")
            if svc.name in self._skipped:
                state = "SKIPPED"
            rows.append(
                {
                    "service": svc.name,
                    "state": state,
                    "pid": orphans.get(svc.name) or info.get("pid") or None,
                    "address": svc.address,
                    "uptime": info.get("description", "") if info.get("pid") else "",
                }
            )
        frame = pd.DataFrame(rows)
        frame["pid"] = frame["pid"].astype("Int64")
        return frame

    def logs(self, name: str, lines: int = 40) -> str:
        """Return the last `lines` lines a service wrote (stdout and stderr)."""
        if name != "supervisord":
            self._check_name(name)
        path = self.supervisor.log_path(name)
        if not path.exists():
            return ""
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 64_000))
            text = handle.read().decode("utf-8", "replace")
        return "\n".join(text.splitlines()[-lines:])

    # -- internals -------------------------------------------------------------

    def _state_file(self) -> Path:
        return self.run_dir / "stack.json"

    def _saved(self, key: str) -> Any:
        """Return a setting of the running stack from stack.json, None if not running."""
        try:
            saved = json.loads(self._state_file().read_text())[key]
        except (OSError, ValueError, KeyError):
            return None
        if not self.supervisor.is_running():
            return None
        return saved

    def _last(self, key: str) -> Any:
        """Return a setting of the last start from stack.json, running or not."""
        try:
            return json.loads(self._state_file().read_text())[key]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _saved_ports(self) -> dict[str, int] | None:
        return self._saved("ports")

    def _wanted_ports(self) -> dict[str, int]:
        wanted = dict(DEFAULT_PORTS)
        for svc in wanted:
            variable = f"PROMLAB_PORT_{svc.upper()}"
            env = os.environ.get(variable)
            if env:
                wanted[svc] = _port_number(env, f"{variable}={env!r}")
        if self.requested_ports == "auto":
            taken: set[int] = set()
            for svc in wanted:
                port = ports.free_port()
                while port in taken:
                    port = ports.free_port()
                wanted[svc] = port
                taken.add(port)
        elif isinstance(self.requested_ports, dict):
            unknown = set(self.requested_ports) - set(DEFAULT_PORTS)
            if unknown:
                raise ValueError(f"unknown services in ports: {sorted(unknown)}")
            for svc, port in self.requested_ports.items():
                wanted[svc] = _port_number(port, f"ports[{svc!r}]={port!r}")
        elif self.requested_ports not in (None, ""):
            raise ValueError(
                f"ports must be None, 'auto' or a dict, not {self.requested_ports!r} "
                "(from the argument or PROMLAB_PORTS)"
            )
        by_port: dict[int, list[str]] = {}
        for svc, port in wanted.items():
            by_port.setdefault(port, []).append(svc)
        shared = {port: names for port, names in by_port.items() if len(names) > 1}
        if shared:
            port, names = next(iter(shared.items()))
            spare = next(
                p for p in [*range(port + 1, 65536), *range(port - 1, 0, -1)] if p not in by_port
            )
            moved = names[-1]
            raise ValueError(
                f"{' and '.join(names)} would both listen on port {port}; give each "
                f'service its own port, e.g. Stack(ports={{"{moved}": {spare}}}) or '
                f'PROMLAB_PORT_{moved.upper()}={spare}, or ports="auto"'
            )
        return wanted

    def _reusable(self, wanted_ports: dict[str, int], left_out: dict[str, str]) -> bool:
        saved = self._saved_ports()
        if saved is None:
            return False
        running_profile = self._saved("profile") or "classroom"
        if self.requested_profile and self.requested_profile != running_profile:
            log.info("stack runs the %s profile; restarting it", running_profile)
            return False
        # Without a profile asked for, a restart below keeps the running one.
        self.profile = running_profile
        if set(left_out) != set(self._skipped):
            log.info("stack runs with other optional services; restarting it")
            return False
        # Ports asked for by nobody (no argument, no PROMLAB_PORT*): keep the running ones.
        asked = self.requested_ports not in (None, "") or any(
            name.startswith("PROMLAB_PORT_") for name in os.environ
        )
        if self.requested_ports == "auto" or not asked or saved == wanted_ports:
            self.ports = saved
            return True
        log.info("stack runs with other ports; restarting it")
        return False

    def _prepare(self, wanted_ports: dict[str, int], left_out: dict[str, str]) -> None:
        self.ports = wanted_ports
        self._skipped = left_out
        self.profile = self.requested_profile or self.profile
        # Every program is found before a running stack is stopped for the restart.
        programs = self._programs()
        initdb = binaries.find_binary("initdb")
        binaries.find_binary("psql")
        self.supervisor.shutdown()
        ports.ensure_free({k: v for k, v in self.ports.items() if k not in self._skipped})
        for sub in ("logs", "config", "data/prometheus", "data/alertmanager", "textfile"):
            (self.run_dir / sub).mkdir(parents=True, exist_ok=True)
        self._write_configs()
        self.supervisor.write_config(programs)
        state = {
            "ports": self.ports,
            "profile": self.profile,
            "postgres_data": str(self._pg_data()),
            "skipped": self._skipped,
        }
        self._state_file().write_text(json.dumps(state, indent=2))
        self.supervisor.start_daemon()
        # Prometheus hands new targets to its scrapers only every 5 s: start it first.
        self.supervisor.start("prometheus")
        pw = postgres.passwords(self.run_dir)
        postgres.init_cluster(initdb, self._pg_data(), pw["superuser"])

    def _start_waves(self, bar: Any) -> None:
        bar.update(len(self._skipped))
        for every in WAVES:
            wave = tuple(name for name in every if name not in self._skipped)
            for name in wave:
                if self.supervisor.state(name) != "RUNNING":
                    self.supervisor.start(name)
            for name in wave:
                bar.set_description(f"{name}: starting")
                took = self._wait_ready(name)
                log.info("%s ready on %s after %.1f s", name, self._address(name), took)
                if name == "postgres":
                    postgres.provision(
                        binaries.find_binary("psql"),
                        self.ports["postgres"],
                        postgres.passwords(self.run_dir),
                    )
                bar.update(1)

    def _wait_ready(self, name: str) -> float:
        if name == "postgres":
            probe = probes.postgres_probe(self.dsn("superuser").replace("/promlab?", "/postgres?"))
        else:
            probe = probes.http_probe(self.url(name) + _READY_PATH.get(name, "/metrics"))
        return probes.wait_ready(
            name,
            probe,
            self.deadline,
            alive=lambda: self.supervisor.state(name) not in DEAD_STATES,
            log_tail=lambda: self.logs(name, 30),
            where=f" on {self._address(name)}",
        )

    def _address(self, name: str) -> str:
        return f"{ports.HOST}:{self.ports[name]}"

    def _pg_data(self) -> Path:
        return postgres.data_dir(self.run_dir)

    def _write_configs(self) -> None:
        config = self.run_dir / "config"
        config.mkdir(parents=True, exist_ok=True)
        targets = {job: self._address(svc) for svc, job in JOBS.items()}
        left_out = {JOBS[svc] for svc in self._skipped if svc in JOBS}
        timing = profiles.load(self.profile)
        self._sync_rules()
        rules_dir = self.loaded_rules_dir()
        if rules_dir != self.rules_dir:
            profiles.render_rules(timing, self.rules_dir, rules_dir, strict=False)
        (config / "prometheus.yml").write_text(
            render.prometheus_config(
                targets,
                self._address("alertmanager"),
                rules_dir,
                profile=timing,
                skip_jobs=left_out,
            )
        )
        names = render.secret_files(self.alertmanager_source)
        inbox = self.url("inbox")
        render.ensure_secrets(SECRETS, names, f"http://{ports.HOST}:{DEFAULT_PORTS['inbox']}")
        render.stack_secrets(SECRETS, self.run_dir / "secrets" / "slack", names, inbox)
        (config / "alertmanager.yml").write_text(
            render.alertmanager_config(
                self.run_dir / "secrets" / "slack", self.alertmanager_source, timing
            )
        )

    def _programs(self) -> list[Program]:
        run, p = self.run_dir, self.ports
        find = binaries.find_binary
        account = postgres.os_user()
        pw = postgres.passwords(run)
        gunicorn_env = {
            "PROMLAB_API_URL": self.url("api"),
            "PROMLAB_DATABASE_URL": postgres.dsn("app", pw["app"], p["postgres"]),
            "PYTHONUNBUFFERED": "1",
        }
        programs = [
            Program(
                "postgres",
                postgres.server_command(find("postgres"), self._pg_data(), p["postgres"]),
                user=account.pw_name if account else None,
                directory=str(self._pg_data().parent),
                # SIGINT is PostgreSQL's fast shutdown: no waiting for idle sessions.
                stopsignal="INT",
                priority=100,
            ),
            Program(
                "prometheus",
                [
                    str(find("prometheus")),
                    f"--config.file={run / 'config' / 'prometheus.yml'}",
                    f"--storage.tsdb.path={run / 'data' / 'prometheus'}",
                    f"--web.listen-address={self._address('prometheus')}",
                    f"--web.external-url={self.url('prometheus')}/",
                    "--web.enable-lifecycle",
                    # A firing alert reaches Alertmanager within seconds, not a minute.
                    f"--rules.alert.resend-delay={profiles.load(self.profile).resend_delay}",
                ],
                priority=300,
            ),
            Program(
                "alertmanager",
                [
                    str(find("alertmanager")),
                    f"--config.file={run / 'config' / 'alertmanager.yml'}",
                    f"--storage.path={run / 'data' / 'alertmanager'}",
                    f"--web.listen-address={self._address('alertmanager')}",
                    f"--web.external-url={self.url('alertmanager')}/",
                    # Empty: no cluster port on 0.0.0.0:9094 for a single local instance.
                    "--cluster.listen-address=",
                ],
                priority=300,
            ),
            Program(
                "postgres_exporter",
                [
                    str(find("postgres_exporter")),
                    f"--web.listen-address={self._address('postgres_exporter')}",
                ],
                env={"DATA_SOURCE_NAME": postgres.dsn("monitor", pw["monitor"], p["postgres"])},
                priority=200,
            ),
        ]
        if "node_exporter" not in self._skipped:
            programs.append(
                Program(
                    "node_exporter",
                    [
                        str(find("node_exporter")),
                        f"--web.listen-address={self._address('node_exporter')}",
                        f"--collector.textfile.directory={run / 'textfile'}",
                    ],
                    priority=300,
                )
            )
        for name in ("inbox", "api", "web"):
            programs.append(
                Program(
                    name,
                    _gunicorn(name, self._address(name)),
                    env=gunicorn_env,
                    directory=str(ROOT),
                    priority=200 if name == "api" else 400,
                )
            )
        return programs


def _optional_services_left_out() -> dict[str, str]:
    """Return {service: why} for the optional services this start goes without."""
    left_out = {}
    for name, variable in OPTIONAL.items():
        setting = os.environ.get(variable, "").strip().lower()
        if setting in _OFF:
            left_out[name] = f"turned off with {variable}={os.environ[variable]}"
            continue
        if setting not in _ON:
            raise ValueError(
                f"{variable}={os.environ[variable]!r} is neither on nor off; "
                f"use {variable}=off to run without {name}, or unset it"
            )
        try:
            binaries.find_binary(name)
        except BinaryNotFoundError as error:
            if os.environ.get(f"PROMLAB_{name.upper()}_BIN"):
                raise  # a path given on purpose that is wrong is an error, not a choice
            left_out[name] = f"{error}. Without it the lab has no machine metrics (job node)"
    for name, why in left_out.items():
        log.warning("running without %s: %s", name, why)
    return left_out


def _port_number(value: object, source: str) -> int:
    """Return `value` as a TCP port, or raise ValueError naming where it came from."""
    text = str(value).strip()
    port = int(text) if re.fullmatch(r"[0-9]{1,5}", text) else -1
    if isinstance(value, bool) or not 1 <= port <= 65535:
        raise ValueError(
            f"{source} is not a port number: use a whole number from 1 to 65535, "
            'or ports="auto" (PROMLAB_PORTS=auto) for free ports'
        )
    return port


def _first_of_last_errors(log_text: str) -> str:
    # A refused reload logs its cause first, then generic summaries: keep the cause.
    burst: list[str] = []
    for line in reversed(log_text.splitlines()):
        if "level=error" in line:
            burst.append(line)
        elif burst:
            break
    return burst[-1] if burst else ""


def _default_profile() -> str:
    return os.environ.get("PROMLAB_PROFILE") or profiles.DEFAULT


_READY_PATH = {
    "prometheus": "/-/ready",
    "alertmanager": "/-/ready",
    "web": "/healthz",
    "api": "/healthz",
    "inbox": "/healthz",
}


def _gunicorn(name: str, address: str) -> list[str]:
    # One worker with threads: every counter lives in one process and stays monotonic.
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        address,
        "--workers",
        "1",
        "--threads",
        "8",
        "--worker-class",
        "gthread",
        "--graceful-timeout",
        "5",
        "--timeout",
        "60",
        # Its default control socket is one per user, in the home folder: every
        # gunicorn of every stack would fight over it.
        "--no-control-socket",
        f"services.{name}.app:create_app()",
    ]


@contextlib.contextmanager
def _progress(show: bool, total: int) -> Iterator[Any]:
    if show:
        with tqdm(total=total, unit="step", leave=True) as bar:
            yield bar
    else:
        yield _NoBar()


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_description(self, text: str) -> None:
        pass
