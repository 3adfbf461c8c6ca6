"""An httpx transport that delivers every request to the sandbox, URL and Host intact.

The request keeps its real URL (https://api.unpaywall.org/...) as far as the client
and the sources can tell; only the connection goes to 127.0.0.1:PORT over plain
HTTP, with the original Host header and an `x-sandbox-scheme` header.
"""

from __future__ import annotations

import socket
from typing import Any

import httpx

__all__ = ["SandboxTransport"]


class SandboxTransport(httpx.AsyncBaseTransport):
    """Route any http(s) request to the sandbox server at host:port."""

    def __init__(self, host: str, port: int, *, limits: httpx.Limits | None = None,
                 **kwargs: Any) -> None:
        self.host = host
        self.port = port
        self._target = httpx.URL(f"http://{host}:{port}/")
        self._inner = httpx.AsyncHTTPTransport(
            limits=limits or httpx.Limits(max_connections=None, max_keepalive_connections=256),
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"<SandboxTransport -> {self.host}:{self.port}>"

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        target = self._target.copy_with(raw_path=url.raw_path)
        headers = request.headers.copy()
        headers["host"] = url.netloc.decode("ascii")
        headers["x-sandbox-scheme"] = url.scheme
        proxied = httpx.Request(request.method, target, headers=headers, stream=request.stream,
                                extensions=request.extensions)
        return await self._inner.handle_async_request(proxied)

    async def aclose(self) -> None:
        await self._inner.aclose()
