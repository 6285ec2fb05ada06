"""Fault knobs (errors, latency, hard-down) and the /admin/faults endpoint."""

import ipaddress
import logging
import random
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from flask import Blueprint, Flask, jsonify, request
from prometheus_client import CollectorRegistry, Gauge

log = logging.getLogger(__name__)

MAX_EXTRA_LATENCY_SECONDS = 30.0
ADMIN_PREFIX = "/admin/"
PROBE_PATHS = frozenset({"/metrics", "/healthz"})
INJECTED_FAILURE = {"error": "injected failure"}


class FaultValidationError(ValueError):
    """A fault update was rejected; the message says which field and why."""


def _check_number(name: str, value: Any, upper: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultValidationError(f"{name} must be a number in [0, {upper:g}], got {value!r}")
    if not 0 <= value <= upper:
        raise FaultValidationError(f"{name} must be in [0, {upper:g}], got {value!r}")
    return float(value)


def validate_update(update: Any) -> dict[str, Any]:
    """Return a checked copy of a fault update, or raise FaultValidationError."""
    if not isinstance(update, dict):
        raise FaultValidationError(
            "body must be a JSON object with any of error_ratio, "
            f"extra_latency_seconds, down; got {type(update).__name__}"
        )
    unknown = sorted(set(update) - {"error_ratio", "extra_latency_seconds", "down"})
    if unknown:
        raise FaultValidationError(
            f"unknown fault keys {unknown}; use error_ratio, extra_latency_seconds, down"
        )
    checked: dict[str, Any] = {}
    if "error_ratio" in update:
        checked["error_ratio"] = _check_number("error_ratio", update["error_ratio"], 1.0)
    if "extra_latency_seconds" in update:
        checked["extra_latency_seconds"] = _check_number(
            "extra_latency_seconds", update["extra_latency_seconds"], MAX_EXTRA_LATENCY_SECONDS
        )
    if "down" in update:
        if not isinstance(update["down"], bool):
            raise FaultValidationError(f"down must be true or false, got {update['down']!r}")
        checked["down"] = update["down"]
    return checked


class FaultState:
    """Hold the fault knobs of one app and mirror them into gauges."""

    def __init__(self, registry: CollectorRegistry) -> None:
        """Start healthy and create the fault gauges in `registry`."""
        self._lock = threading.Lock()
        self._values: dict[str, Any] = {
            "error_ratio": 0.0,
            "extra_latency_seconds": 0.0,
            "down": False,
        }
        self._gauges = {
            "error_ratio": Gauge(
                "promlab_fault_error_ratio",
                "Share of business requests answered with an injected 500.",
                registry=registry,
            ),
            "extra_latency_seconds": Gauge(
                "promlab_fault_extra_latency_seconds",
                "Delay injected before answering each business request.",
                registry=registry,
            ),
            "down": Gauge(
                "promlab_fault_down",
                "1 while the service is forced hard-down (503 everywhere but /admin).",
                registry=registry,
            ),
        }

    def snapshot(self) -> dict[str, Any]:
        """Return the current fault knobs."""
        with self._lock:
            return dict(self._values)

    def update(self, update: Any) -> dict[str, Any]:
        """Validate and apply a partial update; return the new knobs."""
        checked = validate_update(update)
        with self._lock:
            self._values.update(checked)
            for name, value in self._values.items():
                self._gauges[name].set(float(value))
            new = dict(self._values)
        log.info("fault knobs now %s", new)
        return new

    def install(self, app: Flask) -> None:
        """Make `app` obey the knobs; register after the metrics hooks."""
        app.before_request(self._apply)

    def _apply(self) -> Any:
        path = request.path
        if path.startswith(ADMIN_PREFIX):
            return None
        knobs = self.snapshot()
        if knobs["down"]:
            message = 'service forced down; PUT /admin/faults {"down": false} to restore'
            return jsonify(error=message), 503
        if path in PROBE_PATHS:
            return None
        if knobs["extra_latency_seconds"] > 0:
            time.sleep(knobs["extra_latency_seconds"])
        if knobs["error_ratio"] > 0 and random.random() < knobs["error_ratio"]:
            return jsonify(INJECTED_FAILURE), 500
        return None


def create_admin_blueprint(faults: FaultState, allowed: Iterable[str]) -> Blueprint:
    """Build the /admin blueprint, reachable only from `allowed` addresses."""
    allowed = frozenset(allowed)
    networks = _networks(allowed)
    blueprint = Blueprint("admin", __name__, url_prefix="/admin")

    @blueprint.before_request
    def check_client() -> Any:
        """Refuse clients that are not on the allow-list."""
        client = request.remote_addr or ""
        if not _is_allowed(client, networks):
            log.warning("refused /admin request from %s", client)
            message = (
                f"client {client!r} may not use /admin; "
                f"add it to PROMLAB_ADMIN_ALLOW (now {','.join(sorted(allowed))})"
            )
            return jsonify(error=message), 403
        return None

    @blueprint.get("/faults")
    def read_faults() -> Any:
        """Return the fault knobs."""
        return jsonify(faults.snapshot())

    @blueprint.put("/faults")
    def write_faults() -> Any:
        """Apply a partial fault update from the JSON body."""
        body: Mapping[str, Any] | None = request.get_json(silent=True)
        if body is None:
            message = (
                'body must be JSON such as {"error_ratio": 0.2}; '
                "send it with Content-Type: application/json"
            )
            return jsonify(error=message), 400
        try:
            return jsonify(faults.update(body))
        except FaultValidationError as error:
            return jsonify(error=str(error)), 400

    return blueprint


def _networks(allowed: frozenset[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    # Entries are addresses or networks ("172.16.0.0/12" for a container network).
    try:
        return [ipaddress.ip_network(entry, strict=False) for entry in allowed]
    except ValueError as error:
        raise ValueError(
            f"PROMLAB_ADMIN_ALLOW holds {error}; list addresses or networks such as "
            "127.0.0.1,::1,172.16.0.0/12"
        ) from None


def _is_allowed(client: str, networks: list) -> bool:
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return False
    return any(address in network for network in networks)
