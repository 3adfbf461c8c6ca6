"""A connection reset reaches the caller once, as httpx.ReadError, and leaves nothing behind.

The fault matrix's reset cells failed now and then under load with "loop error: Future
exception was never retrieved" (issue 17). The cause: asyncio's StreamReaderProtocol keeps
a close waiter future for `StreamWriter.wait_closed()`; a reset puts the
ConnectionResetError in it, nobody awaits it, and only the protocol's `__del__` marks it
seen. After a reset, protocol, future and error sit in a reference cycle, so the cyclic
collector frees them, in an order it does not promise: when it finalizes the future
first, asyncio reports the error as never retrieved. These tests play that unlucky order
directly (`fault_matrix.finalize_unretrieved`, which the matrix's cells now use too), so
they do not depend on when, or in what order, the collector runs.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import fault_matrix as fm  # tests/reliability is on sys.path (pytest's rootdir-less import)
import httpx
import pytest

from fallback_kit.contracts.works import Work
from fallback_kit.sandbox import Sandbox, SandboxTransport, World

URL = "https://api.unpaywall.org/v2/10.5555/reset.1?email=a@b.org"
HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"


def _reset(writer: asyncio.StreamWriter) -> None:
    """Send an RST (linger 0, then abort), as the sandbox's reset fault does."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@asynccontextmanager
async def resetting_server(*, after_head: asyncio.Event | None = None) -> AsyncIterator[int]:
    """A server that resets each connection once the request has arrived: at once, or
    (with `after_head`) after sending a response head and waiting for the event."""
    handlers: list[asyncio.Task[Any]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        await reader.readuntil(b"\r\n\r\n")
        if after_head is not None:
            writer.write(HEAD + b"x" * 10)
            await writer.drain()
            await after_head.wait()
        _reset(writer)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()


def unretrieved_reports() -> list[str]:
    """What the running loop reports when every future of it that holds an exception
    nobody retrieved is finalized now (as the collector may, before its owner)."""
    loop = asyncio.get_running_loop()
    reported: list[str] = []
    old = loop.get_exception_handler()
    loop.set_exception_handler(
        lambda _loop, ctx: reported.append(f"{ctx.get('message')}: {ctx.get('exception')!r}"))
    try:
        fm.finalize_unretrieved(loop)
    finally:
        loop.set_exception_handler(old)
    return reported


async def test_reset_before_the_answer_is_reported_to_the_caller_only() -> None:
    """A reset instead of an answer: ReadError for the caller, no future left holding it."""
    async with resetting_server() as port:
        async with httpx.AsyncClient(transport=SandboxTransport("127.0.0.1", port)) as client:
            with pytest.raises(httpx.ReadError, match="ConnectionResetError"):
                await client.get(URL)
    assert unretrieved_reports() == []


async def test_reset_in_the_body_is_reported_to_the_caller_only() -> None:
    """A reset after the head, while the body is read: ReadError, no future left holding it."""
    head_read = asyncio.Event()
    async with resetting_server(after_head=head_read) as port:
        async with httpx.AsyncClient(transport=SandboxTransport("127.0.0.1", port)) as client:
            async with client.stream("GET", URL) as response:
                assert response.status_code == 200
                head_read.set()
                with pytest.raises(httpx.ReadError, match="ConnectionResetError"):
                    await response.aread()
    assert unretrieved_reports() == []


async def test_sandbox_reset_fault_is_reported_to_the_caller_only() -> None:
    """The sandbox's own reset fault (what the fault matrix meets), end to end."""
    work = Work(work_id="w", doi="10.5555/reset.1")
    world = World.build([work], seed=3, faults={"all": 0.0, "reset": 1.0})
    async with Sandbox(world, time_scale=0.0) as sandbox:
        async with sandbox.client() as client:
            with pytest.raises(httpx.ReadError):
                await client.get(URL)
    assert unretrieved_reports() == []
