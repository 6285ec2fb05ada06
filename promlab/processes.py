"""Run the stack's programs under supervisord, one daemon per run directory.

supervisord starts, stops and logs the programs and can drop privileges for
PostgreSQL. promlab adds a pid file per program so that even a supervisord that was
killed leaves nothing behind: the next `up()` or `down()` reaps what the files name.
"""

import contextlib
import hashlib
import json
import logging
import shlex
import subprocess
import sys
import tempfile
import xmlrpc.client
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from supervisor.xmlrpc import SupervisorTransport
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from promlab.errors import StackError

log = logging.getLogger(__name__)

# Longest unix socket path the kernel accepts is 108 bytes, NUL included.
SOCKET_PATH_MAX = 100
RUNNING, STARTING = "RUNNING", "STARTING"
DEAD_STATES = {"EXITED", "FATAL", "BACKOFF", "STOPPED", "UNKNOWN"}


@dataclass
class Program:
    """One long-running program of the stack, as supervisord should run it."""

    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    directory: str | None = None
    stopsignal: str = "TERM"
    # Lower starts first and stops last (supervisord stops in reverse priority).
    priority: int = 500


class Supervisor:
    """Control the supervisord daemon that owns one run directory's programs."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.conf = run_dir / "supervisord.conf"
        self.pidfile = run_dir / "supervisord.pid"
        self.logs = run_dir / "logs"
        self.pids = run_dir / "pids"
        self.socket = _socket_path(run_dir)

    def log_path(self, name: str) -> Path:
        """Return the file a program's stdout and stderr go to."""
        return self.logs / f"{name}.log"

    def write_config(self, programs: list[Program]) -> None:
        """Write supervisord.conf for these programs (none autostarts)."""
        self.logs.mkdir(parents=True, exist_ok=True)
        lines = [
            "[unix_http_server]",
            f"file={self.socket}",
            "chmod=0700",
            "",
            "[supervisord]",
            f"logfile={self.logs / 'supervisord.log'}",
            f"pidfile={self.pidfile}",
            f"childlogdir={self.logs}",
            f"directory={self.run_dir}",
            "loglevel=info",
            "",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
            "",
        ]
        for prog in programs:
            lines += _program_section(prog, self.log_path(prog.name))
        self.conf.write_text("\n".join(lines) + "\n")
        # The file holds connection strings; keep it to its owner.
        self.conf.chmod(0o600)

    def is_running(self) -> bool:
        """Tell whether this run directory's supervisord answers on its socket."""
        try:
            self._rpc().supervisor.getState()
        except (OSError, xmlrpc.client.Error):
            return False
        return True

    def start_daemon(self) -> None:
        """Start supervisord in the background and wait until it answers."""
        cmd = [sys.executable, "-m", "supervisor.supervisord", "-c", str(self.conf)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise StackError(
                f"supervisord did not start (exit {done.returncode}): "
                f"{(done.stderr or done.stdout).strip()[-800:]}; config {self.conf}"
            )
        retry = Retrying(
            stop=stop_after_delay(10),
            wait=wait_fixed(0.05),
            retry=retry_if_exception_type((OSError, xmlrpc.client.Error)),
            reraise=True,
        )
        for attempt in retry:
            with attempt:
                self._rpc().supervisor.getState()
        log.debug("supervisord up for %s", self.run_dir)

    def start(self, name: str) -> None:
        """Start program `name` without waiting for it to settle."""
        try:
            self._rpc().supervisor.startProcess(name, False)
        except xmlrpc.client.Fault as fault:
            if "ALREADY_STARTED" not in fault.faultString:
                raise StackError(f"supervisord could not start {name}: {fault}") from fault
        self._write_pid(name)

    def stop(self, name: str) -> None:
        """Stop program `name`; a program that is not running is left alone."""
        try:
            self._rpc().supervisor.stopProcess(name, True)
        except xmlrpc.client.Fault as fault:
            if "NOT_RUNNING" not in fault.faultString:
                raise StackError(f"supervisord could not stop {name}: {fault}") from fault
        (self.pids / f"{name}.pid").unlink(missing_ok=True)

    def signal(self, name: str, signame: str) -> None:
        """Send a signal (for example "HUP") to program `name`."""
        self._rpc().supervisor.signalProcess(name, signame)

    def state(self, name: str) -> str:
        """Return supervisord's state name for a program, "UNKNOWN" if it can't tell."""
        try:
            return self._rpc().supervisor.getProcessInfo(name)["statename"]
        except (OSError, xmlrpc.client.Error):
            return "UNKNOWN"

    def states(self) -> dict[str, dict]:
        """Return supervisord's view of every program: state, pid, uptime text."""
        try:
            infos = self._rpc().supervisor.getAllProcessInfo()
        except (OSError, xmlrpc.client.Error):
            return {}
        return {i["name"]: i for i in infos}

    def shutdown(self, timeout: float = 30) -> None:
        """Stop every program, then supervisord itself; safe when nothing runs."""
        # Read first: supervisord deletes its pid file on the way out.
        pid = _read_int(self.pidfile)
        if self.is_running():
            rpc = self._rpc()
            with contextlib.suppress(OSError, xmlrpc.client.Error):
                rpc.supervisor.stopAllProcesses(True)
            with contextlib.suppress(OSError, xmlrpc.client.Error):
                rpc.supervisor.shutdown()
        if pid:
            _wait_gone([pid], timeout, "supervisord")
        self.reap()

    def leftovers(self) -> dict[str, int]:
        """Return {program: pid} of processes that outlived their supervisord."""
        if self.is_running() or not self.pids.exists():
            return {}
        found = {}
        for path in sorted(self.pids.glob("*.pid")):
            proc = _live_process(path)
            if proc is not None:
                found[path.stem] = proc.pid
        return found

    def reap(self, timeout: float = 10) -> list[str]:
        """Terminate processes named by pid files whose supervisord is gone.

        Returns:
            The names of the programs that had to be reaped.
        """
        if self.is_running():
            # Its programs are supervised, not leftovers.
            return []
        reaped = []
        for path in sorted(self.pids.glob("*.pid")) if self.pids.exists() else []:
            proc = _live_process(path)
            if proc is not None:
                log.warning("reaping leftover %s (pid %s)", path.stem, proc.pid)
                with contextlib.suppress(psutil.Error):
                    # Postgres children follow their postmaster; others have none.
                    proc.send_signal(2 if path.stem == "postgres" else 15)
                _wait_gone([proc.pid], timeout, path.stem)
                reaped.append(path.stem)
            path.unlink(missing_ok=True)
        pid = _read_int(self.pidfile)
        if pid and psutil.pid_exists(pid) and _is_supervisord(pid):
            log.warning("stopping leftover supervisord (pid %s)", pid)
            with contextlib.suppress(psutil.Error):
                psutil.Process(pid).terminate()
            _wait_gone([pid], timeout, "supervisord")
        return reaped

    def _write_pid(self, name: str) -> None:
        info = self._rpc().supervisor.getProcessInfo(name)
        if not info.get("pid"):
            return
        self.pids.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(info["pid"])
            record = {"pid": proc.pid, "create_time": proc.create_time()}
            (self.pids / f"{name}.pid").write_text(json.dumps(record))

    def _rpc(self) -> xmlrpc.client.ServerProxy:
        transport = SupervisorTransport(None, None, f"unix://{self.socket}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def _program_section(prog: Program, logfile: Path) -> list[str]:
    lines = [
        f"[program:{prog.name}]",
        f"command={_escape(shlex.join(prog.command))}",
        "autostart=false",
        "autorestart=false",
        # A program counts as started at once; promlab probes readiness itself.
        "startsecs=0",
        "startretries=0",
        f"stopsignal={prog.stopsignal}",
        "stopwaitsecs=15",
        "stopasgroup=true",
        "killasgroup=true",
        f"priority={prog.priority}",
        "redirect_stderr=true",
        f"stdout_logfile={logfile}",
        "stdout_logfile_maxbytes=5MB",
        "stdout_logfile_backups=1",
    ]
    if prog.user:
        lines.append(f"user={prog.user}")
    if prog.directory:
        lines.append(f"directory={prog.directory}")
    if prog.env:
        pairs = ",".join(f'{k}="{_escape(v)}"' for k, v in prog.env.items())
        lines.append(f"environment={pairs}")
    return [*lines, ""]


def _escape(value: str) -> str:
    # supervisord expands %(name)s in values, so a literal % must be doubled;
    # environment values sit in double quotes.
    return value.replace("%", "%%").replace('"', '\\"')


def _socket_path(run_dir: Path) -> Path:
    path = run_dir / "supervisor.sock"
    if len(str(path)) <= SOCKET_PATH_MAX:
        return path
    digest = hashlib.sha1(str(run_dir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"promlab-{digest}.sock"


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _is_supervisord(pid: int) -> bool:
    with contextlib.suppress(psutil.Error):
        return any("supervisord" in part for part in psutil.Process(pid).cmdline())
    return False


def _live_process(pidfile: Path) -> psutil.Process | None:
    try:
        record = json.loads(pidfile.read_text())
        proc = psutil.Process(record["pid"])
        # A recycled pid belongs to another process: the start time tells them apart.
        if abs(proc.create_time() - record["create_time"]) < 1:
            return proc
    except (OSError, ValueError, KeyError, psutil.Error):
        pass
    return None


def _wait_gone(pids: list[int], timeout: float, what: str) -> None:
    procs = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            procs.append(psutil.Process(pid))
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for proc in alive:
        log.warning("%s (pid %s) ignored its stop signal; killing it", what, proc.pid)
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)
