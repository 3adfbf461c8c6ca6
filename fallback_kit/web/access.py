"""Institutional access, by the user's choice: an HTTP(S) proxy, EZproxy URL rewriting,
and the cookies of the user's own browser session.

None of these is on by default. They let a researcher reach, through their library,
what their institution licenses; they are no way around a publisher's terms (the README
has the paragraph on ethics and terms of use). Their secrets (proxy passwords,
cookies, tokens) are never logged or stored: `redacted_proxy` is what a run records.

EZproxy rewrites a publisher URL onto the library's proxy in one of the forms its
documentation and libraries' bookmarklets use:
- `hyphen` (proxy by hostname, HTTPS): `https://www.sciencedirect.com/x` ->
  `https://www-sciencedirect-com.ezproxy.univ.edu/x`;
- `dots` (proxy by hostname, older setups): `https://www.sciencedirect.com.ezproxy.univ.edu/x`;
- `login` (starting-point URL): `https://ezproxy.univ.edu/login?url=https://www.sciencedirect.com/x`.
"""

from __future__ import annotations

import http.cookiejar
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx

__all__ = [
    "EZPROXY_STYLES",
    "Access",
    "AccessError",
    "EzproxyRule",
    "EzproxyTransport",
    "load_cookies_txt",
    "redacted_proxy",
]

EZPROXY_STYLES = ("hyphen", "dots", "login")


class AccessError(ValueError):
    """A proxy, EZproxy or cookies setting that cannot be used; the message says which."""


@dataclass(frozen=True, slots=True)
class EzproxyRule:
    """Send requests for `hosts` (and their subdomains) through the EZproxy at `proxy`."""

    proxy: str  # the proxy's host name, e.g. "ezproxy.univ.edu"
    hosts: tuple[str, ...]  # publisher host suffixes, e.g. ("sciencedirect.com",)
    style: str = "hyphen"

    def __post_init__(self) -> None:
        if self.style not in EZPROXY_STYLES:
            raise AccessError(f"ezproxy.style must be one of {', '.join(EZPROXY_STYLES)},"
                              f" not {self.style!r}")
        if not self.proxy or "/" in self.proxy:
            raise AccessError(f"ezproxy.proxy must be a host name, not {self.proxy!r}")

    def covers(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        if host == self.proxy or host.endswith("." + self.proxy):
            return False  # already on the proxy
        return any(host == h or host.endswith("." + h) for h in self.hosts)

    def rewrite(self, url: str) -> str:
        """The URL through the proxy, or the URL itself when its host is not covered."""
        parsed = httpx.URL(url)
        if not self.covers(parsed.host):
            return url
        if self.style == "login":
            return f"https://{self.proxy}/login?url={quote(url, safe=':/')}"
        host = parsed.host.replace(".", "-") if self.style == "hyphen" else parsed.host
        return str(parsed.copy_with(host=f"{host}.{self.proxy}", port=None))


class EzproxyTransport(httpx.AsyncBaseTransport):
    """A transport that sends covered requests to the EZproxy, everything else as is.

    It sits under the gates: rate limits, breakers and the record keep the publisher's
    host, so politeness towards each publisher holds through the proxy."""

    def __init__(self, inner: httpx.AsyncBaseTransport, rule: EzproxyRule) -> None:
        self.inner = inner
        self.rule = rule

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        target = self.rule.rewrite(str(request.url))
        if target != str(request.url):
            url = httpx.URL(target)
            headers = [(b"Host", url.netloc)]
            headers += [(k, v) for k, v in request.headers.raw if k.lower() != b"host"]
            request = httpx.Request(request.method, url, headers=headers,
                                    stream=request.stream, extensions=request.extensions)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass(frozen=True, slots=True)
class Access:
    """The user's institutional access for a live run: all optional, none by default."""

    proxy: str | None = None  # http(s)://[user:pass@]host:port
    ezproxy: EzproxyRule | None = None
    cookies: httpx.Cookies | None = None  # from the user's own cookies.txt

    def transport(self, base: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        """`base` with EZproxy rewriting around it, when a rule is set."""
        return EzproxyTransport(base, self.ezproxy) if self.ezproxy is not None else base


def load_cookies_txt(path: str | Path, *, hosts: Iterable[str] | None = None) -> httpx.Cookies:
    """The cookies of a Netscape cookies.txt (what browser extensions export), for the
    client. With `hosts`, only cookies for those domains are kept."""
    jar = http.cookiejar.MozillaCookieJar(str(path))
    try:
        jar.load(ignore_discard=True, ignore_expires=False)
    except FileNotFoundError:
        raise AccessError(f"cookies file {path}: not found") from None
    except (http.cookiejar.LoadError, OSError) as exc:
        raise AccessError(f"cookies file {path}: not a Netscape cookies.txt ({exc})") from None
    wanted = tuple(h.lower().lstrip(".") for h in hosts) if hosts is not None else None
    cookies = httpx.Cookies()
    for cookie in jar:
        domain = cookie.domain.lower().lstrip(".")
        if wanted is None or any(domain == h or domain.endswith("." + h) for h in wanted):
            cookies.jar.set_cookie(cookie)
    return cookies


def redacted_proxy(url: str | None) -> str | None:
    """The proxy URL without its user name and password, as a run may record it."""
    if not url:
        return url
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise AccessError(f"proxy {url!r} is not a URL ({exc})") from None
    if not parsed.scheme or not parsed.host:
        raise AccessError(f"proxy {url!r} needs a scheme and a host, like http://proxy:3128")
    return str(parsed.copy_with(username=None, password=None))
