"""Settings lookup: explicit config first, then environment, then default."""

import os
from collections.abc import Mapping
from typing import Any

DEFAULT_ADMIN_ALLOW = "127.0.0.1,::1"


def read_setting(config: Mapping[str, Any] | None, name: str, default: Any = None) -> Any:
    """Return `name` from config, else the environment, else `default`.

    `<name>_FILE` in the environment names a file holding the value, so a secret
    (a database URL with its password) can come from a mounted secret file.
    """
    if config and name in config:
        return config[name]
    if name in os.environ:
        return os.environ[name]
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read().strip()
        except OSError as error:
            raise ValueError(f"{name}_FILE={path} cannot be read: {error}") from None
    return default


def read_float(config: Mapping[str, Any] | None, name: str, default: float) -> float:
    """Return a numeric setting, failing with a message that names the variable."""
    raw = read_setting(config, name, default)
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {raw!r}; fix the setting") from None


def read_int(config: Mapping[str, Any] | None, name: str, default: int) -> int:
    """Return an integer setting, failing with a message that names the variable."""
    raw = read_setting(config, name, default)
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer, got {raw!r}; fix the setting") from None


def read_admin_allow(config: Mapping[str, Any] | None) -> frozenset[str]:
    """Return the client addresses allowed on /admin/* from PROMLAB_ADMIN_ALLOW."""
    raw = read_setting(config, "PROMLAB_ADMIN_ALLOW", DEFAULT_ADMIN_ALLOW)
    if isinstance(raw, str):
        raw = raw.split(",")
    return frozenset(part.strip() for part in raw if part.strip())
