"""HTTP for the sources: every request passes the gates, every body is size-capped,
and a PDF is decided by its bytes.

One `httpx.AsyncClient` (built by `client.make_client`, or any client a user
passes) carries every request; its transport decides whether we talk to the
internet, the sandbox or a mock. The `Edge` (also named `Fetcher`) is the one gated
path: API calls, PDF checks, whole-PDF fetches and downloads (`stream`), and robots.txt
all go through its single redirect loop (`_open`), hop by hop, so that each hop passes
the offline gate, the SSRF guard, robots.txt (when asked) and the host's breaker and
rate limit, and is counted in `requests` / `bytes_read`. It also carries the try's
`timeout_s` (the source's timeout), which bounds a download as it bounds the source.

The SSRF guard is on unless `NetSettings.trust_transport` says the transport is a
simulated web (the sandbox, a test's `httpx.MockTransport`): that flag is its one
switch; a `client=` of one's own (a cache, a proxy) does not turn it off. How it looks
names up is pluggable (`NetSettings.resolver`).

Exceptions raised here::

    NetError                    a response we cannot use (names the URL)
    ├── HttpStatusError         an unexpected HTTP status (status, url, retry_after_s)
    ├── RedirectError
    │   ├── RedirectLoop        a redirect chain came back to a URL it had visited
    │   └── TooManyRedirects    more than `max_redirects` hops
    ├── ResponseTooLarge        a JSON body longer than `max_json_bytes`
    └── BadResponse             a body that is not what the service promises (bad JSON)

    resilience.GateClosed       a gate refused the request before it was sent
    httpx.TimeoutException, httpx.TransportError   propagate untouched (after the
                                host's breaker was told), the orchestrator classifies them
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from protego import Protego

from ..contracts.registry import KEY_HEADERS
from .cache import cached_answer, has_cache
from .gates import GateClosed, Gates, parse_retry_after
from .landing import CHALLENGE_MARKERS

__all__ = [
    "BadResponse",
    "Edge",
    "Fetcher",
    "HtmlResponse",
    "HttpStatusError",
    "JsonResponse",
    "NetError",
    "NetSettings",
    "PdfCheck",
    "RedirectError",
    "RedirectLoop",
    "Resolver",
    "ResponseTooLarge",
    "RobotsCache",
    "Stream",
    "TooManyRedirects",
    "classify_pdf_bytes",
    "host_of",
    "is_unsafe_ip",
    "normalize_url",
    "pdf_head_decided",
    "system_resolver",
    "pdf_header_at",
]

#: The SSRF guard's name resolution: (host, port) -> the addresses it resolves to.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

OFFLINE_MODES = (None, "block_all", "metadata_only", "cache_only")
ROBOTS_AGENT = "fallback_kit"
_REDIRECT_STATUSES = (301, 302, 303, 307, 308)
_PDF_ACCEPT = "application/pdf,*/*;q=0.8"
_PDF_MAGIC = b"%PDF-"
_PDF_MAGIC_WINDOW = 1024  # the spec's window: %PDF- within the first KiB
#: all that may come before %PDF- (whitespace, a UTF-8 BOM); never markup or other junk
_PDF_LEAD = b" \t\r\n\x00\x0c\xef\xbb\xbf"
_PDF_EOF_WINDOW = 1024  # and look for %%EOF in the last kilobyte
_CHALLENGE_MARKERS = tuple(m.encode() for m in CHALLENGE_MARKERS)
_LOGIN_MARKERS = (b'type="password"', b"type='password'", b"type=password")
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml", b"<!--", b"<meta")


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True, slots=True, kw_only=True)
class NetSettings:
    """How the network layer behaves for one run."""

    #: the real internet: the client honours the environment's proxy settings and warns
    #: once when no contact email is set (the SSRF guard does not depend on it)
    live: bool = False
    #: the transport is a simulated web (the sandbox, a test's MockTransport): the SSRF
    #: guard does not look its host names up. The guard's one off switch; only the
    #: sandbox composition and tests set it
    trust_transport: bool = False
    #: how the SSRF guard resolves names (None: the system resolver, `system_resolver`)
    resolver: Resolver | None = None
    email: str | None = None  # contact for User-Agent, unpaywall email=, mailto=
    offline: str | None = None  # None | "block_all" | "metadata_only" | "cache_only"
    max_json_bytes: int = 2_000_000
    max_html_bytes: int = 3_000_000
    pdf_probe_bytes: int = 4096
    max_redirects: int = 10
    #: also fetch the last KiB of a larger file to look for %%EOF: a second request on the
    #: same (often slow) host, so off by default; downloads validate the whole file anyway
    pdf_tail_check: bool = False
    #: a server that ignores Range and announces a body this small is read whole, so
    #: that a truncated small file (no %%EOF) is caught; 0 turns this off
    pdf_small_body_bytes: int = 65_536

    def __post_init__(self) -> None:
        if self.offline not in OFFLINE_MODES:
            raise ValueError(
                f"NetSettings.offline must be one of {OFFLINE_MODES}, got {self.offline!r}"
            )
        for name in ("max_json_bytes", "max_html_bytes", "pdf_probe_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"NetSettings.{name} must be >= 1")
        if self.pdf_probe_bytes < len(_PDF_MAGIC):
            raise ValueError("NetSettings.pdf_probe_bytes must be >= 5 to see '%PDF-'")
        if self.max_redirects < 0:
            raise ValueError("NetSettings.max_redirects must be >= 0")


# --------------------------------------------------------------------------- errors


class NetError(Exception):
    """A response that the caller cannot use; `url` names it."""

    def __init__(self, message: str, *, url: str):
        self.url = url
        super().__init__(f"{message} ({url})")


class HttpStatusError(NetError):
    """An HTTP status the caller did not expect (neither ok nor 404)."""

    def __init__(self, status: int, url: str, retry_after_s: float | None = None):
        self.status = status
        self.retry_after_s = retry_after_s
        extra = f", retry after {retry_after_s:g} s" if retry_after_s is not None else ""
        super().__init__(f"HTTP {status}{extra}", url=url)


class RedirectError(NetError):
    """A redirect chain we refuse to follow further; `chain` lists the URLs visited."""

    reason = "redirect_error"

    def __init__(self, message: str, *, url: str, chain: list[str]):
        self.chain = chain
        super().__init__(message, url=url)


class RedirectLoop(RedirectError):
    reason = "redirect_loop"


class TooManyRedirects(RedirectError):
    reason = "too_many_redirects"


class ResponseTooLarge(NetError):
    """A JSON body longer than the cap: we cut it, so it cannot be parsed."""


class BadResponse(NetError):
    """The body is not what the service promises (e.g. not JSON)."""


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class JsonResponse:
    status: int
    url: str  # final URL
    data: Any  # parsed JSON; None on a 404 without a JSON body
    headers: httpx.Headers = field(default_factory=httpx.Headers)


@dataclass(frozen=True, slots=True)
class HtmlResponse:
    status: int
    url: str  # final URL, after redirects
    text: str  # decoded, cut at max_html_bytes
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    truncated: bool = False
    #: the body began with %PDF- (get_html(sniff_pdf=True) stopped reading there)
    is_pdf: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class PdfCheck:
    """The verdict of the PDF gate on one URL (`reason` is `ok` when valid)."""

    ok: bool
    reason: str
    url: str
    final_url: str | None = None
    status: int | None = None
    content_type: str | None = None
    bytes_read: int = 0
    host: str | None = None
    retry_after_s: float | None = None
    #: the whole file when `Edge.fetch_pdf` found it valid (empty otherwise)
    body: bytes = field(default=b"", repr=False)


@dataclass(slots=True)
class _Hop:
    status: int
    url: str
    headers: httpx.Headers
    body: bytes
    complete: bool  # the whole body was read (the stream ended before the cap)


# --------------------------------------------------------------------------- helpers


def host_of(url: str | httpx.URL) -> str:
    """The lower-case host of a URL ('' if none)."""
    try:
        return httpx.URL(str(url)).host.lower()
    except (httpx.InvalidURL, TypeError, ValueError):
        return ""


def normalize_url(url: str) -> str:
    """A key to de-duplicate candidate URLs: no scheme, lower-case host, no default
    port, no fragment, '/' for an empty path (http and https copies are one)."""
    try:
        u = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError, ValueError):
        return url.strip()
    port = "" if u.port in (None, 80, 443) else f":{u.port}"
    path = u.raw_path.decode("ascii", "replace") or "/"
    return f"{u.host.lower()}{port}{path}"


_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network
#: refused whatever Python's `is_global` says on this version (shared address space,
#: which holds cloud metadata such as 100.100.100.200, is the one that matters most)
_REFUSED_V4 = (_V4("0.0.0.0/8"), _V4("100.64.0.0/10"), _V4("240.0.0.0/4"))
#: IPv6 forms that carry an IPv4 address in their last 32 bits: IPv4-mapped,
#: IPv4-translated (SIIT), the NAT64 well-known prefix and IPv4-compatible
_V4_IN_LOW_BITS = (_V6("::ffff:0:0/96"), _V6("::ffff:0:0:0/96"), _V6("64:ff9b::/96"),
                   _V6("::/96"))
#: IPv6 forms refused outright: NAT64 local-use (RFC 8215, the IPv4 part may sit
#: anywhere) and Teredo (the client address is obfuscated, the server may be anything)
_REFUSED_V6 = (_V6("64:ff9b:1::/48"), _V6("2001::/32"))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64, 6to4, ...), if any."""
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in net for net in _V4_IN_LOW_BITS):
        return ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    return None


def is_unsafe_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for addresses a public fetcher must never reach: private, loopback,
    link-local, multicast, shared (100.64.0.0/10), reserved, unspecified, and any IPv6
    form that carries such an IPv4 address (mapped, NAT64, 6to4, IPv4-compatible) or
    tunnels to one we cannot see (Teredo, NAT64 local-use)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in net for net in _REFUSED_V6):
            return True
        inner = _embedded_ipv4(ip)
        if inner is not None:
            return is_unsafe_ip(inner)
    elif any(ip in net for net in _REFUSED_V4):
        return True
    return (not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified
            or ip.is_link_local or ip.is_loopback)


async def system_resolver(host: str, port: int) -> list[str]:
    """The SSRF guard's default name resolution: the event loop's getaddrinfo."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]).split("%")[0] for info in infos]


def _retry_after(headers: httpx.Headers) -> float | None:
    return parse_retry_after(headers.get("retry-after"))


class _BoundedDecoder:
    """Content-Encoding decoding that never inflates more than asked (gzip bombs)."""

    def __init__(self, encoding: str | None):
        enc = (encoding or "identity").strip().lower()
        self._zlib: Any = None
        self._deflate = False
        if enc in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif enc == "deflate":
            self._zlib = zlib.decompressobj()
            self._deflate = True
        self.failed = False

    def decode(self, data: bytes, room: int) -> bytes:
        """Up to `room` decoded bytes of `data` (the rest is dropped: we stop there)."""
        if room <= 0:
            return b""
        if self._zlib is None:
            return data[:room]
        try:
            return bytes(self._zlib.decompress(data, room))
        except zlib.error:
            if self._deflate:  # some servers send raw deflate without the zlib header
                self._deflate = False
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                return self.decode(data, room)
            self.failed = True
            return b""


def pdf_header_at(body: bytes) -> int:
    """Where `%PDF-` opens the body (-1 if it does not): only whitespace or a BOM may
    come before it, within the first KiB."""
    pos = body.find(_PDF_MAGIC, 0, _PDF_MAGIC_WINDOW + len(_PDF_MAGIC))
    if pos < 0 or body[:pos].strip(_PDF_LEAD):
        return -1
    return pos


def _looks_html(head: bytes) -> bool:
    s = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if s.startswith(_HTML_STARTS):
        return True
    return b"<html" in s[:2048] or b"<body" in s[:2048]


def _challenge_or_login(head: bytes) -> bool:
    low = head.lower()
    return any(m in low for m in _CHALLENGE_MARKERS) or any(m in low for m in _LOGIN_MARKERS)


def classify_pdf_bytes(
    body: bytes, *, status: int, complete: bool, tail: bytes | None = None
) -> str:
    """The one PDF verdict (`ok` or a reason), used by the gate (`check_pdf`), whole
    fetches (`fetch_pdf`) and downloads alike.

    `body` is the first bytes of the answer (all of it when `complete`); `complete`
    says the whole file was read (so a missing %%EOF means truncation); `tail` is the
    file's last bytes when they were read separately (a probe's second request, a
    download that kept only its head and tail). A status other than 2xx is
    `http_<status>`, or `blocked` when the page is a bot challenge or a login form.
    """
    if not 200 <= status < 300:
        if status in (401, 403, 429, 503) and _challenge_or_login(body):
            return "blocked"
        return f"http_{status}"
    if not body.strip():
        return "empty_body"
    if pdf_header_at(body) >= 0:
        end = tail if tail is not None else (body if complete else None)
        if end is not None and b"%%EOF" not in end[-_PDF_EOF_WINDOW:]:
            return "truncated_pdf"
        return "ok"
    if _looks_html(body):
        return "blocked" if _challenge_or_login(body) else "html_instead_of_pdf"
    return "not_pdf"


def pdf_head_decided(head: bytes) -> bool:
    """True once `head` is long enough for the verdict on the start of a file."""
    return len(head) >= _PDF_MAGIC_WINDOW + len(_PDF_MAGIC)


# --------------------------------------------------------------------------- robots


class RobotsCache:
    """robots.txt per scheme+host, fetched once through the client and kept for the run.

    404 (any 4xx) means allow all; a fetch failure means allow (we do not punish a
    host for a flaky robots.txt). Concurrent first requests to a host share one fetch.
    """

    def __init__(self, *, agent: str = ROBOTS_AGENT, max_bytes: int = 512_000) -> None:
        # robots.txt is fetched through the asking Fetcher, so its gates and counters apply
        self.agent = agent
        self.max_bytes = max_bytes
        self._rules: dict[str, Protego | None] = {}
        self._pending: dict[str, asyncio.Future[None]] = {}
        self.fetches = 0

    @staticmethod
    def _key(url: httpx.URL) -> str:
        port = "" if url.port is None else f":{url.port}"
        return f"{url.scheme}://{url.host.lower()}{port}"

    async def allowed(self, url: str | httpx.URL, fetcher: Fetcher) -> bool:
        u = httpx.URL(str(url))
        key = self._key(u)
        while key not in self._rules:
            pending = self._pending.get(key)
            if pending is not None:  # another request is fetching it: wait, then look again
                await asyncio.shield(pending)
                continue
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._pending[key] = fut
            try:
                self._rules[key] = await self._fetch(key, fetcher)
            finally:  # on failure the waiters fetch it themselves
                self._pending.pop(key, None)
                fut.set_result(None)
        rules = self._rules.get(key)
        if rules is None:
            return True
        return bool(rules.can_fetch(str(u), self.agent))

    async def _fetch(self, key: str, fetcher: Fetcher) -> Protego | None:
        self.fetches += 1
        try:
            hop = await fetcher._follow(
                httpx.URL(key + "/robots.txt"),
                cap=self.max_bytes,
                check_robots=False,
                metadata=True,
                max_redirects=5,
            )
        except (asyncio.CancelledError, GateClosed):
            raise  # no robots verdict: the request itself would meet the same gate
        except Exception:  # noqa: BLE001 - a robots fetch failure means allow
            return None
        if hop.status >= 400 or hop.status in _REDIRECT_STATUSES:
            return None
        text = hop.body.decode("utf-8", "replace")
        try:
            return Protego.parse(text)
        except Exception:  # noqa: BLE001 - unparsable robots.txt: allow
            return None

    def __repr__(self) -> str:
        return f"<RobotsCache hosts={len(self._rules)} fetches={self.fetches}>"


# --------------------------------------------------------------------------- fetcher


class Stream:
    """The final response of a gated GET, handed over for streaming (`Edge.stream`):
    its body is read through `chunks`, which counts every byte in the Edge's
    `bytes_read` and never inflates more than asked (gzip bombs)."""

    def __init__(self, edge: Edge, response: httpx.Response) -> None:
        self.status = response.status_code
        self.url = str(response.request.url)
        self.headers = response.headers
        self._edge = edge
        self._response = response

    async def chunks(self, limit: int, chunk_size: int = 65_536) -> AsyncIterator[bytes]:
        """The decoded body in pieces, `limit` bytes at most in all; a body longer than
        `limit` shows as exactly `limit` bytes (ask for one more to detect it)."""
        response, edge = self._response, self._edge
        if response.is_stream_consumed:  # a transport that built the body in memory (mocks)
            content = response.content[:limit]
            edge.bytes_read += len(content)
            if content:
                yield content
            return
        decoder = _BoundedDecoder(response.headers.get("content-encoding"))
        got = 0
        async for chunk in response.aiter_raw(chunk_size):
            edge.bytes_read += len(chunk)
            out = decoder.decode(chunk, limit - got)
            if decoder.failed:
                raise BadResponse("the body does not decode as its Content-Encoding says",
                                  url=self.url)
            got += len(out)
            if out:
                yield out
            if got >= limit:
                return

    async def read(self, limit: int) -> bytes:
        """The decoded body, `limit` bytes at most."""
        return b"".join([piece async for piece in self.chunks(limit, max(1, min(limit, 65_536)))])


class Edge:
    """The HTTP of one source try: the one gated path (see the module docstring).
    Constructed by the orchestrator once per try (cheap); all shared state (client,
    gates, robots cache) is passed in.

    `requests` counts every request sent (redirect hops, robots fetches and downloads
    too); `bytes_read` every body byte received off the wire; `timeout_s` is the try's
    time limit (the source's timeout), which `stream` applies to a download.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        gates: Gates,
        settings: NetSettings = NetSettings(),
        robots: RobotsCache | None = None,
        robots_respect: bool = False,
        timeout_s: float | None = None,
    ) -> None:
        self.client = client
        self.gates = gates
        self.settings = settings
        self.robots = robots
        self.robots_respect = robots_respect and robots is not None
        self.timeout_s = timeout_s
        self.requests = 0
        self.bytes_read = 0
        self._safe_hosts: set[str] = set()

    def __repr__(self) -> str:
        guard = "off (trusted transport)" if self.settings.trust_transport else "on"
        return (
            f"<Edge requests={self.requests} bytes_read={self.bytes_read}"
            f" offline={self.settings.offline} ssrf_guard={guard}>"
        )

    # ---- public API

    async def get_json(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        ok_statuses: tuple[int, ...] = (200,),
        headers: Mapping[str, str] | None = None,
    ) -> JsonResponse:
        """GET a JSON API. A status in `ok_statuses` or 404 returns (data None when a
        404 has no JSON body); other statuses raise HttpStatusError. `headers` carry
        an API's credentials (a key header, `contracts.registry.KEY_HEADERS`, never
        leaves the API's host)."""
        hop = await self._follow(
            self._url(url, params),
            cap=self.settings.max_json_bytes,
            metadata=True,
            headers={"Accept": "application/json", **(headers or {})},
        )
        if hop.status not in ok_statuses and hop.status != 404:
            raise HttpStatusError(hop.status, hop.url, _retry_after(hop.headers))
        if not hop.complete and hop.status in ok_statuses:
            raise ResponseTooLarge(
                f"JSON body longer than max_json_bytes={self.settings.max_json_bytes}",
                url=hop.url,
            )
        try:
            data = await _load_json(hop.body)
        except (ValueError, RecursionError):  # not JSON, or nested beyond the parser
            if hop.status == 404:
                data = None
            else:
                raise BadResponse("the body is not JSON", url=hop.url) from None
        return JsonResponse(hop.status, hop.url, data, hop.headers)

    async def get_text(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        ok_statuses: tuple[int, ...] = (200,),
    ) -> HtmlResponse:
        """GET a text API (CDX text, Atom). Same status rules as `get_json`."""
        return await self.get_html(url, params=params, ok_statuses=ok_statuses, accept="*/*")

    async def get_html(
        self,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        ok_statuses: tuple[int, ...] = (200,),
        accept: str = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8",
        sniff_pdf: bool = False,
    ) -> HtmlResponse:
        """GET a page following redirects; the body is cut at max_html_bytes.

        A status in `ok_statuses`, 404, 401/403 (paywalls and challenges are pages
        too) return; others raise HttpStatusError. With `sniff_pdf`, a body that
        starts as a PDF stops being read after its first KiB (`is_pdf` is set; the
        caller then puts the final URL through `check_pdf`).
        """
        hop = await self._follow(
            self._url(url, params),
            cap=self.settings.max_html_bytes,
            metadata=True,
            headers={"Accept": accept},
            sniff_pdf=sniff_pdf,
        )
        if hop.status not in ok_statuses and hop.status not in (401, 403, 404):
            raise HttpStatusError(hop.status, hop.url, _retry_after(hop.headers))
        text = _decode_text(hop.body, _charset(hop.headers))
        is_pdf = pdf_header_at(hop.body) >= 0
        return HtmlResponse(
            hop.status, hop.url, text, hop.headers, truncated=not hop.complete, is_pdf=is_pdf
        )

    async def resolve_location(
        self, url: str, *, through_hosts: tuple[str, ...] = ("doi.org", "dx.doi.org")
    ) -> str | None:
        """Follow redirects while they stay on `through_hosts`; return the first URL
        elsewhere without requesting it (None if the chain ends there, e.g. 404)."""
        current = httpx.URL(url)
        if current.host.lower() not in through_hosts:
            return str(current)
        try:
            async with self._open(
                current, metadata=True, headers={},
                stop_before=lambda u: u.host.lower() not in through_hosts,
            ) as response:
                status, headers = response.status_code, response.headers
                last = str(response.request.url)
        except _Elsewhere as exc:
            return str(exc.url)
        if status >= 400 and status != 404:
            # not "no such DOI": the caller's plan (thresholds) decides on a retry
            raise HttpStatusError(status, last, _retry_after(headers))
        return None

    async def check_pdf(self, url: str, *, referer: str | None = None) -> PdfCheck:
        """The PDF gate: read at most `pdf_probe_bytes` and decide by the bytes.

        A `Range` request (a server that ignores it is cut short after the probe);
        a 416 falls back to a plain GET. `%PDF-` must appear in the first KiB; a
        complete small body must end with %%EOF, and when the server honoured the
        range on a larger file its last KiB is fetched to check %%EOF as well.
        Never raises for what the server sent; gates and transport errors propagate
        (offline `metadata_only` refuses the first hop, as for every PDF request).
        """
        probe = self.settings.pdf_probe_bytes
        headers = {
            "Accept": _PDF_ACCEPT,
            "Accept-Encoding": "identity",
            "Range": f"bytes=0-{probe - 1}",
        }
        if referer:
            headers["Referer"] = referer
        host = host_of(url)
        try:
            start = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError):
            return PdfCheck(ok=False, reason="bad_url", url=url, host=host)
        read_before = self.bytes_read
        try:
            small = self.settings.pdf_small_body_bytes
            hop = await self._follow(
                start, cap=probe, metadata=False, headers=headers, small_body=small
            )
            if hop.status == 416:
                headers.pop("Range")
                hop = await self._follow(
                    start, cap=probe, metadata=False, headers=headers, small_body=small
                )
        except RedirectError as exc:
            return PdfCheck(
                ok=False,
                reason=exc.reason,
                url=url,
                final_url=exc.url,
                host=host,
                bytes_read=self.bytes_read - read_before,
            )
        ctype = hop.headers.get("content-type")
        final_host = host_of(hop.url)
        common: dict[str, Any] = dict(
            url=url,
            final_url=hop.url,
            status=hop.status,
            content_type=ctype,
            host=final_host,
        )
        if not 200 <= hop.status < 300:
            return PdfCheck(
                ok=False,
                reason=classify_pdf_bytes(hop.body, status=hop.status, complete=hop.complete),
                bytes_read=self.bytes_read - read_before,
                retry_after_s=_retry_after(hop.headers),
                **common,
            )
        complete = hop.complete
        tail: bytes | None = None
        if hop.status == 206:
            # a partial answer is the whole file only if Content-Range says so
            total = _content_range_total(hop.headers.get("content-range"))
            complete = total is not None and total <= len(hop.body)
            if (
                not complete
                and self.settings.pdf_tail_check
                and total is not None
                and pdf_header_at(hop.body) >= 0
            ):
                tail = await self._tail(hop.url, headers, total)
        reason = classify_pdf_bytes(hop.body, status=hop.status, complete=complete, tail=tail)
        return PdfCheck(
            ok=reason == "ok", reason=reason, bytes_read=self.bytes_read - read_before, **common
        )

    async def fetch_pdf(
        self, url: str, *, max_bytes: int, referer: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> PdfCheck:
        """The PDF gate on the whole file: one GET through the gated path, streamed up to
        `max_bytes`, for the right-paper check (which reads the first pages) and a download
        of the same bytes.

        Reading stops once the first KiB shows that `%PDF-` does not open the body (an
        HTML page costs about what the probe of `check_pdf` costs), and an error page is
        read only far enough to tell a challenge. A body cut at the cap (an endless
        stream, a file too large) is `truncated_pdf`, never ok; a whole body must end
        with %%EOF. `body` holds the bytes when ok. Never raises for what the server
        sent; gates and transport errors propagate. `headers` carry an API's key (see
        `stream`)."""
        read_before = self.bytes_read
        try:
            async with self.stream(url, referer=referer, headers=headers) as got:
                success = 200 <= got.status < 300
                probe = self.settings.pdf_probe_bytes
                body = (await _read_pdf_body(got, max_bytes, probe) if success
                        else await got.read(probe))
        except RedirectError as exc:
            return PdfCheck(ok=False, reason=exc.reason, url=url, final_url=exc.url,
                            host=host_of(url), bytes_read=self.bytes_read - read_before)
        if success and len(body) > max_bytes:
            reason = "truncated_pdf" if pdf_header_at(body) >= 0 else "not_pdf"
        else:
            reason = classify_pdf_bytes(body, status=got.status, complete=success)
        return PdfCheck(
            ok=reason == "ok", reason=reason, url=url, final_url=got.url, status=got.status,
            content_type=got.headers.get("content-type"), host=host_of(got.url),
            bytes_read=self.bytes_read - read_before, retry_after_s=_retry_after(got.headers),
            body=body if reason == "ok" else b"",
        )

    @asynccontextmanager
    async def stream(
        self, url: str, *, referer: str | None = None, accept: str = _PDF_ACCEPT,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[Stream]:
        """GET `url` to read its whole body (a download): the one redirect loop, every
        hop gated and counted, all under the try's `timeout_s` (TimeoutError when it
        runs out). Raises GateClosed, RedirectError and httpx's errors. `headers` carry
        an API's key: a key header (`contracts.registry.KEY_HEADERS`) never leaves the
        first request's host."""
        sent = {"Accept": accept, **(headers or {})}
        if referer:
            sent["Referer"] = referer
        async with asyncio.timeout(self.timeout_s):
            async with self._open(httpx.URL(url), metadata=False, headers=sent) as response:
                yield Stream(self, response)

    # ---- internals

    async def _tail(self, url: str, headers: dict[str, str], total: int) -> bytes | None:
        """The last KiB of a file whose first bytes came as a 206 (None if unusable)."""
        tail_headers = dict(headers)
        tail_headers["Range"] = f"bytes=-{_PDF_EOF_WINDOW}"
        try:
            hop = await self._request(
                httpx.URL(url), cap=_PDF_EOF_WINDOW, metadata=False, headers=tail_headers
            )
        except (GateClosed, httpx.TransportError, NetError):
            return None  # the tail is a bonus check: without it the head decides
        if hop.status != 206:
            return None  # cannot see the end: let the head decide
        tail_total = _content_range_total(hop.headers.get("content-range"))
        if tail_total is not None and tail_total != total:
            return b""  # the file changed length between the requests: not trustworthy
        return hop.body

    def _url(self, url: str, params: Mapping[str, Any] | None) -> httpx.URL:
        u = httpx.URL(url)
        if params:
            u = u.copy_merge_params({k: v for k, v in params.items() if v is not None})
        return u

    async def _follow(
        self,
        url: httpx.URL,
        *,
        cap: int,
        metadata: bool,
        headers: Mapping[str, str] | None = None,
        check_robots: bool = True,
        max_redirects: int | None = None,
        sniff_pdf: bool = False,
        small_body: int = 0,
    ) -> _Hop:
        """GET through the redirect loop and read the final body up to `cap` bytes."""
        async with self._open(
            url, metadata=metadata, headers=headers or {}, check_robots=check_robots,
            max_redirects=max_redirects,
        ) as response:
            return await self._hop(response, cap, sniff_pdf=sniff_pdf, small_body=small_body)

    @asynccontextmanager
    async def _open(
        self,
        url: httpx.URL,
        *,
        metadata: bool,
        headers: Mapping[str, str],
        check_robots: bool = True,
        max_redirects: int | None = None,
        stop_before: Callable[[httpx.URL], bool] | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """The one redirect loop: send, and follow redirects hop by hop (each hop gated
        and counted) up to `max_redirects`; yield the final response, body unread.
        A hop for which `stop_before` is true is not requested (raises _Elsewhere)."""
        limit = self.settings.max_redirects if max_redirects is None else max_redirects
        chain = [str(url)]
        current = url
        hdrs = dict(headers)
        for _ in range(limit + 1):
            async with self._send(
                current, metadata=metadata, headers=hdrs, check_robots=check_robots
            ) as response:
                nxt = _redirect_target(current, response)
                if nxt is None:
                    yield response
                    return
            if str(nxt) in chain:
                raise RedirectLoop("redirect loop", url=str(nxt), chain=chain)
            chain.append(str(nxt))
            if nxt.host != current.host:  # credentials are for the API's host only
                hdrs = {k: v for k, v in hdrs.items() if k.lower() not in KEY_HEADERS}
            current = nxt
            if stop_before is not None and stop_before(current):
                raise _Elsewhere(current)
        raise TooManyRedirects(f"more than {limit} redirects", url=str(current), chain=chain)

    async def _guard(self, url: httpx.URL, *, metadata: bool, check_robots: bool) -> str:
        """Offline, scheme/SSRF and robots gates; returns the host."""
        host = url.host.lower()
        offline = self.settings.offline
        if offline == "block_all":
            raise GateClosed("offline", host)
        if offline == "metadata_only" and not metadata:
            raise GateClosed("offline_metadata_only", host)
        if url.scheme not in ("http", "https") or not host:
            raise GateClosed("unsafe_url", host or None, f"only http(s) URLs are fetched: {url}")
        if not self.settings.trust_transport:
            await self._check_ssrf(url, host)
        if check_robots and self.robots_respect and self.robots is not None:
            if not await self.robots.allowed(url, self):
                raise GateClosed("robots", host, f"robots.txt disallows {url}")
        return host

    async def _check_ssrf(self, url: httpx.URL, host: str) -> None:
        """Refuse a host that is, or resolves to, an address no public fetch may reach."""
        if host in self._safe_hosts:
            return
        try:  # httpx gives an IPv6 literal's host without its brackets
            ip = ipaddress.ip_address(host)
        except ValueError:
            ip = None
        if ip is not None:
            if is_unsafe_ip(ip):
                raise GateClosed("unsafe_url", host, f"{ip} is not a public address")
            self._safe_hosts.add(host)
            return
        port = url.port or (443 if url.scheme == "https" else 80)
        resolver = self.settings.resolver or system_resolver
        try:
            addresses = await resolver(host, port)
        except OSError as exc:
            raise httpx.ConnectError(f"cannot resolve {host}: {exc}") from None
        for address in addresses:
            addr = ipaddress.ip_address(address.split("%")[0])
            if is_unsafe_ip(addr):
                raise GateClosed("unsafe_url", host, f"{host} resolves to {addr}")
        self._safe_hosts.add(host)

    async def _request(
        self,
        url: httpx.URL,
        *,
        cap: int,
        metadata: bool,
        headers: Mapping[str, str],
    ) -> _Hop:
        """One gated request, no redirects followed; the body read up to `cap` bytes."""
        async with self._send(url, metadata=metadata, headers=headers) as response:
            return await self._hop(response, cap, sniff_pdf=False, small_body=0)

    async def _hop(
        self, response: httpx.Response, cap: int, *, sniff_pdf: bool, small_body: int
    ) -> _Hop:
        """Read a response's body up to `cap` decoded bytes (a whole small body)."""
        if small_body and response.status_code == 200:
            cap = max(cap, _small_length(response.headers, small_body))
        body, complete = await self._read(response, cap, sniff_pdf=sniff_pdf)
        return _Hop(response.status_code, str(response.request.url), response.headers, body,
                    complete)

    @asynccontextmanager
    async def _send(
        self,
        url: httpx.URL,
        *,
        metadata: bool,
        headers: Mapping[str, str],
        check_robots: bool = True,
    ) -> AsyncIterator[httpx.Response]:
        """One gated, counted request; yields the streamed response, closed on exit.

        The host's breaker hears the verdict when the caller is done with the body:
        a failure for 5xx, 429 or a transport error, a success otherwise; a request
        given up (cancelled, refused) gives its gate slot back without a verdict.
        """
        host = await self._guard(url, metadata=metadata, check_robots=check_robots)
        hdrs = {"Accept-Encoding": "gzip, deflate", **headers}
        if self.settings.offline == "cache_only":
            hdrs["Cache-Control"] = "only-if-cached"
        hit = await self._from_cache(url, hdrs, host)
        if hit is not None:  # nothing is sent: no gate turn, no request counted
            off_the_wire = self.bytes_read  # a stored answer is not received again
            try:
                yield hit
            finally:
                await hit.aclose()
                self.bytes_read = off_the_wire
            return
        await self.gates.before_request(host)
        self.requests += 1
        verdict = False
        try:
            request = self.client.build_request("GET", url, headers=hdrs)
            response = await self.client.send(request, stream=True, follow_redirects=False)
            try:
                status = response.status_code
                if self.settings.offline == "cache_only" and status == 504:
                    self.gates.release(host)
                    verdict = True
                    raise GateClosed("offline_not_cached", host, str(url))
                yield response
            finally:
                await response.aclose()
            self.gates.after_response(host, ok=status < 500 and status != 429, status=status)
            verdict = True
        except (httpx.TimeoutException, httpx.TransportError):
            if not verdict:
                self.gates.after_response(host, ok=False)
                verdict = True
            raise
        finally:
            if not verdict:
                self.gates.release(host)

    async def _from_cache(
        self, url: httpx.URL, headers: Mapping[str, str], host: str
    ) -> httpx.Response | None:
        """The client's cached answer, if it has a cache: it skips the gates (nothing is
        sent). Offline `cache_only` with a cache but no answer is refused here."""
        if not has_cache(self.client):
            return None
        hit = await cached_answer(self.client, self.client.build_request("GET", url,
                                                                           headers=headers))
        if hit is None and self.settings.offline == "cache_only":
            raise GateClosed("offline_not_cached", host, str(url))
        return hit

    async def _read(
        self, response: httpx.Response, cap: int, *, sniff_pdf: bool
    ) -> tuple[bytes, bool]:
        """At most `cap` decoded bytes; (body, complete). `sniff_pdf` stops after the first
        KiB of a PDF."""
        if cap <= 0 or response.status_code in _REDIRECT_STATUSES:
            return b"", False
        if response.is_stream_consumed:  # a transport that built the body in memory (mocks)
            content = response.content
            self.bytes_read += min(len(content), cap)
            return content[:cap], len(content) <= cap
        decoder = _BoundedDecoder(response.headers.get("content-encoding"))
        parts: list[bytes] = []
        got = 0
        raw = 0
        stopped = False
        raw_cap = max(cap, 65_536) * 64  # compressed bytes that inflate to nothing
        sniff_at = _PDF_MAGIC_WINDOW + len(_PDF_MAGIC)
        chunk_size = max(1, min(cap, sniff_at if sniff_pdf else 16_384))
        async for chunk in response.aiter_raw(chunk_size):
            raw += len(chunk)
            self.bytes_read += len(chunk)
            out = decoder.decode(chunk, cap - got)
            parts.append(out)
            got += len(out)
            if got >= cap or raw >= raw_cap or decoder.failed:
                stopped = True
                break
            if sniff_pdf and got >= sniff_at:
                sniff_pdf = False
                if pdf_header_at(b"".join(parts)) >= 0:
                    stopped = True
                    break
        complete = not stopped
        if stopped and got >= cap and not decoder.failed:
            # we stopped at the cap; the body was whole only if the server said so
            length = response.headers.get("content-length", "")
            identity = response.headers.get("content-encoding", "identity") == "identity"
            complete = identity and length.isdigit() and int(length) == got
        return b"".join(parts), complete


async def _read_pdf_body(got: Stream, max_bytes: int, probe: int) -> bytes:
    """A success body up to `max_bytes` + 1 (one more tells a cut body), in pieces of a
    probe's size, stopping once the first KiB shows it is not a PDF: an HTML page costs
    no more than the probe of `check_pdf`."""
    parts: list[bytes] = []
    size = 0
    judged = False
    window = _PDF_MAGIC_WINDOW + len(_PDF_MAGIC)
    async for piece in got.chunks(max_bytes + 1, chunk_size=probe):
        parts.append(piece)
        size += len(piece)
        if not judged and size >= window:
            judged = True
            if pdf_header_at(b"".join(parts)) < 0:
                break
    return b"".join(parts)


def _small_length(headers: httpx.Headers, limit: int) -> int:
    """The announced length of an unencoded body if it is at most `limit`, else 0."""
    length = headers.get("content-length", "")
    if headers.get("content-encoding", "identity") != "identity" or not length.isdigit():
        return 0
    return int(length) if int(length) <= limit else 0


#: JSON bodies longer than this are parsed in a worker thread, off the event loop
JSON_OFF_LOOP_BYTES = 256 * 1024


async def _load_json(body: bytes) -> Any:
    """The JSON value of `body` (None when blank). Raises ValueError or RecursionError
    (nested deeper than the parser goes) for a bad body; a long one is parsed off the
    event loop so that no other work waits for it."""
    if not body.strip():
        return None
    if len(body) > JSON_OFF_LOOP_BYTES:
        return await asyncio.to_thread(json.loads, body)
    return json.loads(body)


def _decode_text(body: bytes, charset: str | None) -> str:
    """`body` as text in the declared charset, else UTF-8 with replacements: a charset
    that is no text encoding (`idna`, `rot13`, unknown) never raises."""
    try:
        return body.decode(charset or "utf-8", "replace")
    except (LookupError, ValueError):  # UnicodeError is a ValueError
        return body.decode("utf-8", "replace")


def _charset(headers: httpx.Headers) -> str | None:
    ctype = headers.get("content-type", "")
    for part in ctype.split(";")[1:]:
        k, _, v = part.partition("=")
        if k.strip().lower() == "charset" and v.strip():
            return v.strip().strip("\"'")
    return None


def _content_range_total(value: str | None) -> int | None:
    """The total length from `Content-Range: bytes 0-4095/123456` (None if unknown)."""
    if not value or "/" not in value:
        return None
    total = value.rsplit("/", 1)[1].strip()
    return int(total) if total.isdigit() else None


class _Elsewhere(Exception):
    """`_open` reached a redirect target it was asked not to request."""

    def __init__(self, url: httpx.URL) -> None:
        self.url = url
        super().__init__(str(url))


def _redirect_target(current: httpx.URL, response: httpx.Response) -> httpx.URL | None:
    """Where a redirect response points (None if it is not one we can follow)."""
    location = response.headers.get("location")
    if response.status_code not in _REDIRECT_STATUSES or not location:
        return None
    try:
        return current.join(location.strip())
    except (httpx.InvalidURL, ValueError):
        return None


#: The one gated path's name in the layered design; `Fetcher` is its historical name.
Fetcher = Edge
