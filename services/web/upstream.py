"""The web service's HTTP client for the api, with a per-status counter."""

import logging
from typing import Any

import requests
from prometheus_client import CollectorRegistry, Counter
from requests.adapters import HTTPAdapter

log = logging.getLogger(__name__)

# Status label values: HTTP codes the api answers, plus "error" when none came back.
NO_RESPONSE = "error"
KNOWN_STATUSES = ("200", "201", "400", "404", "500", "503", NO_RESPONSE)


class UpstreamError(Exception):
    """The api failed (no answer, timeout or 5xx); the message says how."""


class ApiClient:
    """Call the api over a pooled requests.Session and count the outcomes."""

    def __init__(self, base_url: str, timeout: float, registry: CollectorRegistry) -> None:
        """Prepare a session for `base_url` with a per-call `timeout` in seconds."""
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        # Match the gunicorn thread count so threads do not queue for a socket.
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=16)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.calls = Counter(
            "web_upstream_requests_total",
            'Calls from web to the api, by api status code or "error" for no answer.',
            ["status"],
            registry=registry,
        )
        for status in KNOWN_STATUSES:
            self.calls.labels(status)

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send one request to the api; raise UpstreamError unless it answered below 500."""
        url = f"{self.base_url}{path}"
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as error:
            self.calls.labels(NO_RESPONSE).inc()
            log.warning("api call %s %s failed: %s", method, url, error)
            raise UpstreamError(
                f"api unreachable at {url} ({type(error).__name__}); "
                "check PROMLAB_API_URL and that the api is running"
            ) from error
        self.calls.labels(str(response.status_code)).inc()
        if response.status_code >= 500:
            raise UpstreamError(
                f"api answered {response.status_code} for {method} {url}: "
                f"{response.text[:200].strip()}"
            )
        return response

    def fetch_json(self, path: str) -> Any:
        """GET `path` from the api and return its JSON; anything but 200 is a failure."""
        response = self.call("GET", path)
        if response.status_code != 200:
            raise UpstreamError(
                f"api answered {response.status_code} for GET {self.base_url}{path}, "
                "expected 200; check PROMLAB_API_URL points at the api"
            )
        return response.json()
