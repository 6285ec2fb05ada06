"""Traffic for the web and api tiers."""

import logging
from concurrent.futures import ThreadPoolExecutor
from itertools import cycle, islice

import requests

from promlab.stack import Stack

log = logging.getLogger(__name__)

# A page, an item, the DB-heavy report: every tier and the database get work.
BURST_PATHS = ("/", "/items/1", "/items/2", "/report")


def burst(stack: Stack | None = None, requests_total: int = 200, concurrency: int = 8) -> dict:
    """Send a short burst of requests to web; return how many got each status code."""
    base = (stack or Stack()).url("web")
    paths = list(islice(cycle(BURST_PATHS), requests_total))
    with requests.Session() as session:
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=concurrency)
        session.mount("http://", adapter)

        def get(path: str) -> int:
            try:
                return session.get(base + path, timeout=10).status_code
            except requests.RequestException:
                return 0

        with ThreadPoolExecutor(concurrency) as pool:
            codes = list(pool.map(get, paths))
    counts: dict = {}
    for code in codes:
        counts[code] = counts.get(code, 0) + 1
    log.info("burst of %d requests to %s: %s", requests_total, base, counts)
    return counts
