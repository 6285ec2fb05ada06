"""Request metrics for Flask apps, with bounded route, method and status labels."""

import time

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

UNMATCHED_ROUTE = "unmatched"
OTHER_METHOD = "other"
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# Methods outside this set are client-controlled strings; they share one label value.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNCOUNTED_PATHS = frozenset({"/metrics", "/healthz"})
UNCOUNTED_PREFIXES = ("/admin/",)
BASE_STATUSES = ("200", "500")


def is_counted(path: str) -> bool:
    """Tell whether a request path belongs in the request metrics."""
    return path not in UNCOUNTED_PATHS and not path.startswith(UNCOUNTED_PREFIXES)


def route_label() -> str:
    """Return the route template of the current request, or "unmatched"."""
    rule = request.url_rule
    return rule.rule if rule is not None else UNMATCHED_ROUTE


def method_label() -> str:
    """Return the request method, folding unknown methods into "other"."""
    method = request.method.upper()
    return method if method in KNOWN_METHODS else OTHER_METHOD


class RequestMetrics:
    """Count and time the requests of one Flask app in one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        """Create the request counter and duration histogram in `registry`."""
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests answered, by route template, method and status code.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time spent answering HTTP requests, by route template and method.",
            ["route", "method"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )

    def install(self, app: Flask) -> None:
        """Hook the metrics into `app`; register this before any other hook."""
        app.before_request(self._start_timer)
        app.after_request(self._record)

    def precreate(self, app: Flask, extra_statuses: tuple[str, ...] = ()) -> None:
        """Create every known (route, method, status) series at zero."""
        statuses = BASE_STATUSES + tuple(extra_statuses)
        for rule in app.url_map.iter_rules():
            if rule.endpoint == "static" or not is_counted(rule.rule):
                continue
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                self.duration.labels(rule.rule, method)
                for status in statuses:
                    self.requests.labels(rule.rule, method, status)

    def _start_timer(self) -> None:
        g.promlab_started = time.perf_counter()

    def _record(self, response: Response) -> Response:
        started = g.pop("promlab_started", None)
        if started is None or not is_counted(request.path):
            return response
        route, method = route_label(), method_label()
        self.duration.labels(route, method).observe(time.perf_counter() - started)
        self.requests.labels(route, method, str(response.status_code)).inc()
        return response


def create_metrics_blueprint(registry: CollectorRegistry) -> Blueprint:
    """Build the blueprint that serves /metrics from `registry`."""
    blueprint = Blueprint("metrics", __name__)

    @blueprint.get("/metrics")
    def metrics() -> Response:
        """Expose the app's registry in the Prometheus text format."""
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    return blueprint
