"""PDF downloads: atomic, content-addressed, validated before they get a final name."""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

from fallback_kit.record.downloads import download_for_work, download_pdf, final_path
from fallback_kit.record.store import RunStore
from fallback_kit.web.edge import Edge, NetSettings
from fallback_kit.web.gates import Gates

URL = "https://arxiv.org/pdf/2106.01234"


def make_pdf(lines: int = 80) -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    for i in range(lines):
        pdf.cell(text=f"line {i} of a valid test PDF")
        pdf.ln()
    return bytes(pdf.output())


VALID = make_pdf()


def encrypted(data: bytes, *, user_password: str = "user", algorithm: str = "RC4-128") -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm=algorithm)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def client_for(body: bytes | None = None, *, status: int = 200, stream=None,
               calls: list[str] | None = None) -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        if calls is not None:
            calls.append(str(request.url))
        content = stream() if stream is not None else body
        return httpx.Response(status, content=content,
                              headers={"Content-Type": "application/pdf"})

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def edge(client: httpx.AsyncClient, *, gates: Gates | None = None, **settings) -> Edge:
    """The try's Edge over a mocked web (its names are not looked up by the SSRF guard)."""
    settings.setdefault("trust_transport", True)
    return Edge(client, gates=gates or Gates(), settings=NetSettings(**settings))


def files_in(d: Path) -> list[Path]:
    return sorted(p for p in d.rglob("*") if p.is_file())


async def test_valid_pdf_lands_under_its_sha256(tmp_path: Path) -> None:
    """A valid PDF is kept as dir/ab/<sha256>.pdf with the same bytes, nothing else left."""
    async with client_for(VALID) as client:
        result = await download_pdf(edge(client), URL, tmp_path)
    sha = hashlib.sha256(VALID).hexdigest()
    assert result.ok and result.reason == "" and not result.reused
    assert result.sha256 == sha and result.bytes == len(VALID)
    assert result.path == tmp_path / sha[:2] / f"{sha}.pdf" == final_path(tmp_path, sha)
    assert result.path.read_bytes() == VALID
    assert files_in(tmp_path) == [result.path]


async def test_html_served_as_pdf_is_rejected(tmp_path: Path) -> None:
    """HTML with Content-Type application/pdf is a trap, not a PDF."""
    html = b"<!DOCTYPE html><html><body>Please log in</body></html>" * 50
    async with client_for(html) as client:
        result = await download_pdf(edge(client), URL, tmp_path)
    assert (result.ok, result.reason) == (False, "html_instead_of_pdf")
    assert files_in(tmp_path) == []


async def test_truncated_pdf_is_rejected(tmp_path: Path) -> None:
    """A PDF cut before its %%EOF is rejected and leaves no file."""
    async with client_for(VALID[:-200]) as client:
        result = await download_pdf(edge(client), URL, tmp_path)
    assert (result.ok, result.reason) == (False, "truncated_pdf")
    assert files_in(tmp_path) == []


async def test_trailing_whitespace_after_eof_is_accepted(tmp_path: Path) -> None:
    """Blank lines after %%EOF do not make a PDF truncated."""
    async with client_for(VALID + b"\r\n  \n") as client:
        result = await download_pdf(edge(client), URL, tmp_path)
    assert result.ok


async def test_encrypted_pdf_is_rejected(tmp_path: Path) -> None:
    """A password-protected PDF is not a usable open-access PDF."""
    async with client_for(encrypted(VALID)) as client:
        result = await download_pdf(edge(client), URL, tmp_path)
    assert (result.ok, result.reason) == (False, "encrypted_pdf")
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("algorithm", ["RC4-128", "AES-128", "AES-256"])
async def test_pdf_encrypted_with_an_empty_user_password_is_accepted(
    tmp_path: Path, algorithm: str
) -> None:
    """Publishers encrypt PDFs with an empty user password to set permissions: anyone can
    open such a file, so it is a usable PDF."""
    async with client_for(encrypted(VALID, user_password="", algorithm=algorithm)) as client:
        result = await download_pdf(edge(client), URL, tmp_path)
    assert result.ok, result.reason
    assert len(files_in(tmp_path)) == 1


async def test_small_pdf_is_rejected(tmp_path: Path) -> None:
    """A PDF under min_bytes is too small to be an article."""
    async with client_for(VALID) as client:
        result = await download_pdf(edge(client), URL, tmp_path, min_bytes=len(VALID) + 1)
    assert (result.ok, result.reason) == (False, "too_small")


async def test_unparseable_pdf_is_rejected(tmp_path: Path) -> None:
    """Right magic and %%EOF but no PDF structure: unreadable."""
    body = b"%PDF-1.4\n" + b"garbage " * 300 + b"\n%%EOF\n"
    async with client_for(body) as client:
        result = await download_pdf(edge(client), URL, tmp_path)
    assert (result.ok, result.reason) == (False, "unreadable_pdf")
    assert files_in(tmp_path) == []


async def test_http_error_status_is_reported(tmp_path: Path) -> None:
    """A 404 is reported with its status and writes nothing."""
    async with client_for(b"not found", status=404) as client:
        result = await download_pdf(edge(client), URL, tmp_path)
    assert (result.ok, result.reason, result.status) == (False, "http_404", 404)
    assert files_in(tmp_path) == []


async def test_oversized_body_is_cut_short(tmp_path: Path) -> None:
    """A body over max_bytes is abandoned as too_large."""
    async with client_for(VALID) as client:
        result = await download_pdf(edge(client), URL, tmp_path, max_bytes=500, chunk_size=100)
    assert (result.ok, result.reason) == (False, "too_large")
    assert result.bytes <= 600
    assert files_in(tmp_path) == []


async def test_failure_mid_stream_leaves_no_file(tmp_path: Path) -> None:
    """A connection dropped mid-body gives network_error and no file of any name."""
    async def stream() -> AsyncIterator[bytes]:
        yield VALID[:400]
        yield VALID[400:800]
        raise httpx.ReadError("connection reset by peer")

    async with client_for(stream=stream) as client:
        result = await download_pdf(edge(client), URL, tmp_path)
    assert (result.ok, result.reason) == (False, "network_error")
    assert "connection reset" in result.detail
    assert files_in(tmp_path) == []


async def test_no_final_name_exists_while_streaming(tmp_path: Path) -> None:
    """During the stream only a .part file exists; the .pdf appears only at the end."""
    seen: list[list[str]] = []

    async def stream() -> AsyncIterator[bytes]:
        for i in range(0, len(VALID), 100):
            seen.append([p.name for p in files_in(tmp_path)])
            yield VALID[i : i + 100]
        seen.append([p.name for p in files_in(tmp_path)])

    async with client_for(stream=stream) as client:
        result = await download_pdf(edge(client), URL, tmp_path, chunk_size=100)
    assert result.ok
    assert len(seen) > 5
    for names in seen:
        assert not any(n.endswith(".pdf") for n in names)
    assert all(len(names) == 1 and names[0].endswith(".part") for names in seen[1:])


async def test_cancelled_download_leaves_no_file(tmp_path: Path) -> None:
    """Cancelling a download mid-stream removes its .part file."""
    started = asyncio.Event()

    async def stream() -> AsyncIterator[bytes]:
        yield VALID[:500]
        started.set()
        await asyncio.Event().wait()  # hangs until cancelled
        yield b""

    async with client_for(stream=stream) as client:
        task = asyncio.create_task(download_pdf(edge(client), URL, tmp_path, chunk_size=100))
        await started.wait()
        await asyncio.sleep(0)
        assert [p.suffix for p in files_in(tmp_path)] == [".part"]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert files_in(tmp_path) == []


async def test_same_pdf_twice_is_written_once(tmp_path: Path) -> None:
    """A second download of the same bytes reuses the file and writes nothing."""
    async with client_for(VALID) as client:
        first = await download_pdf(edge(client), URL, tmp_path)
        assert first.path is not None
        mtime = first.path.stat().st_mtime_ns
        second = await download_pdf(edge(client), URL, tmp_path)
    assert second.ok and second.reused and second.path == first.path
    assert first.path.stat().st_mtime_ns == mtime
    assert files_in(tmp_path) == [first.path]


async def test_manifest_skips_the_get_on_a_second_run(tmp_path: Path) -> None:
    """download_for_work records the file; the next call finds it without any request."""
    store = RunStore.create(tmp_path / "run", plan_yaml="p", meta={})
    calls: list[str] = []
    async with client_for(VALID, calls=calls) as client:
        first = await download_for_work(edge(client), store, work_id="w1", url=URL, source="arxiv")
        second = await download_for_work(edge(client), store, work_id="w1", url=URL, source="arxiv")
    assert calls == [URL]
    assert first.ok and not first.reused
    assert second.ok and second.reused and second.reason == "already_downloaded"
    assert second.path == first.path
    assert first.path is not None and first.path.parent.parent == tmp_path / "run" / "pdfs"
    rec = store.download_for("w1")
    assert rec is not None and rec.sha256 == first.sha256 and rec.source == "arxiv"
    store.close()


async def test_redirects_are_followed(tmp_path: Path) -> None:
    """A PDF behind a 302 (PMC's /pdf/ URLs) is downloaded from where it lands."""
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/pdf/"):
            return httpx.Response(302, headers={"Location": "/articles/PMC1/pdf/main.pdf"})
        return httpx.Response(200, content=VALID)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        result = await download_pdf(edge(client), "https://pmc.ncbi.nlm.nih.gov/articles/PMC1/pdf/",
                                    tmp_path)
    assert result.ok and result.path is not None and result.path.read_bytes() == VALID


async def test_download_refuses_a_redirect_to_a_private_address(tmp_path):
    """With the SSRF guard on (the default), a download redirected to 127.0.0.1 is refused
    and never sent."""
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.host == "93.184.215.14":
            return httpx.Response(302, headers={"location": "http://127.0.0.1/secret.pdf"})
        return httpx.Response(200, content=b"%PDF-1.4 secret")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        guarded = Edge(client, gates=Gates(), settings=NetSettings())
        result = await download_pdf(guarded, "https://93.184.215.14/x.pdf", tmp_path)
    assert (result.ok, result.reason) == (False, "unsafe_url")
    assert seen == ["https://93.184.215.14/x.pdf"]
    assert not any(tmp_path.rglob("*.pdf"))


async def test_download_requests_are_counted_on_the_edge(tmp_path: Path) -> None:
    """Every hop of a download (the redirect too) is counted in the try's Edge."""
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/pdf/"):
            return httpx.Response(302, headers={"Location": "/articles/PMC1/pdf/main.pdf"})
        return httpx.Response(200, content=VALID)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        e = edge(client)
        result = await download_pdf(e, "https://pmc.ncbi.nlm.nih.gov/articles/PMC1/pdf/",
                                    tmp_path)
    assert result.ok
    assert (e.requests, e.bytes_read) == (2, len(VALID))


async def test_download_passes_the_hosts_breaker(tmp_path: Path) -> None:
    """A download to a host whose breaker is open is refused before anything is sent."""
    from fallback_kit.web.gates import BreakerConfig

    calls: list[str] = []
    gates = Gates(breaker=BreakerConfig(failure_threshold=1, cooldown_ms=60_000))
    gates.breaker("arxiv.org").record_failure()
    async with client_for(VALID, calls=calls) as client:
        result = await download_pdf(edge(client, gates=gates), URL, tmp_path)
    assert (result.ok, result.reason, calls) == (False, "breaker_open", [])


async def test_download_passes_the_offline_gate(tmp_path: Path) -> None:
    """Offline (metadata only), a download is refused: it is not metadata."""
    calls: list[str] = []
    async with client_for(VALID, calls=calls) as client:
        result = await download_pdf(edge(client, offline="metadata_only"), URL, tmp_path)
    assert (result.ok, result.reason, calls) == (False, "offline_metadata_only", [])


async def test_download_follows_the_edges_redirect_policy(tmp_path: Path) -> None:
    """A download meets the Edge's redirect limit and loop detection."""
    def loop(request: httpx.Request) -> httpx.Response:
        other = "/b.pdf" if request.url.path == "/a.pdf" else "/a.pdf"
        return httpx.Response(302, headers={"Location": other})

    def endless(request: httpx.Request) -> httpx.Response:
        n = int(request.url.params.get("n", "0"))
        return httpx.Response(302, headers={"Location": f"/x.pdf?n={n + 1}"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(loop)) as client:
        looped = await download_pdf(edge(client), "https://a.org/a.pdf", tmp_path)
    async with httpx.AsyncClient(transport=httpx.MockTransport(endless)) as client:
        e = edge(client, max_redirects=3)
        endless_result = await download_pdf(e, "https://a.org/x.pdf", tmp_path)
    assert looped.reason == "redirect_loop"
    assert (endless_result.reason, e.requests) == ("too_many_redirects", 4)


async def test_download_runs_under_the_sources_timeout(tmp_path: Path) -> None:
    """A download that outlasts the try's timeout (the Edge's timeout_s) stops, no file."""
    async def stream() -> AsyncIterator[bytes]:
        yield VALID[:500]
        await asyncio.Event().wait()  # hangs
        yield b""

    async with client_for(stream=stream) as client:
        e = edge(client)
        e.timeout_s = 0.005
        result = await download_pdf(e, URL, tmp_path, chunk_size=100)
    assert (result.ok, result.reason) == (False, "timeout")
    assert files_in(tmp_path) == []


async def test_uppercase_html_is_html_for_downloads(tmp_path: Path) -> None:
    """`<!DOCTYPE HTML><HTML>` (upper case, as older servers write it) is HTML, not a PDF."""
    page = b"<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\"><HTML><BODY>Sign in" + b" " * 2000
    async with client_for(page) as client:
        result = await download_pdf(edge(client), URL, tmp_path)
    assert (result.ok, result.reason) == (False, "html_instead_of_pdf")


async def test_whole_pdf_fetch_through_the_edge() -> None:
    """Edge.fetch_pdf reads the whole file through the gated path with the one verdict; a
    body cut at the cap is truncated, never accepted."""
    async with client_for(VALID) as client:
        e = edge(client)
        whole = await e.fetch_pdf(URL, max_bytes=len(VALID))
        short = await e.fetch_pdf(URL, max_bytes=len(VALID) - 1)
    assert whole.ok and whole.body == VALID and e.requests == 2
    assert (short.ok, short.reason, short.body) == (False, "truncated_pdf", b"")


async def test_whole_pdf_fetch_reads_little_of_an_error_page() -> None:
    """An error answer is judged on its first KiBs (a challenge page is `blocked`)."""
    page = b"<html><title>Just a moment...</title>" + b" " * 500_000
    async with client_for(page, status=403) as client:
        e = edge(client)
        check = await e.fetch_pdf(URL, max_bytes=10_000_000)
    assert (check.ok, check.reason, check.status) == (False, "blocked", 403)
    assert e.bytes_read <= 4096
