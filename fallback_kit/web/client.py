"""Good manners towards the services: who we are, how fast we ask, one shared client.

The per-host rate limits follow each service's published guidance (cited in the
source registry, `contracts/registry.py`).
They are defaults: a plan may lower or raise them. A host not listed here gets the
plan's default rate (publisher and repository hosts).
"""

from __future__ import annotations

import logging
import threading
from importlib import metadata

import httpx

from ..contracts.registry import SOURCE_SPECS
from .access import Access
from .cache import HttpCache
from .edge import NetSettings
from .gates import RateLimit
from .redact import install_log_redaction

__all__ = [
    "DEFAULT_HOST_RATE",
    "DEFAULT_RATE_LIMITS",
    "HOMEPAGE",
    "install_lazy_cookies",
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

#: Keyed by host suffix (gates.Gates picks the most specific suffix); the numbers and
#: their sources are in each source's entry of the registry (contracts/registry.py).
DEFAULT_RATE_LIMITS: dict[str, RateLimit] = {
    host: RateLimit(per_second=per_second, burst=burst)
    for spec in SOURCE_SPECS.values()
    for host, (per_second, burst) in spec.rate_limits.items()
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
        "Set politeness.email in the plan, or FALLBACK_KIT_EMAIL=you@example.org."
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
    cache: HttpCache | None = None,
    access: Access | None = None,
) -> httpx.AsyncClient:
    """The one client of a run: polite headers, timeouts, pool limits, no automatic
    redirects (the Fetcher follows them hop by hop, through the gates), and with
    `cache` the metadata APIs' answers kept on disk around the transport. `access` is
    the user's institutional access (a proxy, EZproxy, their browser's cookies).

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
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections // 5 or 1
    )
    if access is not None:
        transport = access.transport(transport or httpx.AsyncHTTPTransport(
            limits=limits, trust_env=settings.live, proxy=access.proxy))
    if cache is not None:
        transport = cache.wrap(
            transport or httpx.AsyncHTTPTransport(limits=limits, trust_env=settings.live)
        )
    client = httpx.AsyncClient(
        transport=transport,
        headers=headers,
        timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)),
        limits=limits,
        follow_redirects=False,
        trust_env=settings.live,
        cookies=access.cookies if access is not None else None,
    )
    install_lazy_cookies(client)
    return client


#: httpx releases whose client keeps its jar in `_cookies` and reads it there on every
#: response (tests/test_politeness.py checks it on the installed release); 0.29.0 read:
#: the same `Client._cookies` and `Cookies` as 0.28.1
_HTTPX_COOKIES_KNOWN = ((0, 27), (0, 30))  # from, up to (excluded)


def _release(version: str) -> tuple[int, int]:
    major, minor = (version.split(".") + ["0"])[:2]
    return int(major), int("".join(ch for ch in minor if ch.isdigit()) or 0)


def cookies_hook_known(version: str | None = None) -> bool:
    """Whether `install_lazy_cookies` knows this httpx release's private `_cookies`."""
    try:
        release = _release(version or httpx.__version__)
    except ValueError:
        return False
    return _HTTPX_COOKIES_KNOWN[0] <= release < _HTTPX_COOKIES_KNOWN[1]


def install_lazy_cookies(client: httpx.AsyncClient) -> bool:
    """Give `client` a jar that skips the cookie machinery on responses without
    Set-Cookie; True if installed.

    httpx offers no public hook for the jar's class (a jar passed as `cookies=` is
    copied into a plain `httpx.Cookies`), so this sets its private `_cookies`, in this
    one place: only on the httpx releases where that attribute is known, and only if it
    holds a `Cookies`. Elsewhere the client keeps httpx's own jar (correct, a little
    slower).
    """
    current = getattr(client, "_cookies", None)
    if not cookies_hook_known() or type(current) is not httpx.Cookies:
        return False
    lazy = _Cookies()
    for cookie in current.jar:  # the cookies the client was given (the user's, if any)
        lazy.jar.set_cookie(cookie)
    client._cookies = lazy
    return True


class _Cookies(httpx.Cookies):
    """httpx's cookie jar, minus its cost on the many responses that set no cookie.

    httpx hands every response to `http.cookiejar` through urllib request/response
    adapters: about 6% of the client's CPU per request in benchmarks/resolve.py.
    """

    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers:
            super().extract_cookies(response)
