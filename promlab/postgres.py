"""The stack's PostgreSQL: a private cluster per run directory, its roles and DSNs."""

import hashlib
import json
import logging
import os
import pwd
import secrets
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import psycopg2

from promlab.errors import StackError
from promlab.paths import SERVICES

log = logging.getLogger(__name__)

DATABASE = "promlab"
ROLES = {"superuser": "postgres", "app": "promlab_app", "monitor": "promlab_monitor"}
# Root may not run PostgreSQL; these folders stay traversable for its user.
ROOT_DATA_HOME = Path("/var/tmp/promlab-postgres")


def os_user() -> pwd.struct_passwd | None:
    """Return the unprivileged account PostgreSQL runs as, or None to run as ourselves."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise StackError(
        "running as root, but neither a 'postgres' nor a 'nobody' account exists to run "
        "PostgreSQL as; install PostgreSQL (apt-get install postgresql) or run as a "
        "normal user"
    )


def data_dir(run_dir: Path) -> Path:
    """Return where this run directory's cluster keeps its data."""
    if os.geteuid() != 0:
        return run_dir / "postgres" / "data"
    digest = hashlib.sha1(str(run_dir).encode()).hexdigest()[:12]
    return ROOT_DATA_HOME / digest / "data"


def passwords(run_dir: Path) -> dict[str, str]:
    """Return the cluster's role passwords, created on first use and kept 0600."""
    path = run_dir / "secrets" / "postgres.json"
    if path.exists():
        return json.loads(path.read_text())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    # Each password holds @, ! and : on purpose: every run proves the DSNs are quoted.
    made = {role: secrets.token_urlsafe(12) + "@!:" for role in ROLES}
    path.write_text(json.dumps(made))
    path.chmod(0o600)
    return made


def dsn(role: str, password: str, port: int, database: str = DATABASE) -> str:
    """Return a libpq URL for `role` with the password quoted and TLS off (loopback)."""
    user = quote(ROLES[role], safe="")
    secret = quote(password, safe="")
    return f"postgresql://{user}:{secret}@127.0.0.1:{port}/{database}?sslmode=disable"


def init_cluster(initdb: Path, data: Path, superuser_password: str) -> bool:
    """Create the cluster with `initdb` unless it exists; return whether it was created."""
    if (data / "PG_VERSION").exists():
        return False
    account = os_user()
    data.mkdir(parents=True, exist_ok=True)
    pwfile = data.parent / "initdb.pw"
    pwfile.write_text(superuser_password + "\n")
    for path in (data.parent, data, pwfile):
        path.chmod(0o700 if path.is_dir() else 0o600)
        if account:
            os.chown(path, account.pw_uid, account.pw_gid)
    if account:
        _make_traversable(data.parent)
    cmd = [
        str(initdb),
        "-D",
        str(data),
        "-U",
        ROLES["superuser"],
        "-E",
        "UTF8",
        "--locale=C",
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        f"--pwfile={pwfile}",
    ]
    as_user = {"user": account.pw_uid, "group": account.pw_gid} if account else {}
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, cwd=data.parent, timeout=120, **as_user
        )
    finally:
        pwfile.unlink(missing_ok=True)
    if done.returncode != 0:
        shutil.rmtree(data, ignore_errors=True)
        raise StackError(
            f"initdb failed (exit {done.returncode}) for {data}:\n"
            f"{(done.stderr or done.stdout).strip()[-1500:]}"
        )
    log.info("created PostgreSQL cluster in %s", data)
    return True


def server_command(postgres: Path, data: Path, port: int) -> list[str]:
    """Return the command line that runs the cluster on 127.0.0.1:`port`."""
    return [
        str(postgres),
        "-D",
        str(data),
        "-p",
        str(port),
        "-c",
        "listen_addresses=127.0.0.1",
        # The socket sits beside the data, never in a shared system folder.
        "-c",
        f"unix_socket_directories={data.parent}",
        # A lab database: losing it on a power cut costs nothing, speed matters.
        "-c",
        "fsync=off",
        "-c",
        "synchronous_commit=off",
        "-c",
        "full_page_writes=off",
        "-c",
        "max_connections=100",
        "-c",
        "shared_buffers=32MB",
    ]


def provision(psql: Path, port: int, pw: dict[str, str]) -> None:
    """Create the `promlab` database, then run services/db/init.sql (idempotent)."""
    admin = dsn("superuser", pw["superuser"], port, "postgres")
    conn = psycopg2.connect(admin, connect_timeout=5)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
            if cur.fetchone() is None:
                cur.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        conn.close()
    init_sql = SERVICES / "db" / "init.sql"
    cmd = [
        str(psql),
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-v",
        f"app_password={pw['app']}",
        "-v",
        f"monitor_password={pw['monitor']}",
        "-d",
        dsn("superuser", pw["superuser"], port),
        "-f",
        str(init_sql),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise StackError(
            f"loading {init_sql} failed (psql exit {done.returncode}):\n"
            f"{(done.stderr or done.stdout).strip()[-1500:]}"
        )
    log.info("database %s provisioned from %s", DATABASE, init_sql.name)


def remove_data(run_dir: Path) -> None:
    """Delete the cluster's files (for a purge); a missing cluster is fine."""
    data = data_dir(run_dir)
    target = data.parent if os.geteuid() == 0 else data
    shutil.rmtree(target, ignore_errors=True)


def _make_traversable(path: Path) -> None:
    # The account must be able to walk down to its data folder.
    for parent in [path.parent, *path.parent.parents]:
        if parent == Path("/"):
            break
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)
