"""A persistent HTTP cache for the metadata APIs, so that a re-run asks them nothing.

RFC 9111 caching (hishel) in a SQLite file, wrapped around the run's transport. Only
GET answers from the metadata hosts are kept, and of those only JSON or XML bodies and
redirects (the DOI resolver's answer): a PDF, an HTML landing page or any other body
is never stored (the download store keeps PDFs). A service's own cache headers decide
first; an answer that carries none is kept for the plan's `cache.max_age` seconds.

A request sent with `Cache-Control: only-if-cached` (offline `cache_only`) is answered
from the cache or refused with a 504, and never reaches the network.

The same directory holds the race book (`RACES_FILE`, record.races): how each work's
race went, so that a re-run asks the APIs only what the first run asked.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

__all__ = [
    "CACHE_FILE",
    "RACES_FILE",
    "CacheError",
    "CachingTransport",
    "HttpCache",
    "cached_answer",
    "default_cache_dir",
    "has_cache",
    "is_metadata_answer",
]

#: the SQLite file inside the cache directory
CACHE_FILE = "http-cache.sqlite"
#: the race book's SQLite file inside the cache directory (record.races)
RACES_FILE = "races.sqlite"
#: statuses a default max-age may make fresh: RFC 9111 §4.2.2's heuristically
#: cacheable ones, plus the redirects through which doi.org answers
_DEFAULTABLE = frozenset({200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 410})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: Cache-Control directives (and Expires) by which a service states freshness itself
_FRESHNESS_DIRECTIVES = ("max-age", "s-maxage", "no-store", "no-cache")
#: the largest body stored (raw bytes): a larger one passes through uncached
MAX_STORED_BYTES = 4_000_000
#: a header the 504 of an uncached `only-if-cached` request carries (it is ours)
NOT_CACHED_HEADER = "x-fallback-kit-cache"


class CacheError(ValueError):
    """The cache cannot be used (not a directory, not a SQLite file)."""


def default_cache_dir() -> Path:
    """The user's cache directory for fallback_kit (platformdirs), where the HTTP
    cache lives unless `--cache DIR` says otherwise."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("fallback-kit"))


def _site(host: str) -> str:
    """A declared host's site: `api.crossref.org` -> `crossref.org`; a two-label host
    (`doi.org`, `arxiv.org`) is its own site."""
    labels = host.lower().split(".")
    return ".".join(labels[1:]) if len(labels) >= 3 else host.lower()


@dataclass(frozen=True, slots=True)
class HttpCache:
    """Where the cache lives, which hosts it covers, and the freshness it gives an
    answer that states none (seconds; 0 keeps only what the service allows)."""

    directory: Path
    hosts: tuple[str, ...]
    max_age_s: int = 86_400

    @property
    def path(self) -> Path:
        return self.directory / CACHE_FILE

    def covers(self, host: str) -> bool:
        """True for a metadata host: a declared host's site or one of its subdomains
        (`export.arxiv.org` for `arxiv.org`, `www.ncbi.nlm.nih.gov` for PMC's host)."""
        host = host.lower()
        return any(host == s or host.endswith("." + s) for s in map(_site, self.hosts))

    def check(self) -> None:
        """Raise CacheError (one line) unless the cache can be opened: before a run,
        not as a logged error on every request."""
        import sqlite3

        for name in (CACHE_FILE, RACES_FILE):
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                with closing(sqlite3.connect(self.directory / name)) as db:
                    db.execute("PRAGMA schema_version").fetchone()
            except (OSError, sqlite3.Error) as exc:
                raise CacheError(
                    f"cache {self.directory}: {exc}; delete {name} there, choose "
                    "another --cache DIR, or run with --no-cache"
                ) from None

    def wrap(self, transport: httpx.AsyncBaseTransport) -> CachingTransport:
        return CachingTransport(transport, self)

    def clear(self) -> None:
        """Forget every stored answer and race (the SQLite files and their journals)."""
        for name in (CACHE_FILE, RACES_FILE):
            for path in self.directory.glob(name + "*"):
                path.unlink(missing_ok=True)


def _only_if_cached(request: httpx.Request) -> bool:
    return "only-if-cached" in request.headers.get("cache-control", "").lower()


def _not_cached(request: httpx.Request) -> httpx.Response:
    """RFC 9111 §5.2.1.7: no stored answer to an `only-if-cached` request is a 504."""
    return httpx.Response(
        504, headers={"Cache-Control": "no-store", NOT_CACHED_HEADER: "miss"}, request=request
    )


def is_metadata_answer(response: httpx.Response, request: httpx.Request) -> bool:
    """A JSON or XML body, a redirect (doi.org's answer), or robots.txt (RFC 9309 §2.4
    lets a crawler keep it for a day)."""
    if response.status_code in _REDIRECTS or request.url.path == "/robots.txt":
        return True
    ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
    return ctype.endswith(("/json", "+json", "/xml", "+xml"))


def _states_freshness(headers: httpx.Headers) -> bool:
    directives = headers.get("cache-control", "").lower()
    return "expires" in headers or any(d in directives for d in _FRESHNESS_DIRECTIVES)


def _mark(response: httpx.Response, request: httpx.Request, max_age_s: int) -> None:
    """Keep the bodies we must not store out of the cache; give a metadata answer that
    states no freshness the plan's max-age."""
    if not is_metadata_answer(response, request):
        response.headers["Cache-Control"] = "no-store"
    elif (max_age_s > 0 and response.status_code in _DEFAULTABLE
          and not _states_freshness(response.headers)):
        given = response.headers.get("cache-control", "").strip()
        response.headers["Cache-Control"] = ", ".join(
            p for p in (given, f"max-age={max_age_s}") if p
        )


async def _read_whole(response: httpx.Response, request: httpx.Request) -> httpx.Response:
    """A storable answer, read whole now: the Fetcher may stop reading early (a
    redirect's body, a capped JSON), and a partly read body is never stored. A body
    over MAX_STORED_BYTES is passed on unread-through and not stored."""
    if response.is_stream_consumed:  # a transport that built the body in memory (mocks)
        headers = response.headers.copy()
        headers.pop("content-encoding", None)  # .content is decoded already
        headers["content-length"] = str(len(response.content))
        return httpx.Response(response.status_code, headers=headers, content=response.content,
                              request=request, extensions=response.extensions)
    chunks: list[bytes] = []
    size = 0
    stream = response.aiter_raw()
    async for chunk in stream:
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_STORED_BYTES:
            response.headers["Cache-Control"] = "no-store"
            return httpx.Response(response.status_code, headers=response.headers,
                                  stream=_Rest(chunks, stream, response),
                                  request=request, extensions=response.extensions)
    await response.aclose()
    return httpx.Response(response.status_code, headers=response.headers,
                          content=b"".join(chunks), request=request,
                          extensions=response.extensions)


class _Rest(httpx.AsyncByteStream):
    """The chunks already read, then the rest of the stream."""

    def __init__(self, head: list[bytes], rest: AsyncIterator[bytes],
                 response: httpx.Response) -> None:
        self.head, self.rest, self.response = head, rest, response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.head:
            yield chunk
        async for chunk in self.rest:
            yield chunk

    async def aclose(self) -> None:
        await self.response.aclose()


class _Upstream(httpx.AsyncBaseTransport):
    """What the cache sends on a miss: the real transport, with marked answers; an
    `only-if-cached` request stops here."""

    def __init__(self, inner: httpx.AsyncBaseTransport, max_age_s: int) -> None:
        self.inner = inner
        self.max_age_s = max_age_s

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if _only_if_cached(request):
            return _not_cached(request)
        response = await self.inner.handle_async_request(request)
        _mark(response, request, self.max_age_s)
        if "no-store" in response.headers.get("cache-control", ""):
            return response
        return await _read_whole(response, request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _LoopSqlite(path: Path) -> Any:  # noqa: N802 - a class built on first use
    """hishel's SQLite storage, called on the event loop itself.

    hishel's async storage sends every SQLite call to a worker thread (anysqlite): a
    cache hit costs a dozen thread hops, about 10 ms under load, serialised, slower than
    the sandbox's answer. The stored answers are small (metadata, read whole), so the
    synchronous storage answers in well under a millisecond on the loop.
    """
    from hishel import AsyncBaseStorage, Entry, SqliteStorage

    class LoopSqlite(AsyncBaseStorage):
        def __init__(self) -> None:
            super().__init__()
            self.sync = SqliteStorage(database_path=path)

        async def create_entry(self, request: Any, response: Any, key: str, *,
                               ttl: float | None = None, tti: float | None = None) -> Any:
            body = b"".join([chunk async for chunk in response.stream])
            entry = self.sync.create_entry(request, replace(response, stream=iter([body])),
                                           key, ttl=ttl, tti=tti)
            return _in_memory(entry, Entry)

        async def get_entries(self, key: str) -> list[Any]:
            return [_in_memory(e, Entry) for e in self.sync.get_entries(key)]

        async def update_headers(self, id: Any, headers: Any) -> None:  # noqa: A002
            self.sync.update_headers(id, headers)

        async def remove_entry(self, id: Any) -> None:  # noqa: A002
            self.sync.remove_entry(id)

        async def close(self) -> None:
            self.sync.close()

    return LoopSqlite()


def _in_memory(entry: Any, entry_type: Any) -> Any:
    """An entry whose body was read from the sync storage (which saves a new body as
    it is read), served as the async stream hishel's transport expects."""
    body = b"".join(entry.response.stream)
    return entry_type(id=entry.id, request=entry.request,
                      response=replace(entry.response, stream=_chunks(body)))


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    yield body


class CachingTransport(httpx.AsyncBaseTransport):
    """The run's transport behind the metadata cache; other hosts pass straight through."""

    def __init__(self, inner: httpx.AsyncBaseTransport, cache: HttpCache) -> None:
        from hishel import CacheOptions
        from hishel.httpx import AsyncCacheTransport

        cache.directory.mkdir(parents=True, exist_ok=True)
        self.inner = inner
        self.cache = cache
        # a private cache: the answers are for this user only (their email is in the URLs)
        self._rfc = AsyncCacheTransport(
            _Upstream(inner, cache.max_age_s),
            storage=_LoopSqlite(cache.path),
            rfc=CacheOptions(shared=False),
        )
        self._filling: set[asyncio.Task[httpx.Response]] = set()

    def _cacheable(self, request: httpx.Request) -> bool:
        """A GET to a metadata host that is not a PDF probe (those ask for a byte range)."""
        return (request.method == "GET" and "range" not in request.headers
                and self.cache.covers(request.url.host))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._cacheable(request):
            return await self._fill(request)
        if _only_if_cached(request):
            return _not_cached(request)
        return await self.inner.handle_async_request(request)

    async def _fill(self, request: httpx.Request) -> httpx.Response:
        """Ask through the cache; a caller that gives up (another source won, a try
        ran out of time) does not stop the answer from being stored: it was asked for
        already, and the next run would only ask again. The run's end stops the rest."""
        task = asyncio.ensure_future(self._rfc.handle_async_request(request))
        self._filling.add(task)
        task.add_done_callback(self._filling.discard)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(_close_unread)
            raise

    async def lookup(self, request: httpx.Request) -> httpx.Response | None:
        """The stored fresh answer to `request`, or None; nothing is sent either way."""
        if not self._cacheable(request):
            return None
        probe = httpx.Request("GET", request.url, extensions=request.extensions,
                              headers=[*request.headers.multi_items(),
                                       ("Cache-Control", "only-if-cached")])
        response = await self._rfc.handle_async_request(probe)
        if NOT_CACHED_HEADER in response.headers:
            await response.aclose()
            return None
        return response

    async def aclose(self) -> None:
        for task in list(self._filling):
            task.cancel()
        await asyncio.gather(*self._filling, return_exceptions=True)
        await self._rfc.aclose()  # closes the inner transport and the storage


def _close_unread(task: asyncio.Task[httpx.Response]) -> None:
    """Nobody is left to read the answer: close it (one too large to store holds a
    connection)."""
    if not task.cancelled() and task.exception() is None:
        asyncio.ensure_future(task.result().aclose())


async def cached_answer(client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response | None:
    """The cache's fresh answer to `request` when the client has a cache, else None.

    The Fetcher asks this before the gates: an answer that sends nothing needs no
    rate-limit turn and says nothing about the host's health.
    """
    transport = getattr(client, "_transport", None)  # httpx has no public accessor
    if not isinstance(transport, CachingTransport):
        return None
    response = await transport.lookup(request)
    if response is not None:
        response.request = request
    return response



def has_cache(client: httpx.AsyncClient) -> bool:
    """True if the client's transport is a metadata cache."""
    return isinstance(getattr(client, "_transport", None), CachingTransport)
