"""Test helpers for the network layer: a routing MockTransport that records requests
and closes, PDF bodies, and a Fetcher factory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from fallback_kit.web.edge import Fetcher, NetSettings, RobotsCache
from fallback_kit.web.gates import Gates

# Real responses of the services, copied with their provenance (fixtures/reference/README.md).
REFERENCE = Path(__file__).parent / "fixtures" / "reference"

PDF = b"%PDF-1.7\n" + b"1 0 obj << /Type /Catalog >> endobj\n" * 20 + b"trailer\n%%EOF\n"
BIG_PDF = b"%PDF-1.5\n" + b"x" * 20_000 + b"\n%%EOF\n"
HTML = b"<!DOCTYPE html><html><head><title>Viewer</title></head><body>Hi</body></html>"


class ClosingStream(httpx.AsyncByteStream):
    """A body in chunks that records whether it was closed and how much was pulled."""

    def __init__(self, data: bytes, chunk: int = 1024, log: list | None = None):
        self.data = data
        self.chunk = chunk
        self.closed = False
        self.pulled = 0
        if log is not None:
            log.append(self)

    async def __aiter__(self):
        for i in range(0, len(self.data), self.chunk):
            part = self.data[i : i + self.chunk]
            self.pulled += len(part)
            yield part

    async def aclose(self) -> None:
        self.closed = True


Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class Router:
    """URL -> response factory; unknown URLs answer 404. Records every request."""

    routes: dict[str, Handler | httpx.Response | tuple] = field(default_factory=dict)
    seen: list[httpx.Request] = field(default_factory=list)
    streams: list[ClosingStream] = field(default_factory=list)

    def add(self, url: str, status: int = 200, body: bytes | str = b"", **headers: str) -> None:
        self.routes[url] = (status, body, headers)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        url = str(request.url)
        route = self.routes.get(url)
        if route is None:
            route = self.routes.get(url.split("?", 1)[0])
        if route is None:
            return httpx.Response(404, text="not found")
        if callable(route):
            return route(request)
        if isinstance(route, httpx.Response):
            return route
        status, body, headers = route
        data = body.encode() if isinstance(body, str) else body
        hdrs = {k.replace("_", "-"): v for k, v in headers.items()}
        return httpx.Response(status, headers=hdrs, stream=ClosingStream(data, log=self.streams))

    def urls(self) -> list[str]:
        return [str(r.url) for r in self.seen]


def make_fetcher(
    router: Router,
    *,
    gates: Gates | None = None,
    robots: RobotsCache | None = None,
    robots_respect: bool = False,
    **settings,
) -> Fetcher:
    client = httpx.AsyncClient(transport=httpx.MockTransport(router), follow_redirects=False)
    # a mocked web: the SSRF guard's name lookups are off unless a test asks for live
    settings.setdefault("trust_transport", not settings.get("live", False))
    return Fetcher(
        client,
        gates=gates or Gates(),
        settings=NetSettings(**settings),
        robots=robots,
        robots_respect=robots_respect,
    )
