"""Download a PDF to a content-addressed file, atomically, and only if it is a real PDF.

The body streams into a `.part` file in the destination directory while being hashed;
only after it passes every check (magic bytes, `%%EOF`, size, no password needed, pypdf
opens it) is it renamed to `DIR/ab/abcdef….pdf` (its sha256). So a final name always
holds a whole, valid PDF; a crash or a failed check leaves nothing (the `.part` file
is removed). Content addressing makes a second run write nothing new, and the store's
manifest (`RunStore.download_for`) lets it skip the GET altogether.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from .store import DownloadRecord, RunStore

__all__ = [
    "DownloadResult",
    "clean_stale_parts",
    "download_for_work",
    "download_pdf",
    "final_path",
    "validate_pdf_file",
]

_TAIL = 1024  # bytes kept from the end of the stream for the %%EOF check
_WHITESPACE = b" \t\r\n\x00\x0c"


@dataclass(frozen=True, slots=True, kw_only=True)
class DownloadResult:
    """What a download gave: `ok` with the file's path and sha256, or a `reason` why not.

    Reasons: `html_instead_of_pdf`, `not_a_pdf`, `truncated_pdf`, `encrypted_pdf`,
    `too_small`, `too_large`, `unreadable_pdf`, `http_<status>`, `network_error`.
    `reused` is True when the file was already there (nothing written).
    """

    ok: bool
    reason: str = ""
    sha256: str | None = None
    bytes: int = 0
    path: Path | None = None
    url: str = ""
    status: int | None = None
    reused: bool = False
    detail: str = ""


def final_path(dest_dir: str | os.PathLike[str], sha256: str) -> Path:
    """Where a PDF with this sha256 lives: `dest_dir/ab/abcdef….pdf`."""
    return Path(dest_dir) / sha256[:2] / f"{sha256}.pdf"


def _looks_like_html(head: bytes) -> bool:
    start = head.lstrip(_WHITESPACE + b"\xef\xbb\xbf").lower()
    return start.startswith(b"<") or b"<html" in head.lower()


def validate_pdf_file(path: Path, *, head: bytes, tail: bytes, size: int, min_bytes: int) -> str:
    """Return '' if the file is a whole, readable PDF that opens without a password,
    else the reason."""
    if not head.startswith(b"%PDF-"):
        return "html_instead_of_pdf" if _looks_like_html(head) else "not_a_pdf"
    if not tail.rstrip(_WHITESPACE).endswith(b"%%EOF"):
        return "truncated_pdf"
    if size < min_bytes:
        return "too_small"
    try:
        from pypdf import PdfReader

        reader = PdfReader(path, strict=False)
        # publishers often encrypt with an empty user password (to set permissions): such
        # a file opens for anyone, so only a PDF that needs a password is refused
        if reader.is_encrypted and not reader.decrypt(""):
            return "encrypted_pdf"
        if len(reader.pages) < 1:
            return "unreadable_pdf"
    except Exception:
        return "unreadable_pdf"
    return ""


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@asynccontextmanager
async def _open(
    client: httpx.AsyncClient, url: str, guard: Callable[[str], Awaitable[None]] | None,
    limit: int,
) -> AsyncIterator[httpx.Response]:
    """The streamed response for `url`; with a guard, redirects are followed hop by hop
    and every hop must pass it (raises _Refused)."""
    if guard is None:
        async with client.stream("GET", url, follow_redirects=True) as response:
            yield response
        return
    seen = {url}
    for _ in range(limit + 1):
        try:
            await guard(url)
        except httpx.HTTPError:
            raise  # cannot resolve the name: a network error, not a refusal
        except Exception as exc:  # the guard's GateClosed
            raise _Refused(getattr(exc, "reason", "unsafe_url")) from None
        async with client.stream("GET", url, follow_redirects=False) as response:
            location = response.headers.get("location")
            if not (response.is_redirect and location):
                yield response
                return
        url = str(httpx.URL(url).join(location))
        if url in seen:
            raise _Refused("redirect_loop")
        seen.add(url)
    raise _Refused("too_many_redirects")


async def download_pdf(
    client: httpx.AsyncClient,
    url: str,
    dest_dir: str | os.PathLike[str],
    *,
    min_bytes: int = 1024,
    max_bytes: int = 100_000_000,
    chunk_size: int = 64 * 1024,
    guard: Callable[[str], Awaitable[None]] | None = None,
    max_redirects: int = 10,
) -> DownloadResult:
    """GET `url` and keep the body as `dest_dir/ab/<sha256>.pdf` if it is a valid PDF.

    Never raises for network or content problems: they come back as `ok=False` with a
    reason. Cancellation is honoured and leaves no file behind. With `guard` (live mode:
    `Fetcher.check_public_url`), redirects are followed hop by hop and every hop must
    pass it (reason `unsafe_url` otherwise).
    """

    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    part = dest / f".{os.getpid()}-{secrets.token_hex(8)}.part"
    digest = hashlib.sha256()
    size = 0
    head = b""
    tail = b""
    status: int | None = None
    try:
        try:
            with part.open("wb") as fh:
                async with _open(client, url, guard, max_redirects) as response:
                    status = response.status_code
                    if not response.is_success:
                        return DownloadResult(ok=False, reason=f"http_{status}", url=url,
                                              status=status)
                    async for chunk in response.aiter_bytes(chunk_size):
                        if not chunk:
                            continue
                        size += len(chunk)
                        if size > max_bytes:
                            return DownloadResult(ok=False, reason="too_large", url=url,
                                                  status=status, bytes=size)
                        if len(head) < 1024:
                            head += chunk[: 1024 - len(head)]
                            if len(head) >= 5 and not head.startswith(b"%PDF-"):
                                # HTML (a viewer, a paywall) served as the PDF: stop reading
                                reason = "html_instead_of_pdf" if _looks_like_html(head) else (
                                    "not_a_pdf")
                                return DownloadResult(ok=False, reason=reason, url=url,
                                                      status=status, bytes=size)
                        digest.update(chunk)
                        fh.write(chunk)
                        tail = (tail + chunk)[-_TAIL:]
        except httpx.HTTPError as exc:
            return DownloadResult(ok=False, reason="network_error", url=url, status=status,
                                  bytes=size, detail=f"{type(exc).__name__}: {exc}")
        except _Refused as exc:
            return DownloadResult(ok=False, reason=exc.reason, url=url, status=status)
        reason = await asyncio.to_thread(
            validate_pdf_file, part, head=head, tail=tail, size=size, min_bytes=min_bytes
        )
        if reason:
            return DownloadResult(ok=False, reason=reason, url=url, status=status, bytes=size)
        sha = digest.hexdigest()
        final = final_path(dest, sha)
        if final.exists():
            return DownloadResult(ok=True, sha256=sha, bytes=size, path=final, url=url,
                                  status=status, reused=True)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(part, final)
        return DownloadResult(ok=True, sha256=sha, bytes=size, path=final, url=url, status=status)
    finally:
        part.unlink(missing_ok=True)


async def download_for_work(
    client: httpx.AsyncClient,
    store: RunStore,
    *,
    work_id: str,
    url: str,
    dest_dir: str | os.PathLike[str] | None = None,
    source: str | None = None,
    version: str | None = None,
    license: str | None = None,
    min_bytes: int = 1024,
    max_bytes: int = 100_000_000,
    guard: Callable[[str], Awaitable[None]] | None = None,
    record: bool = True,
) -> DownloadResult:
    """Download a work's PDF once: skip the GET if the manifest already has its file,
    else download into `dest_dir` (default `<run dir>/pdfs`) and record it (unless
    `record=False`: the caller records it once it knows this file won)."""
    known = store.download_for(work_id)
    if known is not None and Path(known.path).is_file():
        return DownloadResult(ok=True, reason="already_downloaded", sha256=known.sha256,
                              bytes=known.bytes, path=Path(known.path), url=known.url or url,
                              reused=True)
    target = dest_dir if dest_dir is not None else store.dir / "pdfs"
    result = await download_pdf(client, url, target, min_bytes=min_bytes, max_bytes=max_bytes,
                                guard=guard)
    if record and result.ok and result.path is not None and result.sha256 is not None:
        store.record_download(DownloadRecord(
            work_id=work_id, sha256=result.sha256, bytes=result.bytes, path=str(result.path),
            source=source, url=url, version=version, license=license,
        ))
    return result


def clean_stale_parts(dest_dir: str | os.PathLike[str]) -> int:
    """Remove the `.part` files that killed runs left in `dest_dir`; returns how many.

    A `.part` name starts with the pid of its writer: one whose process is gone is
    stale, one of a live process (another run sharing the folder) is left alone.
    """
    dest = Path(dest_dir)
    if not dest.is_dir():
        return 0
    removed = 0
    for part in dest.glob(".*.part"):
        pid = part.name[1:].partition("-")[0]
        if pid.isdigit() and _alive(int(pid)):
            continue
        try:
            part.unlink()
            removed += 1
        except OSError:
            pass  # not ours to remove: leave it
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # exists (another user's) or cannot tell: keep its file
    return True
