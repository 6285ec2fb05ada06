"""The skeleton every web-facing promlab service starts from."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, jsonify
from prometheus_client import CollectorRegistry

from services.common.config import read_admin_allow
from services.common.faults import FaultState, create_admin_blueprint
from services.common.metrics import RequestMetrics, create_metrics_blueprint

EXTENSION_KEY = "promlab"


@dataclass
class ServiceParts:
    """The shared pieces of one app, kept in app.extensions["promlab"]."""

    registry: CollectorRegistry
    metrics: RequestMetrics
    faults: FaultState


def create_service_app(
    import_name: str,
    config: Mapping[str, Any] | None,
    registry: CollectorRegistry | None,
) -> Flask:
    """Create a Flask app with metrics, fault knobs, /admin, /metrics and /healthz."""
    app = Flask(import_name)
    if config:
        app.config.update(config)
    # A fresh registry per app lets tests and reloads build the app many times.
    registry = registry if registry is not None else CollectorRegistry()
    parts = ServiceParts(registry, RequestMetrics(registry), FaultState(registry))
    app.extensions[EXTENSION_KEY] = parts
    # Metrics hooks go first so injected latency and failures are measured too.
    parts.metrics.install(app)
    parts.faults.install(app)
    app.register_blueprint(create_admin_blueprint(parts.faults, read_admin_allow(config)))
    app.register_blueprint(create_metrics_blueprint(registry))

    @app.get("/healthz")
    def healthz() -> Any:
        """Answer liveness probes."""
        return jsonify(status="ok")

    return app


def get_parts(app: Flask) -> ServiceParts:
    """Return the shared pieces attached to `app`."""
    return app.extensions[EXTENSION_KEY]


def precreate_series(app: Flask, extra_statuses: tuple[str, ...] = ()) -> None:
    """Create the request series of every registered route at zero."""
    get_parts(app).metrics.precreate(app, extra_statuses)
