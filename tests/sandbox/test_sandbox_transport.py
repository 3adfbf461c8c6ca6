"""SandboxTransport against a scripted raw HTTP/1.1 server: framing, errors and reuse."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from fallback_kit.sandbox import SandboxTransport

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
URL = "https://api.unpaywall.org/v2/10.5555/x?email=a@b.org"

# an answer: the response's parts, written with a pause between them (an empty part:
# close the connection there); None closes the connection without answering
Answer = tuple[bytes, ...] | None


class RawServer:
    """Answers each request head, in arrival order, with the next scripted answer."""

    def __init__(self, answers: list[Answer]) -> None:
        self.answers = deque(answers)
        self.heads: list[bytes] = []
        self.served: list[int] = []  # the connection number that got each request
        self.port = 0
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: list[asyncio.Task[Any]] = []

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = len(self._writers)
        self._writers.append(writer)
        self._tasks.append(asyncio.current_task())  # type: ignore[arg-type]
        try:
            while True:
                self.heads.append(await reader.readuntil(b"\r\n\r\n"))
                self.served.append(conn)
                answer = self.answers.popleft()
                if answer is None:
                    return
                for i, part in enumerate(answer):
                    if not part:
                        return
                    if i:
                        await asyncio.sleep(0.02)
                    writer.write(part)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def serve(answers: list[Answer]) -> AsyncIterator[tuple[RawServer, httpx.AsyncClient,
                                                               SandboxTransport]]:
    raw = RawServer(answers)
    server = await asyncio.start_server(raw._handle, "127.0.0.1", 0)
    raw.port = server.sockets[0].getsockname()[1]
    transport = SandboxTransport("127.0.0.1", raw.port)
    try:
        async with httpx.AsyncClient(transport=transport) as client:
            yield raw, client, transport
    finally:
        server.close()
        for writer in raw._writers:
            writer.close()
        await asyncio.gather(*raw._tasks)
        await server.wait_closed()


async def test_request_keeps_host_and_tells_the_scheme() -> None:
    """The request line has the path only; Host is the real host, plus x-sandbox-scheme."""
    async with serve([(OK,)]) as (raw, client, _):
        r = await client.get(URL)
    assert r.status_code == 200 and r.text == "hello" and r.http_version == "HTTP/1.1"
    head = raw.heads[0].lower()
    assert head.startswith(b"get /v2/10.5555/x?email=a@b.org http/1.1\r\n")
    assert b"\r\nhost: api.unpaywall.org\r\n" in head
    assert b"\r\nx-sandbox-scheme: https\r\n" in head


async def test_chunked_body_is_reassembled_and_the_connection_reused() -> None:
    """A chunked body sent in pieces arrives whole; the next request reuses the connection."""
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
               b"6;ext=1\r\n world\r\n", b"0\r\n\r\n")
    async with serve([chunked, (OK,)]) as (raw, client, transport):
        first = await client.get(URL)
        second = await client.get(URL)
    assert first.content == b"hello world" and second.content == b"hello"
    assert raw.served == [0, 0] and transport.connections_made == 1


async def test_body_read_exactly_to_its_end_keeps_the_connection() -> None:
    """A reader that stops once it has all 4 KiB of a body leaves the connection reusable."""
    head = b"HTTP/1.1 206 Partial Content\r\nContent-Length: 4096\r\n\r\n"
    async with serve([(head, b"x" * 4096), (OK,)]) as (raw, client, transport):
        async with client.stream("GET", URL) as r:
            got = 0
            async for piece in r.aiter_raw():
                got += len(piece)
                if got >= 4096:
                    break
        assert (await client.get(URL)).text == "hello"
    assert got == 4096 and raw.served == [0, 0] and transport.connections_made == 1


async def test_unread_body_that_has_arrived_keeps_the_connection() -> None:
    """Closing a response whose small body has arrived but was never read reuses the connection."""
    head = b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 9\r\n\r\n"
    async with serve([(head, b"moved to."), (OK,)]) as (raw, client, transport):
        async with client.stream("GET", URL) as r:
            assert r.status_code == 302
            await asyncio.sleep(0.1)  # the body arrives, unread
        assert (await client.get(URL)).text == "hello"
    assert raw.served == [0, 0] and transport.connections_made == 1


async def test_unfinished_body_drops_the_connection() -> None:
    """A body abandoned before its end is never reused: the next request gets a new connection."""
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"
    async with serve([(head, b"x" * 1000), (OK,)]) as (raw, client, transport):
        async with client.stream("GET", URL) as r:
            async for _ in r.aiter_raw():
                break
        assert (await client.get(URL)).text == "hello"
    assert raw.served == [0, 1] and transport.connections_made == 2


async def test_connection_close_is_honoured() -> None:
    """A response with Connection: close is not followed by reuse of its connection."""
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi"
    async with serve([(closing,), (OK,)]) as (raw, client, _):
        assert (await client.get(URL)).text == "hi"
        assert (await client.get(URL)).text == "hello"
    assert raw.served == [0, 1]


async def test_stale_keep_alive_connection_is_retried_once() -> None:
    """An idle connection the server closes instead of answering is retried on a new one."""
    async with serve([(OK,), None, (OK,)]) as (raw, client, transport):
        await client.get(URL)
        assert (await client.get(URL)).text == "hello"
    assert raw.served == [0, 0, 1] and transport.connections_made == 2


@pytest.mark.parametrize("answer", [
    (b"HTTP/1.1 abc OK\r\n\r\n",),
    (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", b""),  # then the server hangs up
    None,  # no answer on a fresh connection
], ids=["status-line", "header-line", "chunk-size", "short-body", "no-answer"])
async def test_malformed_or_missing_response_is_a_remote_protocol_error(
        answer: Answer) -> None:
    """Bad framing or a hang-up mid-response raises httpx.RemoteProtocolError, as httpx does."""
    async with serve([answer]) as (_, client, _):
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(URL)


# ------------------------------------------------ uvicorn's transport, behind one helper


async def test_reset_fault_finds_uvicorns_transport(monkeypatch) -> None:
    """The reset fault reaches the connection's asyncio transport under uvicorn's `send`
    (a private attribute, behind one version-checked helper): on the installed uvicorn
    it is found, so the reset is a real RST and not the fallback's cut-off body."""
    from fallback_kit.contracts.works import Work
    from fallback_kit.sandbox import Sandbox, World
    from fallback_kit.sandbox import app as app_module

    found: list[Any] = []
    real = app_module.uvicorn_transport

    def spy(send: Any) -> Any:
        found.append(real(send))
        return found[-1]

    monkeypatch.setattr(app_module, "uvicorn_transport", spy)
    doi = "10.1186/1758-2946-3-47"
    world = World.build([Work.create("w", doi=doi)], seed=1, faults={"reset": 1.0})
    async with Sandbox(world, time_scale=0.0) as sb:
        async with httpx.AsyncClient(transport=sb.transport()) as client:
            with pytest.raises(httpx.TransportError):
                await client.get(f"https://api.unpaywall.org/v2/{doi}?email=team@example.org")
    assert found and all(isinstance(t, asyncio.Transport) for t in found)


@pytest.mark.parametrize("version,usable", [
    ("0.54.0", True), ("0.29.0", True), ("0.28.9", False), ("1.0.0", False), ("dev", False),
])
def test_uvicorn_transport_is_used_only_on_known_releases(monkeypatch, version, usable):
    """On a uvicorn release the helper does not know, it finds nothing (the sandbox then
    falls back to cutting the body), whatever the object looks like."""
    import uvicorn

    from fallback_kit.sandbox.app import uvicorn_transport

    class Cycle:
        transport = asyncio.Transport()

        async def send(self, message: Any) -> None:
            pass

    monkeypatch.setattr(uvicorn, "__version__", version)
    cycle = Cycle()
    assert (uvicorn_transport(cycle.send) is cycle.transport) is usable
    assert uvicorn_transport(lambda message: None) is None
