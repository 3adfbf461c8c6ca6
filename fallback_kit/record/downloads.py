"""Download a PDF to a content-addressed file, atomically, and only if it is a real PDF.

The body streams through the try's Edge (`web.edge`: the one gated path, so every
redirect hop passes the gates and the SSRF guard, every request is counted, and the
source's timeout bounds the download) into a `.part` file in the destination
directory while being hashed; only after it passes every check (the one PDF verdict,
`web.edge.classify_pdf_bytes`, on its head and tail; size; no password needed; pypdf
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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx

from ..contracts.plan import AcceptPolicy
from ..web.edge import Edge, NetError, RedirectError, classify_pdf_bytes, pdf_head_decided
from ..web.gates import GateClosed
from .store import DownloadRecord, RunStore

__all__ = [
    "DownloadResult",
    "clean_stale_parts",
    "download_for_work",
    "download_pdf",
    "final_path",
    "save_pdf_bytes",
    "validate_pdf_file",
]

_TAIL = 1024  # bytes kept from the end of the stream for the %%EOF check
_HEAD = 2048  # enough for the PDF verdict on the start of a file (pdf_head_decided)
_ERROR_PAGE_BYTES = 4096  # read of an error page, to tell a bot challenge from a plain error
MIN_BYTES = 1024  # a smaller "PDF" is a stub or a cover page, not a paper
MAX_BYTES = AcceptPolicy().max_pdf_bytes  # the plan's own default, written once there


@dataclass(frozen=True, slots=True, kw_only=True)
class DownloadResult:
    """What a download gave: `ok` with the file's path and sha256, or a `reason` why not.

    Reasons: the PDF verdict's (`html_instead_of_pdf`, `not_pdf`, `truncated_pdf`,
    `empty_body`, `blocked`, `http_<status>`), `encrypted_pdf`, `too_small`,
    `too_large`, `unreadable_pdf`, a gate's (`unsafe_url`, `offline`, `breaker_open`,
    ...), a redirect error's (`redirect_loop`, `too_many_redirects`), `timeout`,
    `network_error`, `bad_response`. `reused` is True when the file was already there
    (nothing written).
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


def validate_pdf_file(path: Path, *, head: bytes, tail: bytes, size: int, min_bytes: int) -> str:
    """Return '' if the file is a whole, readable PDF that opens without a password,
    else the reason."""
    verdict = classify_pdf_bytes(head, status=200, complete=True, tail=tail)
    if verdict != "ok":
        return verdict
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


@dataclass(slots=True)
class _Streamed:
    """What came off the wire so far (kept when the stream breaks)."""

    status: int | None = None
    size: int = 0
    head: bytes = b""
    tail: bytes = b""
    reason: str = ""
    digest: Any = field(default_factory=hashlib.sha256)


async def _stream_to(
    edge: Edge, url: str, part: Path, got: _Streamed, *, max_bytes: int, chunk_size: int
) -> None:
    """Stream `url` into `part`, stopping early (with `got.reason`) on an error status,
    a body that is not a PDF from its first KiB, or one longer than `max_bytes`."""
    with part.open("wb") as fh:
        async with edge.stream(url) as response:
            got.status = status = response.status
            if not 200 <= status < 300:
                page = await response.read(_ERROR_PAGE_BYTES)
                got.reason = classify_pdf_bytes(page, status=status, complete=False)
                return
            async for chunk in response.chunks(max_bytes + 1, chunk_size):
                got.size += len(chunk)
                if got.size > max_bytes:
                    got.reason = "too_large"
                    return
                if not pdf_head_decided(got.head):
                    got.head = (got.head + chunk)[:_HEAD]
                    if pdf_head_decided(got.head):
                        # HTML (a viewer, a paywall) served as the PDF: stop reading
                        verdict = classify_pdf_bytes(got.head, status=status, complete=False)
                        if verdict != "ok":
                            got.reason = verdict
                            return
                got.digest.update(chunk)
                fh.write(chunk)
                got.tail = (got.tail + chunk)[-_TAIL:]


async def download_pdf(
    edge: Edge,
    url: str,
    dest_dir: str | os.PathLike[str],
    *,
    min_bytes: int = MIN_BYTES,
    max_bytes: int = MAX_BYTES,
    chunk_size: int = 64 * 1024,
) -> DownloadResult:
    """GET `url` through `edge` and keep the body as `dest_dir/ab/<sha256>.pdf` if it is
    a valid PDF.

    Never raises for network, gate or content problems: they come back as `ok=False`
    with a reason. Cancellation is honoured and leaves no file behind.
    """
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    part = _part_path(dest)
    got = _Streamed()
    try:
        failure = await _fetch_into(edge, url, part, got, max_bytes=max_bytes,
                                    chunk_size=chunk_size)
        if failure is not None:
            return failure
        reason = got.reason or await asyncio.to_thread(
            validate_pdf_file, part, head=got.head, tail=got.tail, size=got.size,
            min_bytes=min_bytes,
        )
        if reason:
            return _failed(url, got, reason)
        return _keep(part, dest, sha=got.digest.hexdigest(), size=got.size, url=url,
                     status=got.status)
    finally:
        part.unlink(missing_ok=True)


async def _fetch_into(
    edge: Edge, url: str, part: Path, got: _Streamed, *, max_bytes: int, chunk_size: int
) -> DownloadResult | None:
    """Run the stream; a DownloadResult naming the trouble if it broke, else None."""
    try:
        await _stream_to(edge, url, part, got, max_bytes=max_bytes, chunk_size=chunk_size)
    except (GateClosed, RedirectError) as exc:  # a gate's reason; a loop, too many hops
        return _failed(url, got, exc.reason, exc)
    except httpx.HTTPError as exc:
        return _failed(url, got, "network_error", exc)
    except TimeoutError as exc:
        return _failed(url, got, "timeout", exc)
    except NetError as exc:  # a body that does not decode as it says
        return _failed(url, got, "bad_response", exc)
    return None


def _failed(url: str, got: _Streamed, reason: str, exc: BaseException | None = None
            ) -> DownloadResult:
    """A download that kept no file: why, and how far it got (status, bytes read)."""
    detail = f"{type(exc).__name__}: {exc}" if exc is not None else ""
    return DownloadResult(ok=False, reason=reason, url=url, status=got.status,
                          bytes=got.size, detail=detail)


def _keep(part: Path, dest: Path, *, sha: str, size: int, url: str, status: int | None
          ) -> DownloadResult:
    """Give the validated `.part` file its content-addressed name, or reuse the file
    already there (then nothing is written)."""
    final = final_path(dest, sha)
    kept = DownloadResult(ok=True, sha256=sha, bytes=size, path=final, url=url, status=status)
    if final.exists():
        return replace(kept, reused=True)
    final.parent.mkdir(exist_ok=True)  # `dest` itself was made by the caller
    os.replace(part, final)
    return kept


def _part_path(dest: Path) -> Path:
    """A fresh `.part` name in `dest`, led by this process's id so that a later run can
    tell a killed writer's leftovers (`clean_stale_parts`) from a live one's."""
    return dest / f".{os.getpid()}-{secrets.token_hex(8)}.part"


def save_pdf_bytes(
    body: bytes, dest_dir: str | os.PathLike[str], *, url: str = "", min_bytes: int = MIN_BYTES
) -> DownloadResult:
    """Keep bytes already fetched (by the right-paper check) as `dest_dir/ab/<sha256>.pdf`,
    under the same checks and the same atomic rename as `download_pdf`."""
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    part = _part_path(dest)
    try:
        part.write_bytes(body)
        reason = validate_pdf_file(part, head=body[:_HEAD], tail=body[-_TAIL:], size=len(body),
                                   min_bytes=min_bytes)
        if reason:
            return DownloadResult(ok=False, reason=reason, url=url, bytes=len(body))
        return _keep(part, dest, sha=hashlib.sha256(body).hexdigest(), size=len(body), url=url,
                     status=None)
    finally:
        part.unlink(missing_ok=True)


async def download_for_work(
    edge: Edge,
    store: RunStore,
    *,
    work_id: str,
    url: str,
    dest_dir: str | os.PathLike[str] | None = None,
    source: str | None = None,
    version: str | None = None,
    license: str | None = None,
    min_bytes: int = MIN_BYTES,
    max_bytes: int = MAX_BYTES,
    body: bytes | None = None,
    record: bool = True,
) -> DownloadResult:
    """Download a work's PDF once: skip the GET if the manifest already has its file,
    else download into `dest_dir` (default `<run dir>/pdfs`) and record it (unless
    `record=False`: the caller records it once it knows this file won). `body`, the
    bytes the right-paper check already read, is kept without a second GET."""
    known = store.download_for(work_id)
    if known is not None and Path(known.path).is_file():
        return DownloadResult(ok=True, reason="already_downloaded", sha256=known.sha256,
                              bytes=known.bytes, path=Path(known.path), url=known.url or url,
                              reused=True)
    target = dest_dir if dest_dir is not None else store.dir / "pdfs"
    if body is not None:
        result = await asyncio.to_thread(save_pdf_bytes, body, target, url=url,
                                         min_bytes=min_bytes)
    else:
        result = await download_pdf(edge, url, target, min_bytes=min_bytes, max_bytes=max_bytes)
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
