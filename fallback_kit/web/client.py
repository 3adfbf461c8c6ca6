"""Good manners towards the services: who we are, how fast we ask, one shared client.

The per-host rate limits follow each service's published guidance (cited below).
They are defaults: a plan may lower or raise them. A host not listed here gets the
plan's default rate (publisher and repository hosts).
"""

from __future__ import annotations

import logging
import threading
from importlib import metadata

import httpx

from .edge import NetSettings
from .gates import RateLimit
from .redact import install_log_redaction

__all__ = [
    "DEFAULT_HOST_RATE",
    "DEFAULT_RATE_LIMITS",
    "HOMEPAGE",
    "make_client",
    "user_agent",
    "warn_missing_email_once",
]

log = logging.getLogger("fallback_kit")

HOMEPAGE = "https://github.com/fallback-kit/fallback-kit"

#: The rate of every host the list below and the plan do not name (publishers, CDNs,
#: repositories): a polite pace for a site that publishes none. A plan sets its own
#: with the `"*"` key of `politeness.rate_limits`.
DEFAULT_HOST_RATE = RateLimit(per_second=5, burst=5)

#: Keyed by host suffix (resilience.Gates picks the most specific suffix).
DEFAULT_RATE_LIMITS: dict[str, RateLimit] = {
    # arXiv API terms of use (https://info.arxiv.org/help/api/tou.html): "no more than
    # one request every three seconds", a single connection at a time.
    "export.arxiv.org": RateLimit(per_second=1 / 3, burst=1),
    # arxiv.org PDFs: the bulk-data page allows "bursts of 4 requests per second"
    # (https://info.arxiv.org/help/bulk_data.html); we stay at 4/s with burst 1.
    "arxiv.org": RateLimit(per_second=4, burst=1),
    # NCBI E-utilities / PMC: 3 requests per second without an API key
    # (https://www.ncbi.nlm.nih.gov/books/NBK25497/ "Usage Guidelines").
    "ncbi.nlm.nih.gov": RateLimit(per_second=3, burst=1),
    # Unpaywall: 100,000 calls per day (https://unpaywall.org/products/api); ~10/s.
    "api.unpaywall.org": RateLimit(per_second=10, burst=5),
    # Crossref REST API polite pool (mailto=): the limits are announced in the
    # x-rate-limit-limit / x-rate-limit-interval headers, 10 requests/s for the polite
    # pool at the time of writing
    # (https://crossref.org/documentation/retrieve-metadata/rest-api/access-and-authentication/).
    "api.crossref.org": RateLimit(per_second=10, burst=5),
    # OpenAlex: 10 requests per second, 100,000 per day (https://docs.openalex.org/how-to-use-the-api/rate-limits-and-authentication).
    "api.openalex.org": RateLimit(per_second=10, burst=5),
    # Semantic Scholar Graph API without a key: a shared pool; 1 request/s is the
    # rate they grant to keyed users and the safe pace for anonymous ones
    # (https://www.semanticscholar.org/product/api).
    "api.semanticscholar.org": RateLimit(per_second=1, burst=1),
    # Europe PMC REST: no published number; their guidance asks for moderate use.
    "www.ebi.ac.uk": RateLimit(per_second=5, burst=2),
    "europepmc.org": RateLimit(per_second=5, burst=2),
    # Wayback CDX / availability: the Internet Archive throttles clients beyond
    # roughly one request per second on the CDX server
    # (https://archive.org/developers/wayback-cdx-server.html).
    "web.archive.org": RateLimit(per_second=1, burst=2),
    "archive.org": RateLimit(per_second=1, burst=2),
    # doi.org is a redirector operated for heavy use; stay modest anyway.
    "doi.org": RateLimit(per_second=10, burst=5),
}

_warned = False
_warn_lock = threading.Lock()


def _version() -> str:
    try:
        return metadata.version("fallback-kit")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a checkout
        return "0.0.0"


def user_agent(email: str | None) -> str:
    """`fallback_kit/<version> (+homepage; mailto:EMAIL)`, the form the APIs ask for."""
    contact = f"; mailto:{email}" if email else ""
    return f"fallback_kit/{_version()} (+{HOMEPAGE}{contact})"


def warn_missing_email_once(settings: NetSettings) -> bool:
    """In live mode without an email, log one warning per process; True if it warned."""
    global _warned
    if not settings.live or settings.email:
        return False
    with _warn_lock:
        if _warned:
            return False
        _warned = True
    log.warning(
        "fallback_kit runs live without a contact email: Unpaywall, Crossref, OpenAlex and "
        "NCBI ask for one (polite pools, and a way to reach you before blocking). "
        "Set it with --email or NetSettings(email=...)."
    )
    return True


def _reset_warning_for_tests() -> None:
    global _warned
    _warned = False


def make_client(
    settings: NetSettings,
    transport: httpx.AsyncBaseTransport | None = None,
    *,
    timeout_s: float = 30.0,
    max_connections: int = 100,
) -> httpx.AsyncClient:
    """The one client of a run: polite headers, timeouts, pool limits, no automatic
    redirects (the Fetcher follows them hop by hop, through the gates).

    `timeout_s` is a ceiling only: the orchestrator's per-try budget is what cuts a
    slow request in practice.
    """
    install_log_redaction(secrets=(settings.email,))
    warn_missing_email_once(settings)
    headers = {
        "User-Agent": user_agent(settings.email),
        "Accept-Encoding": "gzip, deflate",
    }
    if settings.email:
        headers["From"] = settings.email
    client = httpx.AsyncClient(
        transport=transport,
        headers=headers,
        timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)),
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections // 5 or 1
        ),
        follow_redirects=False,
        trust_env=settings.live,
    )
    client._cookies = _Cookies()  # httpx offers no public hook for the jar's class
    return client


class _Cookies(httpx.Cookies):
    """httpx's cookie jar, minus its cost on the many responses that set no cookie.

    httpx hands every response to `http.cookiejar` through urllib request/response
    adapters: about 6% of the client's CPU per request in benchmarks/resolve.py.
    """

    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers:
            super().extract_cookies(response)
