"""An httpx transport that delivers every request to the sandbox, URL and Host intact.

The request keeps its real URL (https://api.unpaywall.org/...) as far as the client
and the sources can tell; only the connection goes to 127.0.0.1:PORT over plain
HTTP, with the original Host header and an `x-sandbox-scheme` header.

The HTTP/1.1 protocol is h11's, the sans-IO state machine httpcore itself uses: it
writes the request, parses the response head and its framing (Content-Length,
chunked, up to the close) and decides keep-alive. The connections are ours: asyncio
streams and a last-in-first-out pool of idle keep-alive connections. One server, one
protocol, no TLS, so none of httpcore's generality is needed, and httpcore's pool
(which scans every connection and probes each socket on every request) was the
client's bottleneck at 64+ requests in flight (benchmarks/RESULTS.md). A connection's
error (a reset) goes to its reader alone, and from there to the caller
(`_ReaderProtocol` says why). Errors are httpx's: `ConnectError`, `ConnectTimeout`,
`ReadError`, `ReadTimeout`, `RemoteProtocolError`, so callers cannot tell it from
`httpx.AsyncHTTPTransport`.
"""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import h11
import httpx

__all__ = ["SandboxTransport"]

_CHUNK = 65_536
_MAX_HEADER_BYTES = 256 * 1024
_END = h11.EndOfMessage()


class _ReaderProtocol(asyncio.Protocol):
    """Hands a connection's bytes, its end or its error to its StreamReader, and to
    nothing else. asyncio's own StreamReaderProtocol (behind `open_connection`) also
    puts the error in a close-waiter future for `StreamWriter.wait_closed()`, which no
    one awaits here; only the protocol's `__del__` marks it seen. A reset leaves the
    protocol, that future and the error in a reference cycle, and when the cyclic
    collector finalizes the future first, asyncio reports "Future exception was never
    retrieved" (the fault matrix's reset cells failed so under load, issue 17)."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.reader.set_transport(transport)

    def data_received(self, data: bytes) -> None:
        self.reader.feed_data(data)

    def eof_received(self) -> bool:
        self.reader.feed_eof()
        return True  # keep the transport: `_Conn.usable` sees the end, `_drop` closes it

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is None:
            self.reader.feed_eof()
        else:
            self.reader.set_exception(exc)


class _Conn:
    """One keep-alive HTTP/1.1 connection to the sandbox, with its h11 state."""

    __slots__ = ("reader", "transport", "reused", "h11")

    def __init__(self, reader: asyncio.StreamReader, transport: asyncio.Transport) -> None:
        self.reader = reader
        self.transport = transport
        self.reused = False
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEADER_BYTES)

    @property
    def usable(self) -> bool:
        return not self.transport.is_closing() and not self.reader.at_eof()

    def close(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()


def _pull(proto: h11.Connection, pieces: list[bytes]) -> bool:
    """Collect the body pieces h11 can parse from what has arrived; True at the end."""
    while True:
        event = proto.next_event()
        if isinstance(event, h11.Data):
            pieces.append(event.data)
        elif event is h11.NEED_DATA:
            return False
        elif isinstance(event, h11.EndOfMessage):
            return True
        else:
            raise h11.RemoteProtocolError(f"unexpected {event!r} in a response body")


class _Body(httpx.AsyncByteStream):
    """The response body, parsed off the connection as it arrives; the connection goes
    back to the pool only once h11 has seen the end of the body."""

    def __init__(self, transport: SandboxTransport, conn: _Conn, request: httpx.Request,
                 headers: list[tuple[bytes, bytes]], pieces: list[bytes], *, done: bool,
                 read_timeout: float | None) -> None:
        self._transport = transport
        self._headers = headers
        self._conn: _Conn | None = conn
        self._request = request
        self._pieces = pieces
        self._done = done
        self._read_timeout = read_timeout
        self._yielded = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None:
            return
        proto = conn.h11
        pieces, self._pieces = self._pieces, []
        try:
            while True:
                if pieces:
                    data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
                    pieces = []
                    self._yielded += len(data)
                    # _done is already set when this is the last piece: a reader that
                    # stops at its cap right there still leaves a reusable connection
                    yield bytes(data)
                if self._done:
                    return
                proto.receive_data(await self._read(conn.reader))
                self._done = _pull(proto, pieces)
        except h11.RemoteProtocolError as exc:
            raise httpx.RemoteProtocolError(f"sandbox: {exc}", request=self._request) from None
        except (ConnectionError, OSError) as exc:
            raise httpx.ReadError(f"sandbox: {type(exc).__name__}: {exc}",
                                  request=self._request) from None

    async def _read(self, reader: asyncio.StreamReader) -> bytes:
        if self._read_timeout is None:
            return await reader.read(_CHUNK)
        try:
            async with asyncio.timeout(self._read_timeout):
                return await reader.read(_CHUNK)
        except TimeoutError:
            raise httpx.ReadTimeout("sandbox: read timed out", request=self._request) from None

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        proto = conn.h11
        if not self._done:
            await self._skip_arrived(conn)
        reuse = self._done and proto.our_state is h11.DONE and proto.their_state is h11.DONE
        if reuse:
            proto.start_next_cycle()
        self._transport._release(conn, reuse=reuse)

    async def _skip_arrived(self, conn: _Conn) -> None:
        """Parse off an unread body (a redirect's, an error page's) whose bytes have all
        arrived, so the connection stays reusable; never waits for more."""
        left = self._left()
        if left == 0:  # every byte is in: h11 only has to see the end
            self._done = _pull(conn.h11, [])
            return
        try:
            # a zero timeout: `read` returns at once with what is already buffered (it
            # does not suspend then), and gives up at once when nothing is; what arrived
            # of a longer body is parsed too, and the unfinished connection is dropped
            async with asyncio.timeout(0):
                data = await conn.reader.read(left if left is not None else _CHUNK)
        except TimeoutError:
            return
        except (ConnectionError, OSError):
            self._done = False
            return
        if not data:  # the server closed the connection
            self._done = False
            return
        try:
            conn.h11.receive_data(data)
            self._done = _pull(conn.h11, [])
        except h11.RemoteProtocolError:
            self._done = False

    def _left(self) -> int | None:
        """Body bytes not yet parsed, if the response declared its length."""
        for name, value in self._headers:
            if name.lower() == b"content-length":
                return int(value) - self._yielded - sum(len(p) for p in self._pieces)
        return None


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
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=_MAX_HEADER_BYTES, loop=loop)
        try:
            async with asyncio.timeout(timeout):
                transport, _ = await loop.create_connection(
                    lambda: _ReaderProtocol(reader), self.host, self.port)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"sandbox: connecting to {self.host}:{self.port}"
                                       " timed out", request=request) from None
        except OSError as exc:
            raise httpx.ConnectError(f"sandbox: cannot connect to {self.host}:{self.port}"
                                     f" ({exc}); is the sandbox running?",
                                     request=request) from None
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connections_made += 1
        conn = _Conn(reader, transport)
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
        body = await request.aread()
        head = _request_event(request)
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

    async def _exchange(self, conn: _Conn, request: httpx.Request, head: h11.Request,
                        body: bytes, timeouts: dict[str, float | None]) -> httpx.Response:
        proto = conn.h11
        read_timeout = timeouts.get("read")
        try:
            out = proto.send(head)
            if body:
                out += proto.send(h11.Data(data=body))
            out += proto.send(_END)
        except h11.LocalProtocolError as exc:
            raise httpx.LocalProtocolError(f"sandbox: {exc}", request=request) from None
        received = False
        try:
            conn.transport.write(out)
            async with asyncio.timeout(read_timeout):
                # nothing to parse before the first read
                event: h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED] = h11.NEED_DATA
                while event is h11.NEED_DATA:
                    data = await conn.reader.read(_CHUNK)
                    if not data:
                        if conn.reused and not received:
                            raise _StaleConnection
                        raise httpx.RemoteProtocolError(
                            "sandbox: server disconnected without sending a response",
                            request=request)
                    received = True
                    proto.receive_data(data)
                    event = proto.next_event()
                    while isinstance(event, h11.InformationalResponse):
                        event = proto.next_event()  # 1xx: skipped, as httpcore does
            if not isinstance(event, h11.Response):
                raise h11.RemoteProtocolError(f"unexpected {event!r} instead of a response")
            response = event
            pieces: list[bytes] = []
            done = _pull(proto, pieces)  # the part of the body that came with the head
        except TimeoutError:
            raise httpx.ReadTimeout("sandbox: no answer in time", request=request) from None
        except h11.RemoteProtocolError as exc:
            raise httpx.RemoteProtocolError(f"sandbox: {exc}", request=request) from None
        except (ConnectionError, OSError) as exc:
            if conn.reused and isinstance(exc, (BrokenPipeError, ConnectionResetError)):
                raise _StaleConnection from None
            raise httpx.ReadError(f"sandbox: {type(exc).__name__}: {exc}",
                                  request=request) from None
        headers = response.headers.raw_items()
        stream = _Body(self, conn, request, headers, pieces, done=done,
                       read_timeout=read_timeout)
        return httpx.Response(response.status_code, headers=headers, stream=stream,
                              extensions={"http_version": b"HTTP/" + response.http_version,
                                          "reason_phrase": response.reason})

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


def _request_event(request: httpx.Request) -> h11.Request:
    # httpx puts the Host header on every request; h11 refuses one without it
    headers = request.headers.raw
    headers.append((b"x-sandbox-scheme", request.url.scheme.encode("ascii")))
    try:
        return h11.Request(method=request.method.encode("ascii"), target=request.url.raw_path,
                           headers=headers)
    except h11.LocalProtocolError as exc:
        raise httpx.LocalProtocolError(f"sandbox: {exc}", request=request) from None
