"""Rules of PDF downloads that callers rely on, each pinned by a test (issue 17).

The main download tests are in test_downloads.py (whose mocked web they reuse); these
pin the exact results: the fields of a kept, reused or refused download, the size
limits at their boundaries, what an error status or an HTML page costs, and what the
download manifest records and returns.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fpdf import FPDF
from pypdf import PdfWriter
from test_downloads import URL, VALID, client_for, edge, files_in

from fallback_kit.record.downloads import (
    MIN_BYTES,
    DownloadResult,
    clean_stale_parts,
    download_for_work,
    download_pdf,
    final_path,
    save_pdf_bytes,
    validate_pdf_file,
)
from fallback_kit.record.store import DownloadRecord, RunStore

PAGES = Path(__file__).parent / "fixtures" / "pages"
# a paywalled article page, as a publisher serves it at a link that promised the PDF
PAYWALL_PAGE = (PAGES / "sciencedirect" / "papis_S0009261497040141_paywalled_refs_pdfs.html")
CHALLENGE_PAGE = PAGES / "acs" / "papis_2023_jp003647e_cloudflare_challenge.html"
OTHER_URL = "https://export.arxiv.org/pdf/2106.01234v2"


def sha256_of(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def padded_pdf(size: int) -> bytes:
    """A whole one-page PDF of exactly `size` bytes (blank lines after %%EOF, which
    readers allow)."""
    pdf = FPDF()
    pdf.add_page()
    body = bytes(pdf.output())
    assert len(body) <= size
    return body + b"\n" * (size - len(body))


def one_page_pdf(text: str) -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text=text)
    return bytes(pdf.output())


def in_one_piece(body: bytes):
    """A streamed body that arrives from the network as one piece."""
    async def stream() -> AsyncIterator[bytes]:
        yield body

    return stream


# ---- what a download reports --------------------------------------------------------


async def test_a_kept_pdf_is_reported_exactly_then_reused(tmp_path: Path) -> None:
    """A kept PDF reports its sha256, size, final path, URL and status; the same bytes
    again report the same, marked reused."""
    sha = sha256_of(VALID)
    kept = DownloadResult(ok=True, sha256=sha, bytes=len(VALID), path=final_path(tmp_path, sha),
                          url=URL, status=200)
    async with client_for(VALID) as client:
        first = await download_pdf(edge(client), URL, tmp_path)
        second = await download_pdf(edge(client), URL, tmp_path)
    assert first == kept
    assert second == DownloadResult(**{**_fields(kept), "reused": True})


def _fields(result: DownloadResult) -> dict:
    return {name: getattr(result, name) for name in DownloadResult.__slots__}


async def test_a_pdf_joins_a_folder_other_pdfs_already_use(tmp_path: Path) -> None:
    """Two PDFs whose sha256 start alike share the `ab/` folder: the second is kept too."""
    final = final_path(tmp_path, sha256_of(VALID))
    final.parent.mkdir()
    (final.parent / "another.pdf").write_bytes(b"%PDF-")
    async with client_for(VALID) as client:
        result = await download_pdf(edge(client), URL, tmp_path)
    assert result.ok and not result.reused and final.read_bytes() == VALID


async def test_a_download_makes_its_destination_folders(tmp_path: Path) -> None:
    """The destination and its missing parents are made as needed."""
    dest = tmp_path / "run" / "pdfs"
    async with client_for(VALID) as client:
        result = await download_pdf(edge(client), URL, dest)
    assert result.ok and result.path == final_path(dest, sha256_of(VALID))


async def test_a_refused_download_reports_how_far_it_got(tmp_path: Path) -> None:
    """A PDF refused after the whole body came (here: too small) reports the status and
    bytes read, and no detail: it is no error of the network."""
    async with client_for(VALID) as client:
        result = await download_pdf(edge(client), URL, tmp_path, min_bytes=len(VALID) + 1)
    assert result == DownloadResult(ok=False, reason="too_small", url=URL, status=200,
                                    bytes=len(VALID))
    assert files_in(tmp_path) == []


async def test_a_stream_broken_midway_reports_the_error_and_the_bytes_read(
    tmp_path: Path,
) -> None:
    """A connection reset mid-body: network_error, status 200, the bytes that came, and
    the error itself as the detail."""
    async def stream() -> AsyncIterator[bytes]:
        yield VALID[:400]
        yield VALID[400:800]
        raise httpx.ReadError("connection reset by peer")

    async with client_for(stream=stream) as client:
        result = await download_pdf(edge(client), URL, tmp_path, chunk_size=100)
    assert result == DownloadResult(ok=False, reason="network_error", url=URL, status=200,
                                    bytes=800, detail="ReadError: connection reset by peer")


async def test_a_gate_or_a_redirect_refusal_keeps_its_reason_and_error(tmp_path: Path) -> None:
    """A closed gate and a refused redirect give their own reason, nothing read, and the
    error as the detail."""
    def loop(request: httpx.Request) -> httpx.Response:
        other = "/b.pdf" if request.url.path == "/a.pdf" else "/a.pdf"
        return httpx.Response(302, headers={"Location": other})

    async with client_for(VALID) as client:
        offline = await download_pdf(edge(client, offline="metadata_only"), URL, tmp_path)
    async with httpx.AsyncClient(transport=httpx.MockTransport(loop)) as client:
        looped = await download_pdf(edge(client), "https://a.org/a.pdf", tmp_path)
    assert (offline.reason, offline.status, offline.bytes, offline.url) == (
        "offline_metadata_only", None, 0, URL)
    assert offline.detail.startswith("GateClosed: ")
    assert (looped.reason, looped.status, looped.bytes) == ("redirect_loop", None, 0)
    assert looped.detail.startswith("RedirectLoop: ")


async def test_a_timeout_names_the_error(tmp_path: Path) -> None:
    """A download that outlasts the try's time keeps what it read and says why."""
    async def stream() -> AsyncIterator[bytes]:
        yield VALID[:500]
        await asyncio.Event().wait()  # hangs
        yield b""

    async with client_for(stream=stream) as client:
        e = edge(client)
        e.timeout_s = 0.005
        result = await download_pdf(e, URL, tmp_path, chunk_size=100)
    assert (result.reason, result.status, result.bytes, result.url) == ("timeout", 200, 500, URL)
    assert result.detail.startswith("TimeoutError: ")


# ---- sizes at their limits ----------------------------------------------------------


async def test_the_least_pdf_kept_by_default_is_one_kib(tmp_path: Path) -> None:
    """By default a PDF of 1024 bytes is kept and one of 1023 is `too_small`, whether it
    is downloaded or saved from bytes already read."""
    assert MIN_BYTES == 1024
    least, under = padded_pdf(1024), padded_pdf(1023)
    assert save_pdf_bytes(least, tmp_path / "saved").ok
    assert save_pdf_bytes(under, tmp_path / "saved").reason == "too_small"
    async with client_for(least) as client:
        assert (await download_pdf(edge(client), URL, tmp_path / "got")).ok
    async with client_for(under) as client:
        result = await download_pdf(edge(client), URL, tmp_path / "got")
    assert result.reason == "too_small"


async def test_max_bytes_is_the_largest_body_kept_and_one_more_is_read(
    tmp_path: Path,
) -> None:
    """A body of exactly max_bytes is kept; a longer one is `too_large` after reading
    max_bytes + 1 bytes (the one that tells it is longer), no more."""
    async with client_for(VALID) as client:
        whole = await download_pdf(edge(client), URL, tmp_path, max_bytes=len(VALID))
        e = edge(client)
        cut = await download_pdf(e, URL, tmp_path, max_bytes=len(VALID) - 2)
    assert whole.ok
    assert (cut.reason, cut.bytes, cut.status) == ("too_large", len(VALID) - 1, 200)
    assert e.bytes_read == len(VALID) - 1


async def test_an_html_page_served_as_the_pdf_is_given_up_after_its_first_kib(
    tmp_path: Path,
) -> None:
    """A publisher's page at the PDF link (even arriving in one piece) is read in
    chunk_size pieces only until its start decides it: not the whole page."""
    page = PAYWALL_PAGE.read_bytes()
    async with client_for(stream=in_one_piece(page)) as client:
        result = await download_pdf(edge(client), URL, tmp_path, chunk_size=512)
    assert (result.reason, result.status, result.detail) == ("html_instead_of_pdf", 200, "")
    assert result.bytes <= 2048 < len(page)  # %PDF- must open the first KiB: 1,029 bytes decide
    assert files_in(tmp_path) == []


# ---- error statuses ------------------------------------------------------------------


async def test_a_challenge_page_with_403_is_blocked(tmp_path: Path) -> None:
    """A bot challenge answered with 403 is `blocked` (judged on its page), not http_403."""
    async with client_for(CHALLENGE_PAGE.read_bytes(), status=403) as client:
        result = await download_pdf(edge(client), URL, tmp_path)
    assert result == DownloadResult(ok=False, reason="blocked", url=URL, status=403)


async def test_only_a_2xx_body_is_read(tmp_path: Path) -> None:
    """A PDF body under a status outside 2xx (300 Multiple Choices) is neither kept nor
    read (only the start of an error page is looked at, for a challenge); 299 is 2xx."""
    async with client_for(VALID, status=300) as client:
        refused = await download_pdf(edge(client), URL, tmp_path)
    async with client_for(VALID, status=299) as client:
        kept = await download_pdf(edge(client), URL, tmp_path)
    assert refused == DownloadResult(ok=False, reason="http_300", url=URL, status=300)
    assert (kept.ok, kept.status) == (True, 299)


# ---- what a file must be --------------------------------------------------------------


def check_file(tmp_path: Path, body: bytes, min_bytes: int = 0) -> str:
    path = tmp_path / "f.pdf"
    path.write_bytes(body)
    return validate_pdf_file(path, head=body[:2048], tail=body[-1024:], size=len(body),
                             min_bytes=min_bytes)


def test_a_one_page_pdf_is_whole(tmp_path: Path) -> None:
    """One page is enough; a PDF without any page is unreadable."""
    empty = io.BytesIO()
    PdfWriter().write(empty)
    assert check_file(tmp_path, one_page_pdf("one page")) == ""
    assert check_file(tmp_path, empty.getvalue()) == "unreadable_pdf"


def test_a_pdf_with_stale_xref_offsets_is_kept(tmp_path: Path) -> None:
    """Byte offsets that are off (bytes added after the file was written) are a common
    fault that readers repair: such a PDF is kept, not `unreadable_pdf`."""
    body = one_page_pdf("shifted")
    start = body.index(b"\n") + 1
    shifted = body[:start] + b"%" + b"x" * 40 + b"\n" + body[start:]
    assert check_file(tmp_path, shifted) == ""


def test_bytes_already_read_are_kept_in_a_new_folder(tmp_path: Path) -> None:
    """save_pdf_bytes makes its destination and missing parents, like a download."""
    dest = tmp_path / "run" / "pdfs"
    result = save_pdf_bytes(VALID, dest, url=URL)
    assert result == DownloadResult(ok=True, sha256=sha256_of(VALID), bytes=len(VALID),
                                    path=final_path(dest, sha256_of(VALID)), url=URL)


def test_a_pdf_of_exactly_min_bytes_is_kept(tmp_path: Path) -> None:
    """min_bytes is the least size kept: equal passes, one byte less is `too_small`."""
    body = padded_pdf(1500)
    assert check_file(tmp_path, body, min_bytes=1500) == ""
    assert check_file(tmp_path, body, min_bytes=1501) == "too_small"


# ---- the download manifest -------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path):
    s = RunStore.create(tmp_path / "run", plan_yaml="p", meta={})
    yield s
    s.close()


async def test_the_manifest_answers_with_what_it_recorded(tmp_path: Path,
                                                          store: RunStore) -> None:
    """A work already in the manifest is answered from it without a request: its sha256,
    size, file and the URL it came from (the asked URL only when none was recorded)."""
    pdf = final_path(store.dir / "pdfs", sha256_of(VALID))
    pdf.parent.mkdir(parents=True)
    pdf.write_bytes(VALID)
    for work_id, url in (("w1", OTHER_URL), ("w2", None)):
        store.record_download(DownloadRecord(work_id=work_id, sha256=sha256_of(VALID),
                                             bytes=len(VALID), path=str(pdf), url=url))
    calls: list[str] = []
    async with client_for(VALID, calls=calls) as client:
        known = await download_for_work(edge(client), store, work_id="w1", url=URL)
        no_url = await download_for_work(edge(client), store, work_id="w2", url=URL)
    assert calls == []
    assert known == DownloadResult(ok=True, reason="already_downloaded",
                                   sha256=sha256_of(VALID), bytes=len(VALID), path=pdf,
                                   url=OTHER_URL, reused=True)
    assert no_url.url == URL


async def test_the_manifest_records_where_a_pdf_came_from(tmp_path: Path,
                                                         store: RunStore) -> None:
    """A kept download is recorded with its source, URL, version and licence, in the
    destination asked for."""
    dest = tmp_path / "elsewhere"
    async with client_for(VALID) as client:
        result = await download_for_work(edge(client), store, work_id="w1", url=URL,
                                         dest_dir=dest, source="arxiv",
                                         version="acceptedVersion", license="cc-by")
    rec = store.download_for("w1")
    assert result.path == final_path(dest, sha256_of(VALID))
    assert rec == DownloadRecord(work_id="w1", sha256=sha256_of(VALID), bytes=len(VALID),
                                 path=str(result.path), source="arxiv", url=URL,
                                 version="acceptedVersion", license="cc-by", at=rec.at)


async def test_the_manifest_records_only_kept_files_when_asked(tmp_path: Path,
                                                              store: RunStore) -> None:
    """`record=False` keeps the file but leaves the manifest to the caller; a refused
    download is never recorded."""
    async with client_for(VALID) as client:
        unrecorded = await download_for_work(edge(client), store, work_id="w1", url=URL,
                                             record=False)
        refused = await download_for_work(edge(client), store, work_id="w2", url=URL,
                                          min_bytes=len(VALID) + 1)
    assert unrecorded.ok and refused.reason == "too_small"
    assert store.download_for("w1") is None and store.download_for("w2") is None


async def test_download_for_work_passes_its_size_limits_on(tmp_path: Path,
                                                           store: RunStore) -> None:
    """The size limits given to download_for_work are the download's."""
    async with client_for(VALID) as client:
        small = await download_for_work(edge(client), store, work_id="w1", url=URL,
                                        min_bytes=len(VALID) + 1)
        large = await download_for_work(edge(client), store, work_id="w2", url=URL,
                                        max_bytes=len(VALID) - 1)
    assert (small.reason, large.reason) == ("too_small", "too_large")


async def test_bytes_the_check_read_are_kept_without_a_second_get(tmp_path: Path,
                                                                 store: RunStore) -> None:
    """With `body` (the right-paper check's bytes) there is no request; the file is
    kept under the same rules (min_bytes) and reports the URL it came from."""
    calls: list[str] = []
    async with client_for(VALID, calls=calls) as client:
        kept = await download_for_work(edge(client), store, work_id="w1", url=URL, body=VALID)
        small = await download_for_work(edge(client), store, work_id="w2", url=URL, body=VALID,
                                        min_bytes=len(VALID) + 1)
    assert calls == []
    assert (kept.ok, kept.url, small.reason) == (True, URL, "too_small")


def test_part_files_of_live_or_unknown_writers_are_left_alone(tmp_path: Path) -> None:
    """clean_stale_parts removes a dead writer's `.part` file and keeps one whose pid is
    alive (pid 1, the init process) or cannot be checked (no such pid can exist)."""
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    names = [f".{dead.pid}-00aa.part", ".1-11bb.part", f".{10**20}-22cc.part"]
    for name in names:
        (tmp_path / name).write_bytes(b"%PDF-")
    assert clean_stale_parts(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[1:])


@pytest.mark.parametrize("lead", [1020, 1024])
async def test_bytes_already_read_get_the_downloads_verdict(tmp_path: Path, lead: int) -> None:
    """`%PDF-` may follow up to a KiB of blank bytes: the gate and a download keep such a
    file, and so must save_pdf_bytes (it judged only the first 1,024 bytes, so the
    right-paper check's bytes were refused as not_pdf or empty_body)."""
    body = b"\n" * lead + VALID
    async with client_for(body) as client:
        streamed = await download_pdf(edge(client), URL, tmp_path / "streamed")
    saved = save_pdf_bytes(body, tmp_path / "saved", url=URL)
    assert (streamed.ok, streamed.reason) == (saved.ok, saved.reason) == (True, "")
    assert saved.sha256 == streamed.sha256


def test_refused_bytes_say_their_address_and_size(tmp_path: Path) -> None:
    """A refusal of bytes already read names the URL they came from and their size;
    without a URL it names none."""
    junk = b"<html>not a pdf</html>" * 100
    refused = save_pdf_bytes(junk, tmp_path, url=URL)
    assert (refused.ok, refused.reason, refused.url, refused.bytes) == (
        False, "html_instead_of_pdf", URL, len(junk))
    assert save_pdf_bytes(junk, tmp_path).url == ""


def test_a_live_writers_part_file_is_kept_and_the_writer_left_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checking a writer is alive sends it no signal (signal 0): the live process keeps
    running. Its pid is what comes before the first '-'; every dead writer's file goes,
    and a folder that is not there has nothing to clean."""
    import os
    import subprocess
    import sys

    signals: list[int] = []
    real_kill = os.kill

    def kill(pid: int, sig: int) -> None:
        signals.append(sig)
        real_kill(pid, 0)  # whatever was asked: this test never signals a process

    monkeypatch.setattr(os, "kill", kill)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        kept = [f".{live.pid}-00aa.part", f".{live.pid}-11-bb.part", f".{os.getpid()}-44ee.part"]
        for name in [*kept, f".{dead.pid}-22cc.part", f".{dead.pid}-33dd.part"]:
            (tmp_path / name).write_bytes(b"%PDF-")
        assert clean_stale_parts(tmp_path) == 2
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)
        assert signals and set(signals) == {0}  # asked, never signalled
    finally:
        monkeypatch.undo()  # os.kill is the real one again: end the live writer
        live.kill()
        live.wait()
    assert clean_stale_parts(tmp_path / "missing") == 0
