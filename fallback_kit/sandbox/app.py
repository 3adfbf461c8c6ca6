"""The ASGI app: one Starlette route that dispatches on the Host header to the World.

Per request: robots.txt, or look the URL up, answer its transient failures (counted
per URL), wait its delay (x time_scale), then render, honouring Range for PDFs on
hosts that do. Faults about time or the connection live here: hangs (cut short when
the client leaves or the server stops), trickling bodies, resets, oversized bodies
and gzip bombs.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from email.utils import formatdate
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ..contracts.registry import SOURCE_SPECS
from ..contracts.timescale import TimeScale
from ._hash import h64
from .faults import HANG_MS, SLOW_BODY_MS, SLOW_CHUNK_MS
from .model import SERVICE_HOSTS, Node
from .pdfs import gzip_bomb
from .render import render
from .world import World

__all__ = ["OVERSIZED_BYTES", "SandboxApp", "robots_txt"]

OVERSIZED_BYTES = 64 * 1024 * 1024
_CHUNK = 64 * 1024

#: the header that carries the Wiley TDM token (contracts/registry.py)
TDM_TOKEN_HEADER = SOURCE_SPECS["wiley_tdm"].key_header
_API_HOSTS = frozenset({
    "api.unpaywall.org", "api.openalex.org", "api.crossref.org", "api.semanticscholar.org",
    "www.ebi.ac.uk", "archive.org", "export.arxiv.org", "doaj.org", "api.biorxiv.org",
    "api.core.ac.uk", "api.wiley.com",
})


def robots_txt(host: str) -> str:
    """The robots.txt of a simulated host (publishers forbid /restricted/)."""
    if host in _API_HOSTS or host in ("doi.org", "dx.doi.org", "linkinghub.elsevier.com"):
        return "User-agent: *\nAllow: /\n"
    if host == "web.archive.org":
        return "User-agent: *\nDisallow: /save/\nAllow: /\n"
    if host in SERVICE_HOSTS:
        return "User-agent: *\nDisallow: /search\nDisallow: /restricted/\n"
    return "User-agent: *\nDisallow: /restricted/\nDisallow: /search\n"


class SandboxApp:
    """The sandbox's ASGI application (a Starlette app behind a thin wrapper)."""

    def __init__(self, world: World, *, time_scale: float = 1.0) -> None:
        self.world = world
        self.clock = TimeScale(float(time_scale))  # refuses what is not a number >= 0
        self.time_scale = self.clock.factor
        self.counts: dict[str, int] = {}
        self.requests = 0
        self._stop: asyncio.Event | None = None
        self.starlette = Starlette(routes=[Route("/{path:path}", self.endpoint,
                                                 methods=["GET", "HEAD"])])

    def __repr__(self) -> str:
        return (f"<SandboxApp {self.world!r} time_scale={self.time_scale}"
                f" requests={self.requests} transient_urls={len(self.counts)}>")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.starlette(scope, receive, send)  # 405s and lifespan, the usual way
            return
        # The one route straight to the endpoint: Starlette's router and middleware cost
        # more per request than the World's lookup (benchmarks/RESULTS.md).
        scope["fk.raw_send"] = send  # the server's own send, to reset connections
        response = await self.endpoint(Request(scope, receive))
        await response(scope, receive, send)

    # -- lifecycle -----------------------------------------------------------------
    def stop_event(self) -> asyncio.Event:
        if self._stop is None:
            self._stop = asyncio.Event()
        return self._stop

    def stop(self) -> None:
        """Wake every hanging or trickling response (call in the server's loop)."""
        self.stop_event().set()

    # -- timing ----------------------------------------------------------------------
    async def sleep_ms(self, ms: float) -> None:
        """Serve a latency; a stopping server ends it at once (so that a run interrupted
        mid-request does not wait for uvicorn's graceful shutdown)."""
        delay = self.clock.wait_s(ms / 1000.0)
        if delay > 0:
            stopping = self.stop_event()
            if stopping.is_set():
                return
            try:
                await asyncio.wait_for(stopping.wait(), delay)
            except TimeoutError:
                pass

    def _fault_seconds(self, ms: float) -> float:
        # a hang that answers at once is no hang: it lasts as long as a budget would
        return self.clock.budget_s(ms)

    # -- the endpoint ------------------------------------------------------------------
    async def endpoint(self, request: Request) -> Response:
        self.requests += 1
        scope = request.scope
        host = (request.headers.get("host") or "").rsplit(":", 1)[0].lower()
        if host.startswith("[") or host.replace(".", "").isdigit() or not host:
            host = host or "127.0.0.1"
        path = scope["path"] or "/"
        raw_query = scope["query_string"].decode("latin-1")
        world = self.world
        if path == "/robots.txt":
            await self.sleep_ms(world.delay_ms(host, host + "/robots.txt"))
            return Response(robots_txt(host), media_type="text/plain")
        node = world.lookup(host, path, raw_query)
        if node.variant == "tdm" and not request.headers.get(TDM_TOKEN_HEADER):
            # Wiley's TDM API serves only a request with the user's token (the answer
            # without one was not recorded: a plain 403 here)
            return Response('{"message": "Forbidden: a TDM client token is required"}',
                            status_code=403, media_type="application/json")
        if node.transient:
            seen = self.counts.get(node.key, 0)
            if seen < node.transient:
                self.counts[node.key] = seen + 1
                await self.sleep_ms(world.delay_ms(node.host, node.key) / 4)
                return self._transient(node, seen)
        if node.fault == "hang":
            await self._wait_or_leave(request, self._fault_seconds(HANG_MS))
            return Response("gateway timeout", status_code=504, media_type="text/plain")
        await self.sleep_ms(world.delay_ms(node.host, node.key))
        scheme = request.headers.get("x-sandbox-scheme", "https")
        url = f"{scheme}://{host}{path}" + (f"?{raw_query}" if raw_query else "")
        out = render(world, node, url=url)
        headers = dict(out.headers)
        status, body = out.status, out.body
        if node.fault == "gzip_bomb":
            headers["content-encoding"] = "gzip"
            return Response(gzip_bomb(), status_code=status, headers=headers,
                            media_type=out.content_type)
        if node.fault == "oversized":
            return _Oversized(body, status, headers, out.content_type)
        rng = request.headers.get("range")
        if rng and node.kind == "pdf" and node.data and node.fault is None and status == 200:
            status, body, extra = _range(rng, body)
            headers.update(extra)
        if node.fault == "slow_body":
            return _Trickle(self, body, status, headers, out.content_type)
        return Response(body, status_code=status, headers=headers, media_type=out.content_type)

    def _transient(self, node: Node, seen: int) -> Response:
        kind = node.transient_kind
        if kind == "reset":
            return _Reset()
        if kind == "rate_limited":
            wait = 1 + h64(self.world.seed, "retry_after", node.key, seen) % 5
            if h64(self.world.seed, "retry_form", node.key) % 2:
                value = formatdate(time.time() + wait, usegmt=True)
            else:
                value = str(wait)
            return Response('{"message": "Too Many Requests"}' if node.host in _API_HOSTS
                            else "Too Many Requests", status_code=429,
                            headers={"retry-after": value},
                            media_type="application/json" if node.host in _API_HOSTS
                            else "text/plain")
        status = (500, 502, 503, 504)[h64(self.world.seed, "5xx", node.key) % 4]
        return Response(f"<html><body><h1>{status} Server Error</h1></body></html>",
                        status_code=status, media_type="text/html")

    async def _wait_or_leave(self, request: Request, seconds: float) -> None:
        """Sleep up to `seconds`; wake early if the client disconnects or the server stops."""
        stop = asyncio.ensure_future(self.stop_event().wait())
        gone = asyncio.ensure_future(_disconnected(request.receive))
        try:
            await asyncio.wait({stop, gone}, timeout=seconds,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (stop, gone):
                task.cancel()


async def _disconnected(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


def _range(header: str, body: bytes) -> tuple[int, bytes, dict[str, str]]:
    """Honour a single `bytes=a-b` range (206); anything else gets the whole body."""
    total = len(body)
    try:
        unit, _, spec = header.partition("=")
        start_s, _, end_s = spec.strip().partition("-")
        if unit.strip() != "bytes" or "," in spec:
            raise ValueError
        if start_s == "":
            start, end = max(0, total - int(end_s)), total - 1
        else:
            start = int(start_s)
            end = min(int(end_s), total - 1) if end_s else total - 1
    except ValueError:
        return 200, body, {}
    if start >= total or start > end:
        return 416, b"", {"content-range": f"bytes */{total}"}
    return 206, body[start:end + 1], {"content-range": f"bytes {start}-{end}/{total}",
                                      "accept-ranges": "bytes"}


#: uvicorn releases whose ASGI `send` is a bound method of the request's cycle, which
#: holds the connection's asyncio transport as `.transport` (h11 and httptools alike)
_UVICORN_KNOWN = ((0, 29), (1, 0))  # from, up to (excluded)


def _version(text: str) -> tuple[int, int]:
    parts = (text.split(".") + ["0"])[:2]
    return (int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0))


def uvicorn_transport(send: Any) -> asyncio.Transport | None:
    """The asyncio transport under uvicorn's `send`, to reset a connection (ASGI has no
    way to abort one). uvicorn's private attribute, isolated here: used only on the
    uvicorn releases where it is known (tests/sandbox check it on the installed one),
    and only if it is an asyncio transport; None otherwise."""
    import uvicorn

    try:
        known = _UVICORN_KNOWN[0] <= _version(uvicorn.__version__) < _UVICORN_KNOWN[1]
    except ValueError:
        known = False
    transport = getattr(getattr(send, "__self__", None), "transport", None) if known else None
    return transport if isinstance(transport, asyncio.Transport) else None


class _Reset(Response):
    """Reset the TCP connection (RST) without answering."""

    def __init__(self) -> None:
        super().__init__(b"", status_code=500)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        transport = uvicorn_transport(scope.get("fk.raw_send"))
        if transport is None:  # another server: drop mid-response instead
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-length", b"1000")]})
            await send({"type": "http.response.body", "body": b"x" * 10, "more_body": True})
            raise ConnectionResetError("sandbox: simulated connection reset")
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:  # pragma: no cover
                pass
        transport.abort()
        try:
            await asyncio.wait_for(_disconnected(receive), timeout=1.0)
        except (TimeoutError, Exception):  # pragma: no cover
            pass


class _Trickle(Response):
    """Send headers at once, then the body in small pieces over SLOW_BODY_MS."""

    def __init__(self, app: SandboxApp, body: bytes, status: int, headers: dict[str, str],
                 media_type: str) -> None:
        super().__init__(body, status_code=status, headers=headers, media_type=media_type)
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = self.body
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})
        pieces = max(1, int(SLOW_BODY_MS // SLOW_CHUNK_MS))
        size = max(1, -(-len(body) // pieces))
        pause = self.app._fault_seconds(SLOW_CHUNK_MS)
        stop = self.app.stop_event()
        gone = asyncio.ensure_future(_disconnected(receive))
        try:
            for start in range(0, len(body), size):
                await send({"type": "http.response.body", "body": body[start:start + size],
                            "more_body": True})
                sleeper = asyncio.ensure_future(asyncio.sleep(pause))
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({sleeper, stopper, gone}, return_when=asyncio.FIRST_COMPLETED)
                sleeper.cancel()
                stopper.cancel()
                if gone.done() or stop.is_set():
                    return
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            gone.cancel()


class _Oversized(Response):
    """A body far larger than any sane cap: padding streamed until the client gives up."""

    def __init__(self, body: bytes, status: int, headers: dict[str, str],
                 media_type: str) -> None:
        super().__init__(b"", status_code=status, headers=headers, media_type=media_type)
        self.tail = body
        total = OVERSIZED_BYTES + len(body)
        self.headers["content-length"] = str(total)
        self.pad = b" " * _CHUNK

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code,
                    "headers": self.raw_headers})
        gone = asyncio.ensure_future(_disconnected(receive))
        try:
            sent = 0
            while sent < OVERSIZED_BYTES:
                if gone.done():
                    return
                n = min(_CHUNK, OVERSIZED_BYTES - sent)
                await send({"type": "http.response.body", "body": self.pad[:n],
                            "more_body": True})
                sent += n
                await asyncio.sleep(0)
            await send({"type": "http.response.body", "body": self.tail, "more_body": False})
        finally:
            gone.cancel()


def _unused(_: Any) -> None:  # pragma: no cover
    pass
