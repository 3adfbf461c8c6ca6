"""An httpx transport that delivers every request to the sandbox, URL and Host intact.

The request keeps its real URL (https://api.unpaywall.org/...) as far as the client
and the sources can tell; only the connection goes to 127.0.0.1:PORT over plain
HTTP, with the original Host header and an `x-sandbox-scheme` header.

It speaks HTTP/1.1 itself over asyncio streams, with a last-in-first-out pool of
idle keep-alive connections: one server, one protocol, no TLS, so none of httpcore's
generality is needed, and httpcore's pool (which scans every connection and probes
each socket on every request) was the client's bottleneck at 64+ requests in flight
(benchmarks/RESULTS.md). Errors are httpx's: `ConnectError`, `ConnectTimeout`,
`ReadError`, `ReadTimeout`, `RemoteProtocolError`, so callers cannot tell it from
`httpx.AsyncHTTPTransport`.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import httpx

__all__ = ["SandboxTransport"]

_CHUNK = 65_536
_NO_BODY_STATUSES = frozenset({204, 304})
_MAX_HEADER_BYTES = 256 * 1024


class _Conn:
    """One keep-alive HTTP/1.1 connection to the sandbox."""

    __slots__ = ("reader", "writer", "reused")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.reused = False

    @property
    def usable(self) -> bool:
        return not self.writer.is_closing() and not self.reader.at_eof()

    def close(self) -> None:
        transport = self.writer.transport
        if not transport.is_closing():
            transport.close()


class _Body(httpx.AsyncByteStream):
    """The response body, read straight off the connection; the connection goes back
    to the pool only once the body has been read to its end."""

    def __init__(self, transport: SandboxTransport, conn: _Conn, request: httpx.Request,
                 *, length: int | None, chunked: bool, keep_alive: bool,
                 read_timeout: float | None) -> None:
        self._transport = transport
        self._conn: _Conn | None = conn
        self._request = request
        self._length = length
        self._chunked = chunked
        self._keep_alive = keep_alive
        self._read_timeout = read_timeout
        self._done = length == 0 and not chunked

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None or self._done:
            return
        try:
            if self._chunked:
                async for piece in self._chunks(conn.reader):
                    yield piece
            elif self._length is not None:
                while self._length > 0:
                    data = await self._read(conn.reader.read(min(self._length, _CHUNK)))
                    if not data:
                        raise httpx.RemoteProtocolError(
                            "sandbox: connection closed before the end of the body",
                            request=self._request)
                    self._length -= len(data)
                    if self._length == 0:
                        # whole before the caller sees the last piece: a reader that
                        # stops at its cap right there still leaves a reusable connection
                        self._done = True
                    yield data
            else:  # delimited by the end of the connection
                self._keep_alive = False
                while data := await self._read(conn.reader.read(_CHUNK)):
                    yield data
            self._done = True
        except (ConnectionError, OSError) as exc:
            raise httpx.ReadError(f"sandbox: {type(exc).__name__}: {exc}",
                                  request=self._request) from None
        except asyncio.IncompleteReadError:
            raise httpx.RemoteProtocolError("sandbox: connection closed mid-body",
                                            request=self._request) from None

    async def _chunks(self, reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
        while True:
            line = await self._read(reader.readuntil(b"\r\n"))
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise httpx.RemoteProtocolError("sandbox: bad chunk size",
                                                request=self._request) from None
            if size == 0:
                while (await self._read(reader.readuntil(b"\r\n"))) != b"\r\n":
                    pass  # trailers
                return
            data = await self._read(reader.readexactly(size + 2))
            yield data[:-2]

    async def _read(self, aw: Any) -> Any:
        if self._read_timeout is None:
            return await aw
        try:
            async with asyncio.timeout(self._read_timeout):
                return await aw
        except TimeoutError:
            raise httpx.ReadTimeout("sandbox: read timed out", request=self._request) from None

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        left = self._length
        if not self._done and not self._chunked and left is not None and self._keep_alive:
            # an unread small body (a redirect's, an error page's) that has already
            # arrived is skipped, so the connection stays reusable; never waits
            if len(getattr(conn.reader, "_buffer", b"")) >= left:
                await conn.reader.readexactly(left)
                self._done = True
        self._transport._release(conn, reuse=self._done and self._keep_alive)


class SandboxTransport(httpx.AsyncBaseTransport):
    """Route any http(s) request to the sandbox server at host:port."""

    def __init__(self, host: str, port: int, *, limits: httpx.Limits | None = None,
                 **kwargs: Any) -> None:
        self.host = host
        self.port = port
        limits = limits or httpx.Limits(max_connections=None, max_keepalive_connections=512)
        idle = limits.max_keepalive_connections
        self._max_idle: int = idle if idle is not None else 1 << 30
        self._slots = (asyncio.Semaphore(limits.max_connections)
                       if limits.max_connections is not None else None)
        self._idle: deque[_Conn] = deque()
        self._open: set[_Conn] = set()
        self._closed = False
        self.connections_made = 0
        self.requests = 0
        if kwargs:  # httpx.AsyncHTTPTransport options have no meaning here
            unknown = ", ".join(sorted(kwargs))
            raise TypeError(f"SandboxTransport: unsupported option(s): {unknown}")

    def __repr__(self) -> str:
        return (f"<SandboxTransport -> {self.host}:{self.port} open={len(self._open)}"
                f" idle={len(self._idle)} connections_made={self.connections_made}"
                f" requests={self.requests}>")

    # -- connections -------------------------------------------------------------
    async def _connect(self, request: httpx.Request, timeout: float | None) -> _Conn:
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    self.host, self.port, limit=_MAX_HEADER_BYTES)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"sandbox: connecting to {self.host}:{self.port}"
                                       " timed out", request=request) from None
        except OSError as exc:
            raise httpx.ConnectError(f"sandbox: cannot connect to {self.host}:{self.port}"
                                     f" ({exc}); is the sandbox running?",
                                     request=request) from None
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connections_made += 1
        conn = _Conn(reader, writer)
        self._open.add(conn)
        return conn

    def _acquire_idle(self) -> _Conn | None:
        while self._idle:
            conn = self._idle.pop()
            if conn.usable:
                conn.reused = True
                return conn
            self._drop(conn)
        return None

    def _release(self, conn: _Conn, *, reuse: bool) -> None:
        if not reuse or self._closed or not conn.usable or len(self._idle) >= self._max_idle:
            self._drop(conn)
        else:
            self._idle.append(conn)
        if self._slots is not None:
            self._slots.release()

    def _drop(self, conn: _Conn) -> None:
        conn.close()
        self._open.discard(conn)

    # -- one request -------------------------------------------------------------
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise RuntimeError("SandboxTransport: the transport is closed")
        self.requests += 1
        timeouts = request.extensions.get("timeout") or {}
        head = self._head(request)
        body = b"" if request.method in ("GET", "HEAD") else await _read_all(request)
        if self._slots is not None:
            await self._slots.acquire()
        try:
            for fresh in (False, True):
                conn = None if fresh else self._acquire_idle()
                if conn is None:
                    conn = await self._connect(request, timeouts.get("connect"))
                try:
                    return await self._exchange(conn, request, head, body, timeouts)
                except _StaleConnection:
                    self._drop(conn)  # the server closed an idle connection: retry once
                    continue
                except BaseException:
                    self._drop(conn)
                    raise
            raise httpx.RemoteProtocolError("sandbox: server disconnected without sending"
                                            " a response", request=request)
        except BaseException:
            if self._slots is not None:
                self._slots.release()
            raise

    def _head(self, request: httpx.Request) -> bytes:
        url = request.url
        lines = [b"%s %s HTTP/1.1\r\n" % (request.method.encode("ascii"), url.raw_path)]
        has_host = False
        for name, value in request.headers.raw:
            if name.lower() == b"host":
                has_host = True
            lines.append(b"%s: %s\r\n" % (name, value))
        if not has_host:
            lines.append(b"Host: %s\r\n" % url.netloc)
        lines.append(b"x-sandbox-scheme: %s\r\n\r\n" % url.scheme.encode("ascii"))
        return b"".join(lines)

    async def _exchange(self, conn: _Conn, request: httpx.Request, head: bytes, body: bytes,
                        timeouts: dict[str, float | None]) -> httpx.Response:
        read_timeout = timeouts.get("read")
        try:
            conn.writer.write(head + body if body else head)
            async with asyncio.timeout(read_timeout):
                raw = await conn.reader.readuntil(b"\r\n\r\n")
        except TimeoutError:
            raise httpx.ReadTimeout("sandbox: no answer in time", request=request) from None
        except asyncio.IncompleteReadError as exc:
            if conn.reused and not exc.partial:
                raise _StaleConnection from None
            raise httpx.RemoteProtocolError("sandbox: server disconnected without sending a"
                                            " response", request=request) from None
        except asyncio.LimitOverrunError:
            raise httpx.RemoteProtocolError("sandbox: response head too large",
                                            request=request) from None
        except (ConnectionError, OSError) as exc:
            if conn.reused and isinstance(exc, (BrokenPipeError, ConnectionResetError)):
                raise _StaleConnection from None
            raise httpx.ReadError(f"sandbox: {type(exc).__name__}: {exc}",
                                  request=request) from None
        status, headers = _parse_head(raw, request)
        length: int | None = None
        chunked = False
        keep_alive = True
        for name, value in headers:
            n = name.lower()
            if n == b"content-length":
                length = int(value)
            elif n == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif n == b"connection" and value.lower().strip() == b"close":
                keep_alive = False
        if request.method == "HEAD" or status in _NO_BODY_STATUSES or 100 <= status < 200:
            length, chunked = 0, False
        if chunked:
            length = None
        stream = _Body(self, conn, request, length=length, chunked=chunked,
                       keep_alive=keep_alive, read_timeout=read_timeout)
        return httpx.Response(status, headers=headers, stream=stream,
                              extensions={"http_version": b"HTTP/1.1"})

    async def aclose(self) -> None:
        self._closed = True
        conns = list(self._open)
        self._idle.clear()
        self._open.clear()
        for conn in conns:
            conn.close()
        # one loop turn lets every transport closed so far (here or when a body was
        # abandoned) run its connection_lost before the caller's loop may be closed
        await asyncio.sleep(0)


class _StaleConnection(Exception):
    """A reused keep-alive connection was closed by the server before it answered."""


def _parse_head(raw: bytes, request: httpx.Request) -> tuple[int, list[tuple[bytes, bytes]]]:
    lines = raw[:-4].split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    try:
        status = int(parts[1])
    except (IndexError, ValueError):
        raise httpx.RemoteProtocolError(f"sandbox: bad status line {lines[0][:80]!r}",
                                        request=request) from None
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            raise httpx.RemoteProtocolError(f"sandbox: bad header line {line[:80]!r}",
                                            request=request)
        headers.append((name.strip(), value.strip()))
    return status, headers


async def _read_all(request: httpx.Request) -> bytes:
    parts = [chunk async for chunk in request.stream]  # type: ignore[union-attr]
    return b"".join(parts)
