"""Loopback ports: pick free ones, and say who holds a taken one."""

import contextlib
import socket

import psutil

from promlab.errors import PortInUseError

HOST = "127.0.0.1"


def free_port() -> int:
    """Return a port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def is_free(port: int) -> bool:
    """Tell whether `port` on 127.0.0.1 can be bound now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR matches what the servers do, so TIME_WAIT leftovers don't count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def holder(port: int) -> str:
    """Describe the process listening on `port`, or return "" when it can't be told."""
    with contextlib.suppress(psutil.Error, OSError):
        for conn in psutil.net_connections(kind="tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
                if conn.pid is None:
                    return ""
                proc = psutil.Process(conn.pid)
                return f"pid {conn.pid} ({proc.name()})"
    return ""


def ensure_free(ports: dict[str, int]) -> None:
    """Check every service's port is free.

    Raises:
        PortInUseError: a port is taken; the message names the port, the service and
            how to choose another.
    """
    for service, port in ports.items():
        if is_free(port):
            continue
        who = holder(port)
        by = f" by {who}" if who else ""
        env = f"PROMLAB_PORT_{service.upper()}"
        raise PortInUseError(
            f"port {port} for {service} is already in use on {HOST}{by}. Stop that "
            f"process, or choose another port: Stack(ports={{'{service}': {port + 1}}}), "
            f"or {env}={port + 1} in the environment, or Stack(ports='auto') "
            "(PROMLAB_PORTS=auto) to pick free ports for every service"
        )
