"""Sandbox: the simulated web served by uvicorn on 127.0.0.1 in a background thread.

`with Sandbox(world) as sb:` (or `async with`) starts it on an ephemeral port and
stops it cleanly on exit: hanging responses are woken, the server thread is joined
and its socket closed, so nothing leaks between tests.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from types import TracebackType
from typing import Any

import httpx
import uvicorn

from .app import SandboxApp
from .transport import SandboxTransport
from .world import World

__all__ = ["Sandbox"]


def _http_impl() -> str:
    """uvicorn's httptools parser when installed (about twice as fast per request as h11,
    which stays the fallback)."""
    try:
        import httptools  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the environment
        return "h11"
    return "httptools"


class Sandbox:
    """A running simulated scholarly web; see the module docstring."""

    def __init__(self, world: World, *, time_scale: float = 1.0, host: str = "127.0.0.1",
                 port: int = 0, startup_timeout_s: float = 10.0) -> None:
        self.world = world
        self.app = SandboxApp(world, time_scale=time_scale)
        self.host = host
        self._requested_port = port
        self.port: int | None = None
        self.startup_timeout_s = startup_timeout_s
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def time_scale(self) -> float:
        return self.app.time_scale

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("the sandbox is not running: use `with Sandbox(world) as sb:`")
        return f"http://{self.host}:{self.port}"

    def __repr__(self) -> str:
        state = f"on {self.base_url}" if self.running else "stopped"
        return (f"<Sandbox {state} {self.world!r} time_scale={self.time_scale}"
                f" requests={self.app.requests}>")

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> Sandbox:
        """Bind the socket, start uvicorn in a thread, wait until it serves."""
        if self.running:
            return self
        # proto=IPPROTO_TCP so that asyncio sets TCP_NODELAY on accepted connections
        # (without it every response waits ~40 ms for a delayed ACK)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._requested_port))
        except OSError as exc:
            sock.close()
            raise OSError(f"sandbox: cannot bind {self.host}:{self._requested_port} ({exc});"
                          " pick another --port or use 0 for any free port") from exc
        sock.listen(1024)
        sock.set_inheritable(True)
        self._sock = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="off",
            timeout_graceful_shutdown=2, timeout_keep_alive=30, backlog=1024, http=_http_impl(),
        )
        config.load()  # import the protocol modules here, not racing in the server thread
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(target=self._run, args=(server, sock),
                                        name=f"fallback-kit-sandbox:{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout_s
        while not server.started:
            if not self._thread.is_alive():
                self.stop()
                raise RuntimeError("sandbox: the server thread died while starting;"
                                   " see the log above")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"sandbox: not serving after {self.startup_timeout_s} s")
            time.sleep(0.002)
        return self

    def _run(self, server: uvicorn.Server, sock: socket.socket) -> None:
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            await server.serve(sockets=[sock])

        asyncio.run(serve())

    def stop(self, timeout_s: float = 10.0) -> None:
        """Wake hanging responses, ask uvicorn to exit, join its thread, close the socket."""
        server, thread, loop = self._server, self._thread, self._loop
        if server is not None:
            if loop is not None and not loop.is_closed():
                try:
                    loop.call_soon_threadsafe(self.app.stop)
                except RuntimeError:  # the loop closed meanwhile
                    pass
            server.should_exit = True
        if thread is not None:
            thread.join(timeout_s)
            if thread.is_alive():  # pragma: no cover - a stuck server
                if server is not None:
                    server.force_exit = True
                thread.join(timeout_s)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = self._loop = None
        self.app._stop = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    async def __aenter__(self) -> Sandbox:
        return self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.stop()

    # -- clients ---------------------------------------------------------------------
    def transport(self, **kwargs: Any) -> SandboxTransport:
        """An httpx transport that sends every request here, keeping its URL and Host."""
        if self.port is None:
            raise RuntimeError("the sandbox is not running: start it before asking for a"
                               " transport")
        return SandboxTransport(self.host, self.port, **kwargs)

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An httpx.AsyncClient wired to the sandbox (follow_redirects on by default)."""
        kwargs.setdefault("follow_redirects", True)
        return httpx.AsyncClient(transport=self.transport(), **kwargs)

    def reset_counts(self) -> None:
        """Forget which transient failures were served (they will be served again)."""
        self.app.counts.clear()
