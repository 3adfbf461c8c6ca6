"""Rules of the web edge and its byte gate that mutation testing found unguarded (issue 17):
the exact verdicts and their boundaries, the headers each request carries, what a
response record holds, and how bodies are read and counted."""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import random
import zlib

import httpx
import pytest
from _netkit import PDF, Router, make_fetcher

from fallback_kit.web.edge import (
    BadResponse,
    Edge,
    HttpStatusError,
    NetSettings,
    RedirectLoop,
    ResponseTooLarge,
    RobotsCache,
    _BoundedDecoder,
    classify_pdf_bytes,
    host_of,
    is_unsafe_ip,
    normalize_url,
    pdf_head_decided,
    pdf_header_at,
    system_resolver,
)
from fallback_kit.web.gates import GateClosed, Gates

U = "https://files.example.org/a.pdf"
PAGES = __import__("pathlib").Path(__file__).parent / "fixtures" / "pages"
#: a real Cloudflare bot challenge (pages/README.md: acs/..._cloudflare_challenge.html)
CHALLENGE = (PAGES / "acs" / "papis_2023_jp003647e_cloudflare_challenge.html").read_bytes()
#: a real landing page (pages/README.md: hal/papis_jpa-00235190.html)
LANDING = (PAGES / "hal" / "papis_jpa-00235190.html").read_bytes()
LOGIN = (b'<!DOCTYPE html><html><body><form action="/login"><input name="user">'
         b'<input type="password" name="pw"></form></body></html>')


# ---------------------------------------------------------------- the byte verdict


@pytest.mark.parametrize("status", [199, 300, 304])
def test_only_2xx_can_hold_a_pdf(status):
    """A status outside 200..299 is http_<status>, even when the body is a whole PDF."""
    assert classify_pdf_bytes(PDF, status=status, complete=True) == f"http_{status}"


@pytest.mark.parametrize("status", [200, 206, 299])
def test_every_2xx_is_judged_by_its_bytes(status):
    """Any 2xx status is judged by the body (a whole PDF is ok)."""
    assert classify_pdf_bytes(PDF, status=status, complete=True) == "ok"


@pytest.mark.parametrize("status", [401, 403, 429, 503])
@pytest.mark.parametrize("page", [CHALLENGE, LOGIN], ids=["challenge", "login"])
def test_a_challenge_or_login_behind_a_refusal_is_blocked(status, page):
    """401, 403, 429 and 503 carrying a bot challenge or a login form are `blocked`."""
    assert classify_pdf_bytes(page, status=status, complete=True) == "blocked"


@pytest.mark.parametrize("status", [402, 404, 430, 500, 504])
def test_a_challenge_behind_other_errors_is_the_status(status):
    """Other error statuses name the status, whatever the page says."""
    assert classify_pdf_bytes(CHALLENGE, status=status, complete=True) == f"http_{status}"


@pytest.mark.parametrize("status", [401, 403, 429, 503])
def test_a_plain_refusal_is_the_status(status):
    """A refusal whose page is neither a challenge nor a login names the status."""
    assert classify_pdf_bytes(LANDING, status=status, complete=True) == f"http_{status}"


@pytest.mark.parametrize("page", [CHALLENGE, LOGIN], ids=["challenge", "login"])
def test_a_challenge_served_as_200_is_blocked(page):
    """A bot challenge or login form sent with 200 is `blocked`, not html_instead_of_pdf."""
    assert classify_pdf_bytes(page, status=200, complete=True) == "blocked"


def test_a_landing_page_served_as_200_is_html_instead_of_pdf():
    """An ordinary HTML page where a PDF was promised is html_instead_of_pdf."""
    assert classify_pdf_bytes(LANDING, status=200, complete=True) == "html_instead_of_pdf"


@pytest.mark.parametrize("lead", [b"\xef\xbb\xbf", b"\r\n\t ", b"\xef\xbb\xbf\n"])
def test_html_opened_by_a_bom_or_blanks_is_html(lead):
    """A BOM or blank lines before the markup do not hide HTML, even when the page
    omits <html> and <body> (HTML5 allows it)."""
    page = lead + b"<!doctype html><meta charset=utf-8><title>Article</title><p>" + b"x" * 3000
    assert classify_pdf_bytes(page, status=200, complete=True) == "html_instead_of_pdf"


def test_text_before_the_markup_is_not_html():
    """Only blanks or a BOM may come before the opening markup: other bytes make the body
    `not_pdf` unless <html> or <body> shows in the first 2 KiB."""
    page = b"XX<!doctype html><meta charset=utf-8><p>" + b"x" * 3000
    assert classify_pdf_bytes(page, status=200, complete=True) == "not_pdf"


@pytest.mark.parametrize("tag", [b"<html lang=en>", b"<HTML>", b"<body>", b"<BODY class=x>"])
def test_html_or_body_in_the_first_2_kib_is_html(tag):
    """Junk before the page (a PHP warning) does not hide it: an <html> or a <body> tag
    whose name ends within the first 2 KiB makes it HTML."""
    warning = b"<br />\n<b>Warning</b>: session_start(): headers already sent<br />\n"
    pad = b" " * (2048 - len(warning) - 5)  # '<html' / '<body' ends at byte 2048
    page = warning + pad + tag + b"Article"
    assert classify_pdf_bytes(page, status=200, complete=True) == "html_instead_of_pdf"
    late = warning + pad + b" " + tag + b"Article"  # one byte later: past 2 KiB
    assert classify_pdf_bytes(late, status=200, complete=True) == "not_pdf"


# ---------------------------------------------------------------- the PDF header


def test_pdf_header_may_start_at_the_end_of_the_first_kib():
    """%PDF- counts when it starts at byte 1024 at the latest (after blanks only)."""
    assert pdf_header_at(b"\n" * 1024 + PDF) == 1024
    assert pdf_header_at(b"\n" * 1025 + PDF) == -1


def test_the_first_pdf_header_decides():
    """The first %PDF- is the header: a later one (an embedded file) is not the start."""
    assert pdf_header_at(b"\xef\xbb\xbf" + PDF + b"%PDF-1.5 embedded") == 3
    assert pdf_header_at(b"<html>%PDF-1.4 link text</html>") == -1


def test_a_head_is_decided_once_the_header_window_is_read():
    """The start of a file is judged once 1029 bytes (the KiB plus '%PDF-') are in."""
    assert not pdf_head_decided(b" " * 1028)
    assert pdf_head_decided(b" " * 1029)


# ---------------------------------------------------------------- URLs


def test_host_of_is_the_lower_case_host():
    """host_of gives the host in lower case, '' for what is no URL."""
    assert host_of("https://Files.Example.ORG:8443/A.pdf") == "files.example.org"
    assert host_of("http://[::1") == ""


@pytest.mark.parametrize(("url", "key"), [
    ("https://Example.org", "example.org/"),
    ("http://example.org:80/a", "example.org/a"),
    ("https://example.org:443/a", "example.org/a"),
    ("https://example.org:8080/a", "example.org:8080/a"),
    ("http://example.org:81/a", "example.org:81/a"),
    ("https://example.org:444/a", "example.org:444/a"),
    ("https://EXAMPLE.org/A.pdf?x=1#p", "example.org/A.pdf?x=1"),
])
def test_normalize_url_key(url, key):
    """The de-duplication key: lower-case host, a port only when not 80/443, the path
    ('/' when empty) and query as sent, no scheme, no fragment."""
    assert normalize_url(url) == key


# ---------------------------------------------------------------- the PDF probe


async def test_the_probe_asks_for_the_first_bytes_unencoded():
    """check_pdf sends Accept (PDF first), Accept-Encoding identity and a Range of
    exactly pdf_probe_bytes."""
    r = Router()
    r.add(U, 206, PDF, content_range=f"bytes 0-{len(PDF) - 1}/{len(PDF)}")
    await make_fetcher(r, pdf_probe_bytes=2000).check_pdf(U, referer="https://pub.example.org/")
    sent = r.seen[0].headers
    assert sent["accept"] == "application/pdf,*/*;q=0.8"
    assert sent["accept-encoding"] == "identity"
    assert sent["range"] == "bytes=0-1999"
    assert sent["referer"] == "https://pub.example.org/"


# ---------------------------------------------------------------- gates: who and why


async def _refusal(fetch) -> GateClosed:
    with pytest.raises(GateClosed) as info:
        await fetch
    return info.value


async def test_offline_refusals_name_the_host():
    """An offline refusal names the host it kept us from (the try records it)."""
    api = "https://API.example.org/x"
    closed = await _refusal(make_fetcher(Router(), offline="block_all").get_json(api))
    assert (closed.reason, closed.host) == ("offline", "api.example.org")
    meta = make_fetcher(Router(), offline="metadata_only")
    for fetch in (meta.check_pdf(api), meta.fetch_pdf(api, max_bytes=10_000)):
        closed = await _refusal(fetch)
        assert (closed.reason, closed.host) == ("offline_metadata_only", "api.example.org")


async def test_a_non_http_url_is_refused_naming_it():
    """A URL that is not http(s) is unsafe_url; the refusal names the host (None when
    there is none) and the URL."""
    closed = await _refusal(make_fetcher(Router()).get_json("ftp://ftp.example.org/x"))
    assert (closed.reason, closed.host) == ("unsafe_url", "ftp.example.org")
    assert "only http(s) URLs are fetched: ftp://ftp.example.org/x" in str(closed)
    closed = await _refusal(make_fetcher(Router()).get_json("file:///etc/passwd"))
    assert (closed.reason, closed.host) == ("unsafe_url", None)


async def test_a_robots_refusal_names_host_and_url():
    """A robots.txt refusal names the host and the disallowed URL."""
    r = Router()
    r.add("https://pub.example.org/robots.txt", 200, "User-agent: *\nDisallow: /pdf/\n")
    f = make_fetcher(r, robots=RobotsCache(), robots_respect=True)
    closed = await _refusal(f.check_pdf("https://pub.example.org/pdf/1"))
    assert (closed.reason, closed.host) == ("robots", "pub.example.org")
    assert "robots.txt disallows https://pub.example.org/pdf/1" in str(closed)


def _resolver(answers: list[str], asked: list[tuple[str, int]]):
    async def resolve(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return answers

    return resolve


@pytest.mark.parametrize(("url", "port"), [
    ("https://files.example.org/a.pdf", 443),
    ("http://files.example.org/a.pdf", 80),
    ("https://files.example.org:8443/a.pdf", 8443),
])
async def test_the_guard_resolves_the_host_on_the_port_it_will_use(url, port):
    """The SSRF guard looks the host up on the port of the request (443 for https, 80 for
    http, the URL's own port when it names one), once per host."""
    r, asked = Router(), []
    r.add(url, 200, PDF)
    f = make_fetcher(r, trust_transport=False, resolver=_resolver(["93.184.215.14"], asked))
    assert (await f.check_pdf(url)).ok and (await f.check_pdf(url)).ok
    assert asked == [("files.example.org", port)]


async def test_a_name_resolving_inside_is_refused_naming_host_and_address():
    """A host resolving to a refused address is unsafe_url naming the host and address;
    an address with a zone index (fe80::1%eth0) is judged by its address."""
    for answer in ("10.0.0.7", "fe80::1%eth0"):
        f = make_fetcher(Router(), trust_transport=False, resolver=_resolver([answer], []))
        closed = await _refusal(f.check_pdf(U))
        assert (closed.reason, closed.host) == ("unsafe_url", "files.example.org")
        assert f"files.example.org resolves to {answer.split('%')[0]}" in str(closed)


@pytest.mark.parametrize(("host", "address"), [("10.0.0.1", "10.0.0.1"),
                                                ("[fd00::1]", "fd00::1")])
async def test_an_address_literal_is_judged_without_a_lookup(host, address):
    """An address in the URL is judged as written, never looked up (a resolver cannot
    vouch for it); the refusal names the address."""
    asked: list = []
    f = make_fetcher(Router(), trust_transport=False,
                     resolver=_resolver(["93.184.215.14"], asked))
    closed = await _refusal(f.check_pdf(f"http://{host}/a.pdf"))
    assert (closed.reason, closed.host, asked) == ("unsafe_url", address, [])
    assert f"{address} is not a public address" in str(closed)


async def test_a_public_address_literal_is_fetched_without_a_lookup():
    """A public address in the URL passes the guard with no lookup."""
    r, asked = Router(), []
    r.add("http://93.184.215.14/a.pdf", 200, PDF)
    f = make_fetcher(r, trust_transport=False, resolver=_resolver(["10.0.0.1"], asked))
    assert (await f.check_pdf("http://93.184.215.14/a.pdf")).ok and asked == []


# ---------------------------------------------------------------- API answers


async def test_get_json_asks_for_json_and_keeps_the_headers():
    """get_json sends Accept: application/json (and a caller's key header) and returns
    the response headers (a caller reads rate-limit and paging headers there)."""
    r = Router()
    r.add("https://api.example.org/x", 200, "[1]", x_ratelimit_remaining="9")
    resp = await make_fetcher(r).get_json("https://api.example.org/x",
                                          headers={"X-ABC-Key": "k"})
    sent = r.seen[0].headers
    assert (sent["accept"], sent["x-abc-key"]) == ("application/json", "k")
    assert resp.headers["x-ratelimit-remaining"] == "9"


async def test_get_json_errors_name_the_final_url():
    """A bad status or an oversize body raises an error naming the URL that answered
    (after redirects), the status and the limit."""
    r = Router()
    r.add("https://api.example.org/old", 301, location="https://api.example.org/new")
    r.add("https://api.example.org/new", 500, "")
    r.add("https://api.example.org/big", 200, "[" + "1," * 100 + "1]")
    f = make_fetcher(r, max_json_bytes=50)
    with pytest.raises(HttpStatusError) as info:
        await f.get_json("https://api.example.org/old")
    assert (info.value.url, info.value.status) == ("https://api.example.org/new", 500)
    assert str(info.value) == "HTTP 500 (https://api.example.org/new)"
    with pytest.raises(ResponseTooLarge) as big:
        await f.get_json("https://api.example.org/big")
    assert big.value.url == "https://api.example.org/big"
    assert str(big.value) == ("JSON body longer than max_json_bytes=50"
                              " (https://api.example.org/big)")


def test_http_status_error_says_when_to_retry():
    """HttpStatusError's message gives the status, the wait when known, and the URL."""
    assert str(HttpStatusError(429, "https://a.example.org/x", 2.5)) == (
        "HTTP 429, retry after 2.5 s (https://a.example.org/x)")
    assert str(HttpStatusError(503, "https://a.example.org/x")) == (
        "HTTP 503 (https://a.example.org/x)")


async def test_a_redirect_error_names_the_url_and_chain():
    """A redirect loop names the URL that came back and the chain walked."""
    r = Router()
    r.add("https://a.example.org/1", 302, location="https://a.example.org/2")
    r.add("https://a.example.org/2", 302, location="https://a.example.org/1")
    with pytest.raises(RedirectLoop) as info:
        await make_fetcher(r).get_html("https://a.example.org/1")
    assert info.value.url == "https://a.example.org/1"
    assert info.value.chain == ["https://a.example.org/1", "https://a.example.org/2"]
    assert str(info.value) == "redirect loop (https://a.example.org/1)"


async def test_get_html_returns_status_headers_and_text_in_its_charset():
    """get_html returns the status, the headers, and the text decoded in the declared
    charset; a stray bad byte does not throw the charset away."""
    page = "<p>論文のタイトル</p>".encode("shift_jis") + b"\x80"
    r = Router()
    r.add("https://pub.example.org/a", 200, page, content_type="text/html; Charset=Shift_JIS")
    resp = await make_fetcher(r).get_html("https://pub.example.org/a")
    assert resp.status == 200 and resp.headers["content-type"].endswith("Shift_JIS")
    assert resp.text.startswith("<p>論文のタイトル</p>")
    assert not resp.truncated and not resp.is_pdf


@pytest.mark.parametrize("ctype", ["text/plain;charset=Shift_JIS",
                                   'text/plain; format=flowed; charset="Shift_JIS"'])
async def test_the_charset_parameter_is_found_however_written(ctype):
    """The charset is read from its own parameter, with or without blanks or quotes,
    after other parameters."""
    r = Router()
    r.add("https://pub.example.org/t", 200, "論文".encode("shift_jis"), content_type=ctype)
    assert (await make_fetcher(r).get_text("https://pub.example.org/t")).text == "論文"


@pytest.mark.parametrize("charset", ["no-such-charset", "rot13", "idna"])
async def test_a_charset_that_is_no_text_encoding_falls_back_to_utf8_with_replacements(charset):
    """An unknown charset, or a codec that is no text encoding, is read as UTF-8, and
    a bad byte in it is replaced, never raised."""
    r = Router()
    r.add("https://pub.example.org/t", 200, "Résumé ".encode() + b"\xff",
          content_type=f"text/html; charset={charset}")
    text = (await make_fetcher(r).get_html("https://pub.example.org/t")).text
    assert text == "Résumé \ufffd"


async def test_get_html_sends_its_accept_and_params():
    """get_html asks for HTML first; get_text asks for anything; both merge params."""
    r = Router()
    r.add("https://pub.example.org/a", 200, "x")
    f = make_fetcher(r)
    await f.get_html("https://pub.example.org/a", params={"q": "1"})
    await f.get_text("https://pub.example.org/a", params={"q": "2"})
    assert r.seen[0].headers["accept"] == "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"
    assert r.seen[1].headers["accept"] == "*/*"
    assert r.urls() == ["https://pub.example.org/a?q=1", "https://pub.example.org/a?q=2"]


@pytest.mark.parametrize("status", [401, 403, 404])
async def test_get_html_returns_refusal_pages(status):
    """401, 403 and 404 pages are answers (paywalls and challenges are pages too)."""
    r = Router()
    r.add("https://pub.example.org/a", status, "<p>no</p>")
    assert (await make_fetcher(r).get_html("https://pub.example.org/a")).status == status


@pytest.mark.parametrize("status", [402, 405, 500])
async def test_get_html_raises_on_other_statuses(status):
    """Other statuses outside ok_statuses raise HttpStatusError."""
    r = Router()
    r.add("https://pub.example.org/a", status, "<p>no</p>", retry_after="4")
    with pytest.raises(HttpStatusError) as info:
        await make_fetcher(r).get_html("https://pub.example.org/a")
    assert (info.value.status, info.value.url, info.value.retry_after_s) == (
        status, "https://pub.example.org/a", 4.0)


async def test_a_404_without_json_has_no_data():
    """A 404 whose body is not JSON (an HTML error page) returns data None."""
    r = Router()
    r.add("https://api.example.org/x", 404, "<html><body>Not Found</body></html>")
    assert (await make_fetcher(r).get_json("https://api.example.org/x")).data is None


async def test_a_200_that_is_not_json_is_a_bad_response_naming_its_address():
    r = Router()
    r.add("https://api.example.org/x", 200, "<html><body>Service page</body></html>")
    with pytest.raises(BadResponse) as info:
        await make_fetcher(r).get_json("https://api.example.org/x")
    assert str(info.value) == "the body is not JSON (https://api.example.org/x)"
    assert info.value.url == "https://api.example.org/x"


async def test_get_text_honours_ok_statuses():
    """get_text passes ok_statuses on: a listed status returns, 200 then raises."""
    r = Router()
    r.add("https://api.example.org/t", 200, "ok")
    r.add("https://api.example.org/c", 202, "accepted")
    f = make_fetcher(r)
    assert (await f.get_text("https://api.example.org/c", ok_statuses=(202,))).text == "accepted"
    with pytest.raises(HttpStatusError):
        await f.get_text("https://api.example.org/t", ok_statuses=(202,))


async def test_get_html_sniffs_a_pdf_after_its_first_kib():
    """With sniff_pdf, a body that opens as a PDF is read no further than its first
    KiB-plus-magic and flagged is_pdf (whitespace before %PDF- included); without it,
    the whole body is read."""
    body = b"\n" + b"%PDF-1.4\n" + b"x" * 50_000 + b"\n%%EOF\n"
    r = Router()
    r.add("https://pub.example.org/p", 200, body)
    r.add("https://pub.example.org/q", 200, body[1:])
    f = make_fetcher(r)
    resp = await f.get_html("https://pub.example.org/p", sniff_pdf=True)
    assert resp.is_pdf and resp.truncated and f.bytes_read == 1029
    resp = await f.get_html("https://pub.example.org/q", sniff_pdf=True)
    assert resp.is_pdf and resp.truncated and f.bytes_read == 2 * 1029
    whole = make_fetcher(r)
    resp = await whole.get_html("https://pub.example.org/p")
    assert resp.is_pdf and not resp.truncated and whole.bytes_read == len(body)


async def test_a_page_is_never_sniffed_as_pdf():
    """With sniff_pdf an HTML page is read whole and is not is_pdf."""
    r = Router()
    r.add("https://pub.example.org/a", 200, LANDING)
    f = make_fetcher(r)
    resp = await f.get_html("https://pub.example.org/a", sniff_pdf=True)
    assert not resp.is_pdf and not resp.truncated and f.bytes_read == len(LANDING)


async def test_api_calls_pass_the_metadata_only_gate():
    """offline=metadata_only lets get_html and get_text through (they are metadata)."""
    r = Router()
    r.add("https://api.example.org/t", 200, "ok")
    f = make_fetcher(r, offline="metadata_only")
    assert (await f.get_html("https://api.example.org/t")).text == "ok"
    assert (await f.get_text("https://api.example.org/t")).text == "ok"


# ---------------------------------------------------------------- settings


@pytest.mark.parametrize(("field", "lowest"), [
    ("max_json_bytes", 1), ("max_html_bytes", 1), ("pdf_probe_bytes", 5), ("max_redirects", 0),
])
def test_settings_accept_their_lowest_value_and_refuse_below(field, lowest):
    """Each size and count is accepted down to its lowest useful value, refused below."""
    assert getattr(NetSettings(**{field: lowest}), field) == lowest
    with pytest.raises(ValueError, match=field):
        NetSettings(**{field: lowest - 1})


# ---------------------------------------------------------------- reading bodies


def _deflate(data: bytes, *, raw: bool = False) -> bytes:
    c = zlib.compressobj(wbits=-zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


@pytest.mark.parametrize(("encoding", "pack"), [
    ("gzip", gzip.compress), ("x-gzip", gzip.compress), (" GZIP ", gzip.compress),
    ("deflate", _deflate), ("deflate", lambda d: _deflate(d, raw=True)),
], ids=["gzip", "x-gzip", "gzip-spaced-upper", "deflate-zlib", "deflate-raw"])
async def test_every_content_encoding_is_decoded(encoding, pack):
    """gzip (also x-gzip, any case) and deflate (zlib-wrapped or raw, as some servers
    send it) are decoded, for API answers and streamed downloads alike."""
    text = b'{"title": "' + b"Molecular dynamics " * 500 + b'"}'
    r = Router()
    r.add("https://api.example.org/x", 200, pack(text), content_encoding=encoding)
    f = make_fetcher(r)
    assert (await f.get_json("https://api.example.org/x")).data["title"].startswith("Mol")
    async with f.stream("https://api.example.org/x") as got:
        assert await got.read(100_000) == text


@pytest.mark.parametrize("junk", [
    b"this is not gzip at all " * 4000,
    _deflate(b"deflate, not gzip " * 8000),
    _deflate(b"raw deflate, not gzip " * 8000, raw=True),
], ids=["text", "zlib-deflate", "raw-deflate"])
async def test_a_body_that_does_not_decode_is_dropped_at_once(junk):
    """A body that is not what its Content-Encoding says is not guessed at (deflate sent
    as gzip included): nothing of it is kept and no more than the first piece is read;
    a download raises BadResponse."""
    r = Router()
    r.add("https://pub.example.org/a", 200, junk, content_encoding="gzip")
    f = make_fetcher(r)
    resp = await f.get_html("https://pub.example.org/a")
    assert resp.text == "" and f.bytes_read == min(16_384, len(junk))
    with pytest.raises(BadResponse, match="Content-Encoding") as info:
        async with f.stream("https://pub.example.org/a") as got:
            await got.read(100_000)
    assert info.value.url == "https://pub.example.org/a"


async def test_a_compressed_body_inflating_to_nothing_is_cut():
    """A compressed body that inflates to (almost) nothing is read no further than 64
    times the cap (at least 4 MiB raw): an endless stream of empty blocks ends."""
    gzip_header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    empty_block = b"\x00\x00\x00\xff\xff"  # a stored deflate block of no bytes
    empty = gzip_header + empty_block * 1_000_000  # 5 MB that inflate to nothing
    r = Router()
    r.add("https://api.example.org/x", 200, empty, content_encoding="gzip")
    f = make_fetcher(r, max_json_bytes=1024)  # read in pieces of 1 KiB
    with pytest.raises(ResponseTooLarge):
        await f.get_json("https://api.example.org/x")
    assert f.bytes_read == 64 * 65_536


@pytest.mark.parametrize("cap", [1, 20_000])
async def test_a_page_is_cut_at_exactly_the_cap(cap):
    """A page longer than max_html_bytes keeps exactly its first max_html_bytes bytes
    (one byte too), whatever the piece size, and is truncated."""
    body = LANDING * 5
    r = Router()
    r.add("https://pub.example.org/a", 200, body)
    f = make_fetcher(r, max_html_bytes=cap)
    resp = await f.get_html("https://pub.example.org/a")
    assert resp.text == body[:cap].decode() and resp.truncated
    assert f.bytes_read == min(cap, 16_384) * -(-cap // 16_384)


async def test_a_gzip_page_cut_at_one_byte_keeps_one_byte():
    """Even a one-byte cap keeps one decoded byte of a compressed page."""
    r = Router()
    r.add("https://pub.example.org/a", 200, gzip.compress(LANDING), content_encoding="gzip")
    resp = await make_fetcher(r, max_html_bytes=1).get_html("https://pub.example.org/a")
    assert resp.text == LANDING[:1].decode() and resp.truncated


async def test_a_body_of_exactly_the_cap_is_whole_only_when_its_length_says_so():
    """A JSON body exactly max_json_bytes long is whole when Content-Length says so (or
    the transport built it in memory); without a length it may go on: too large."""
    text = b'{"a": "' + b"x" * 90 + b'"}'
    r = Router()
    r.add("https://api.example.org/len", 200, text, content_length=str(len(text)))
    r.add("https://api.example.org/nolen", 200, text)
    r.routes["https://api.example.org/mem"] = httpx.Response(200, content=text)
    f = make_fetcher(r, max_json_bytes=len(text))
    assert (await f.get_json("https://api.example.org/len")).data == {"a": "x" * 90}
    assert (await f.get_json("https://api.example.org/mem")).data == {"a": "x" * 90}
    with pytest.raises(ResponseTooLarge):
        await f.get_json("https://api.example.org/nolen")


async def test_a_compressed_body_cut_at_the_cap_is_never_whole():
    """A compressed body cut at the cap is cut, even when its Content-Length (of the
    compressed bytes) equals the cap."""
    packed = gzip.compress(b"[" + b'"abcdefgh",' * 2000 + b'"z"]')
    r = Router()
    r.add("https://api.example.org/x", 200, packed, content_encoding="gzip",
          content_length=str(len(packed)))
    with pytest.raises(ResponseTooLarge):
        await make_fetcher(r, max_json_bytes=len(packed)).get_json("https://api.example.org/x")


async def test_bytes_read_adds_up_over_requests():
    """bytes_read sums every body received, streamed or built in memory."""
    r = Router()
    r.add("https://api.example.org/a", 200, "[1, 2]")
    r.routes["https://api.example.org/m"] = httpx.Response(200, content=b"[3]")
    f = make_fetcher(r)
    await f.get_json("https://api.example.org/a")
    await f.get_json("https://api.example.org/m")
    await f.get_json("https://api.example.org/m")
    assert f.bytes_read == 6 + 3 + 3


async def test_a_redirect_without_location_is_the_answer_and_its_body_is_not_read():
    """A 3xx without Location ends the chain: it is the answer, its body is not read;
    an answer that is no redirect is final even if it carries a Location."""
    r = Router()
    r.add("https://pub.example.org/a", 302, "moved somewhere")
    r.add("https://pub.example.org/b", 201, "created", location="https://pub.example.org/c")
    f = make_fetcher(r)
    resp = await f.get_html("https://pub.example.org/a", ok_statuses=(302,))
    assert (resp.status, resp.text, f.bytes_read) == (302, "", 0)
    resp = await f.get_html("https://pub.example.org/b", ok_statuses=(201,))
    assert (resp.status, resp.text) == (201, "created") and len(r.seen) == 2


# ---------------------------------------------------------------- streams (downloads)


async def test_a_stream_yields_exactly_its_limit_and_counts_what_it_pulled():
    """Stream.chunks yields at most `limit` bytes in all and counts each raw byte pulled,
    stopping once the limit is reached."""
    body = bytes(range(256)) * 40  # 10,240 bytes
    r = Router()
    r.add(U, 200, body)
    f = make_fetcher(r)
    async with f.stream(U) as got:
        pieces = [p async for p in got.chunks(5000, chunk_size=1000)]
    assert b"".join(pieces) == body[:5000] and [len(p) for p in pieces] == [1000] * 5
    assert f.bytes_read == 5000


@pytest.mark.parametrize("limit", [1, 100, 70_000])
async def test_reading_a_head_pulls_no_more_than_it_keeps(limit):
    """Stream.read(n) of a longer body returns its first n bytes and pulls only n bytes
    off the wire for a head up to 64 KiB."""
    body = b"%PDF-1.4\n" + b"z" * 200_000
    r = Router()
    r.add(U, 200, body)
    f = make_fetcher(r)
    async with f.stream(U) as got:
        assert await got.read(limit) == body[:limit]
    assert f.bytes_read == (limit if limit <= 65_536 else 2 * 65_536)


async def test_asking_for_nothing_of_a_compressed_stream_gives_nothing():
    """read(0) of a compressed body yields nothing (zlib's 'no limit' is never asked)."""
    r = Router()
    r.add(U, 200, gzip.compress(b"x" * 10_000), content_encoding="gzip")
    async with make_fetcher(r).stream(U) as got:
        assert [p async for p in got.chunks(0)] == []


async def test_a_stream_in_memory_counts_what_it_keeps():
    """A body the transport built in memory counts the bytes handed out, per stream."""
    r = Router(routes={U: httpx.Response(200, content=b"x" * 300)})
    f = make_fetcher(r)
    for _ in range(2):
        async with f.stream(U) as got:
            assert await got.read(100) == b"x" * 100
    assert f.bytes_read == 200


async def test_stream_sends_referer_accept_and_key_only_to_the_first_host():
    """stream() sends Accept (PDF first), the Referer, and a caller's key header, which
    never follows a redirect to another host."""
    r = Router()
    r.add("https://api.example.org/pdf", 302, location="https://cdn.example.net/a.pdf")
    r.add("https://cdn.example.net/a.pdf", 200, PDF)
    f = make_fetcher(r)
    async with f.stream("https://api.example.org/pdf", referer="https://pub.example.org/",
                        headers={"Authorization": "Bearer k"}) as got:
        assert (got.status, got.url) == (200, "https://cdn.example.net/a.pdf")
    first, second = (req.headers for req in r.seen)
    assert (first["authorization"], first["referer"]) == ("Bearer k", "https://pub.example.org/")
    assert first["accept"] == "application/pdf,*/*;q=0.8"
    assert "authorization" not in second and second["referer"] == "https://pub.example.org/"


@pytest.mark.looptime
async def test_a_download_is_bounded_by_the_try_timeout():
    """stream() runs under the Edge's timeout_s: a body slower than that is TimeoutError."""
    async def slow(request):
        await asyncio.sleep(30)
        return httpx.Response(200, content=PDF)

    client = httpx.AsyncClient(transport=httpx.MockTransport(Router(routes={U: slow})))
    edge = Edge(client, gates=Gates(), settings=NetSettings(trust_transport=True),
                timeout_s=5)
    start = asyncio.get_running_loop().time()
    with pytest.raises(TimeoutError):
        async with edge.stream(U) as got:
            await got.read(100)
    assert asyncio.get_running_loop().time() - start == pytest.approx(5)


async def test_an_edge_ignores_robots_unless_asked():
    """An Edge given a robots cache does not consult it unless robots_respect is set."""
    r = Router()
    r.add("https://pub.example.org/robots.txt", 200, "User-agent: *\nDisallow: /\n")
    r.add(U.replace("files", "pub"), 200, PDF)
    client = httpx.AsyncClient(transport=httpx.MockTransport(r))
    edge = Edge(client, gates=Gates(), settings=NetSettings(trust_transport=True),
                robots=RobotsCache())
    assert (await edge.check_pdf(U.replace("files", "pub"))).ok
    assert r.urls() == [U.replace("files", "pub")]


# ---------------------------------------------------------------- whole-PDF fetches

BIG = b"%PDF-1.5\n" + b"x" * 20_000 + b"\n%%EOF\n"


async def test_fetch_pdf_reports_where_the_file_came_from():
    """fetch_pdf's verdict names the asked URL, the final URL and its host, the status,
    content type and Retry-After, the bytes read, and holds the body when ok."""
    r = Router()
    r.add("https://doi.example.org/1", 302, location="https://CDN.example.net/a.pdf")
    r.add("https://cdn.example.net/a.pdf", 200, BIG, content_type="application/pdf",
          retry_after="3")
    f = make_fetcher(r)
    check = await f.fetch_pdf("https://doi.example.org/1", max_bytes=100_000,
                              referer="https://pub.example.org/")
    assert (check.ok, check.reason, check.url, check.final_url, check.host, check.status) == (
        True, "ok", "https://doi.example.org/1", "https://cdn.example.net/a.pdf",
        "cdn.example.net", 200)
    assert (check.content_type, check.retry_after_s) == ("application/pdf", 3.0)
    assert check.body == BIG and check.bytes_read == len(BIG) == f.bytes_read
    assert r.seen[0].headers["referer"] == "https://pub.example.org/"


async def test_fetch_pdf_sends_a_key_header():
    """fetch_pdf passes a caller's key header to the file's host."""
    r = Router()
    r.add(U, 200, BIG)
    await make_fetcher(r).fetch_pdf(U, max_bytes=100_000, headers={"Authorization": "k"})
    assert r.seen[0].headers["authorization"] == "k"


@pytest.mark.parametrize(("probe", "pulled"), [(4096, 4096), (1029, 1029), (1028, 2056)])
async def test_fetch_pdf_stops_reading_a_page_once_its_start_is_judged(probe, pulled):
    """A page where a PDF was promised is read in pieces of the probe's size only until
    1029 bytes are in (enough to see that %PDF- does not open it)."""
    r = Router()
    r.add(U, 200, LANDING * 3)
    f = make_fetcher(r, pdf_probe_bytes=probe)
    check = await f.fetch_pdf(U, max_bytes=1_000_000)
    assert (check.reason, check.body, f.bytes_read) == ("html_instead_of_pdf", b"", pulled)


async def test_fetch_pdf_with_the_smallest_probe_still_sees_a_pdf():
    """Pieces as small as the magic (5 bytes) still join into the PDF they are."""
    r = Router()
    r.add(U, 200, b"\n" + BIG)
    check = await make_fetcher(r, pdf_probe_bytes=5).fetch_pdf(U, max_bytes=100_000)
    assert check.ok and check.body == b"\n" + BIG


async def test_fetch_pdf_over_the_cap_is_truncated_and_costs_one_piece_more():
    """A PDF longer than max_bytes is truncated_pdf (never ok), read to max_bytes + 1."""
    r = Router()
    r.add(U, 200, BIG)
    f = make_fetcher(r)
    check = await f.fetch_pdf(U, max_bytes=8191)
    assert (check.ok, check.reason, check.body, f.bytes_read) == (
        False, "truncated_pdf", b"", 8192)


async def test_fetch_pdf_over_a_tiny_cap_is_not_pdf_when_it_is_no_pdf():
    """A body over max_bytes that does not open with %PDF- is not_pdf, not truncated."""
    r = Router()
    r.add(U, 200, LANDING)
    check = await make_fetcher(r).fetch_pdf(U, max_bytes=100)
    assert check.reason == "not_pdf"


async def test_fetch_pdf_of_a_whole_file_without_eof_is_truncated():
    """A whole body that opens as a PDF but lacks %%EOF is truncated_pdf."""
    r = Router()
    r.add(U, 200, BIG[:15_000])
    assert (await make_fetcher(r).fetch_pdf(U, max_bytes=100_000)).reason == "truncated_pdf"


async def test_fetch_pdf_of_a_300_reads_only_the_probe():
    """A 300 Multiple Choices is no file, even with PDF bytes: only the probe is read,
    and the check counts only its own bytes."""
    r = Router()
    r.add("https://api.example.org/x", 200, "[1]")
    r.add(U, 300, BIG)
    f = make_fetcher(r)
    await f.get_json("https://api.example.org/x")
    check = await f.fetch_pdf(U, max_bytes=1_000_000)
    assert (check.reason, check.bytes_read) == ("http_300", 4096)


@pytest.mark.parametrize("status", [300, 403, 503])
async def test_fetch_pdf_reads_only_the_probe_of_an_error_page(status):
    """An answer outside 2xx (a 300 Multiple Choices too) is read only as far as the
    probe, to tell a challenge, and keeps its Retry-After."""
    r = Router()
    r.add(U, status, CHALLENGE * 3, retry_after="120")
    f = make_fetcher(r)
    check = await f.fetch_pdf(U, max_bytes=1_000_000)
    assert check.status == status and check.retry_after_s == 120.0
    assert check.reason == ("http_300" if status == 300 else "blocked")
    assert f.bytes_read == 4096


async def test_fetch_pdf_turns_a_redirect_loop_into_a_verdict():
    """A redirect loop is a verdict naming the URL it came back to, not an exception."""
    r = Router()
    r.add(U, 302, location=U + "?x=1")
    r.add(U + "?x=1", 302, location=U)
    check = await make_fetcher(r).fetch_pdf(U, max_bytes=100_000)
    assert (check.ok, check.reason, check.url, check.final_url, check.host) == (
        False, "redirect_loop", U, U, "files.example.org")


# ---------------------------------------------------------------- the probe's verdicts


async def test_check_pdf_reports_where_the_answer_came_from():
    """check_pdf's verdict names the asked URL, the final URL and its host, the status,
    the content type and the bytes read."""
    r = Router()
    r.add("https://doi.example.org/1", 302, location="https://cdn.example.net/a.pdf")
    r.add("https://cdn.example.net/a.pdf", 200, PDF, content_type="application/pdf")
    f = make_fetcher(r)
    check = await f.check_pdf("https://doi.example.org/1")
    assert (check.ok, check.url, check.final_url, check.host, check.status) == (
        True, "https://doi.example.org/1", "https://cdn.example.net/a.pdf",
        "cdn.example.net", 200)
    assert (check.content_type, check.bytes_read) == ("application/pdf", len(PDF))


async def test_check_pdf_of_an_error_reports_status_wait_and_cost():
    """An error answer gives the status reason, its Retry-After and the bytes read, and
    counts them in bytes_read of this check only."""
    r = Router()
    r.add("https://a.example.org/x", 200, "[1]")
    r.add(U, 429, "slow down", retry_after="30")
    f = make_fetcher(r)
    await f.get_json("https://a.example.org/x")
    check = await f.check_pdf(U)
    assert (check.ok, check.reason, check.retry_after_s, check.bytes_read) == (
        False, "http_429", 30.0, 9)
    assert check.host == "files.example.org"


async def test_a_300_multiple_choices_is_not_a_pdf_answer():
    """A 300 (doi.org's multiple resolutions) is http_300 with its Retry-After kept."""
    r = Router()
    r.add(U, 300, PDF, retry_after="5")
    check = await make_fetcher(r).check_pdf(U)
    assert (check.reason, check.retry_after_s) == ("http_300", 5.0)


async def test_check_pdf_turns_a_redirect_loop_into_a_verdict():
    """A redirect loop is a verdict naming the URL, the host and what was read."""
    r = Router()
    r.add(U, 302, location=U + "?x=1")
    r.add(U + "?x=1", 302, location=U)
    f = make_fetcher(r)
    check = await f.check_pdf(U)
    assert (check.ok, check.reason, check.url, check.final_url, check.host,
            check.bytes_read) == (False, "redirect_loop", U, U, "files.example.org", 0)


async def test_a_bad_url_is_a_verdict():
    """A URL that cannot be parsed is bad_url, with no request sent."""
    r = Router()
    check = await make_fetcher(r).check_pdf("http://[::1/a.pdf")
    assert (check.ok, check.reason, check.host, r.seen) == (False, "bad_url", "", [])


async def test_a_416_is_asked_again_without_range():
    """A 416 (range not satisfiable) is asked again as a plain GET."""
    def handler(request: httpx.Request) -> httpx.Response:
        if "range" in request.headers:
            return httpx.Response(416)
        return httpx.Response(200, content=PDF)

    r = Router(routes={U: handler})
    check = await make_fetcher(r).check_pdf(U)
    assert check.ok and [("range" in q.headers) for q in r.seen] == [True, False]


async def test_the_plain_get_after_a_416_asks_as_the_probe_did_and_reads_a_small_body_whole():
    """The GET that follows a 416 keeps the probe's other headers (the PDF Accept, no
    encoding, the referer) and its small-body rule: a small file cut short is caught."""
    cut = (b"%PDF-1.4\n" + b"z" * 7000)[:6000]  # no %%EOF: a truncated small file

    def handler(request: httpx.Request) -> httpx.Response:
        if "range" in request.headers:
            return httpx.Response(416)
        return httpx.Response(200, content=cut, headers={"content-length": str(len(cut))})

    r = Router(routes={U: handler})
    check = await make_fetcher(r, pdf_small_body_bytes=6000).check_pdf(U, referer="https://journal.example.org/article/1")
    assert check.reason == "truncated_pdf"
    first, again = r.seen
    for name in ("accept", "accept-encoding", "referer"):
        assert again.headers[name] == first.headers[name], name
    assert again.headers["accept-encoding"] == "identity" and again.headers["referer"] == "https://journal.example.org/article/1"


async def test_a_bad_url_is_named_in_its_verdict():
    check = await make_fetcher(Router()).check_pdf("http://[::1/a.pdf")
    assert (check.reason, check.url) == ("bad_url", "http://[::1/a.pdf")


def _partial(body: bytes, *, total: str | None = None, tail: bytes | None = None,
             tail_total: str | None = None):
    """A server that honours Range: the probe's first bytes, and the last KiB."""
    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers.get("range") == "bytes=-1024":
            hdrs = {} if tail_total is None else {"content-range": f"bytes 0-1/{tail_total}"}
            return httpx.Response(206, content=body[-1024:] if tail is None else tail,
                                  headers=hdrs)
        hdrs = {} if total is None else {"content-range": f"bytes 0-4095/{total}"}
        return httpx.Response(206, content=body[:4096], headers=hdrs)
    return handler


async def test_a_partial_answer_of_the_whole_small_file_must_end_with_eof():
    """A 206 whose Content-Range total is the bytes received is the whole file: it must
    end with %%EOF."""
    body = PDF[:-8]  # cut before %%EOF
    r = Router(routes={U: _partial(body, total=str(len(body)))})
    assert (await make_fetcher(r).check_pdf(U)).reason == "truncated_pdf"


@pytest.mark.parametrize("total", [None, "*"])
async def test_a_partial_answer_of_unknown_length_is_judged_by_its_head(total):
    """A 206 without a usable total length is a head: %PDF- decides, no tail asked."""
    body = BIG[:-8]
    r = Router(routes={U: _partial(body, total=total)})
    check = await make_fetcher(r, pdf_tail_check=True).check_pdf(U)
    assert check.ok and len(r.seen) == 1


async def test_the_tail_of_a_whole_file_confirms_it():
    """With pdf_tail_check, a larger file whose last KiB holds %%EOF is ok (the tail's
    Content-Range agrees on the length; a tail without one is taken as it is)."""
    for tail_total in (str(len(BIG)), None):
        r = Router(routes={U: _partial(BIG, total=str(len(BIG)), tail_total=tail_total)})
        check = await make_fetcher(r, pdf_tail_check=True).check_pdf(U)
        assert check.ok and len(r.seen) == 2
        assert r.seen[1].headers["range"] == "bytes=-1024"


async def test_a_file_that_changed_length_between_requests_is_not_trusted():
    """A tail whose Content-Range total differs from the head's is no evidence: the file
    changed, so the verdict is truncated_pdf."""
    r = Router(routes={U: _partial(BIG, total=str(len(BIG)), tail_total=str(len(BIG) + 1))})
    assert (await make_fetcher(r, pdf_tail_check=True).check_pdf(U)).reason == "truncated_pdf"


async def test_a_tail_that_is_not_partial_leaves_the_head_to_decide():
    """A tail request answered with 200 (the range ignored) leaves the verdict to the head."""
    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers.get("range") == "bytes=-1024":
            return httpx.Response(200, content=BIG[:100])
        return httpx.Response(206, content=BIG[:4096],
                              headers={"content-range": f"bytes 0-4095/{len(BIG)}"})

    assert (await make_fetcher(Router(routes={U: handler}), pdf_tail_check=True)
            .check_pdf(U)).ok


async def test_the_probe_reads_a_small_announced_body_whole_and_no_more():
    """A 200 ignoring Range is read whole when its announced length is at most
    pdf_small_body_bytes (so a cut small file is caught), else only the probe; an
    encoded body's length says nothing of the file: only the probe."""
    for length, expect in ((6000, 6000), (6001, 4096)):
        body = (b"%PDF-1.4\n" + b"z" * 7000)[:length]
        r = Router()
        r.add(U, 200, body, content_length=str(length))
        f = make_fetcher(r, pdf_small_body_bytes=6000)
        await f.check_pdf(U)
        assert f.bytes_read == expect
    packed = gzip.compress(random.Random(7).randbytes(30_000))  # does not shrink
    r = Router()
    r.add(U, 200, packed, content_encoding="gzip", content_length=str(len(packed)))
    f = make_fetcher(r)
    await f.check_pdf(U)
    assert f.bytes_read < 10_000 < len(packed)


async def test_a_partial_answer_is_read_no_further_than_the_probe():
    """A 206 is read up to the probe, even when it announces a small body."""
    body = b"%PDF-1.4\n" + b"z" * 6000
    r = Router()
    r.add(U, 206, body, content_length=str(len(body)), content_range="bytes 0-6008/90000")
    f = make_fetcher(r)
    await f.check_pdf(U)
    assert f.bytes_read == 4096


# ---------------------------------------------------------------- robots.txt

DISALLOW_ALL = "User-agent: *\nDisallow: /\n"


async def test_robots_is_kept_per_scheme_host_and_port():
    """robots.txt is fetched once for each scheme, host and port (host case aside)."""
    r = Router()
    for base in ("https://pub.example.org", "https://pub.example.org:8443",
                 "http://pub.example.org"):
        r.add(f"{base}/robots.txt", 200, "User-agent: *\nAllow: /\n")
        r.add(f"{base}/a.pdf", 200, PDF)
    robots = RobotsCache()
    f = make_fetcher(r, robots=robots, robots_respect=True)
    for url in ("https://pub.example.org/a.pdf", "https://PUB.example.org/a.pdf",
                "https://pub.example.org:8443/a.pdf", "http://pub.example.org/a.pdf"):
        assert (await f.check_pdf(url)).ok
    assert robots.fetches == 3 and repr(robots) == "<RobotsCache hosts=3 fetches=3>"
    assert [u for u in r.urls() if u.endswith("robots.txt")] == [
        "https://pub.example.org/robots.txt", "https://pub.example.org:8443/robots.txt",
        "http://pub.example.org/robots.txt"]


@pytest.mark.parametrize(("hops", "allowed"), [(5, False), (6, True)])
async def test_robots_follows_at_most_five_redirects(hops, allowed):
    """robots.txt is followed through up to 5 redirects; a longer chain is a failed
    fetch, which allows all."""
    r = Router()
    base = "https://pub.example.org"
    chain = [f"{base}/robots.txt"] + [f"{base}/r{i}" for i in range(hops)]
    for here, there in zip(chain, chain[1:], strict=False):
        r.add(here, 302, location=there)
    r.add(chain[-1], 200, DISALLOW_ALL)
    r.add(f"{base}/a.pdf", 200, PDF)
    f = make_fetcher(r, robots=RobotsCache(), robots_respect=True, max_redirects=10)
    if allowed:
        assert (await f.check_pdf(f"{base}/a.pdf")).ok
    else:
        assert (await _refusal(f.check_pdf(f"{base}/a.pdf"))).reason == "robots"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 500, 503])
async def test_robots_that_cannot_be_read_allows_all(status):
    """A robots.txt answered with 4xx or 5xx allows everything, whatever its body says."""
    r = Router()
    r.add("https://pub.example.org/robots.txt", status, DISALLOW_ALL)
    r.add("https://pub.example.org/a.pdf", 200, PDF)
    f = make_fetcher(r, robots=RobotsCache(), robots_respect=True)
    assert (await f.check_pdf("https://pub.example.org/a.pdf")).ok


async def test_robots_with_a_stray_latin1_byte_is_still_honoured():
    """A robots.txt that is not valid UTF-8 (a Latin-1 comment) is read with the bad
    bytes replaced: its rules still hold."""
    text = "# Universit\xe9 de Paris\nUser-agent: *\nDisallow: /pdf/\n".encode("latin-1")
    r = Router()
    r.add("https://pub.example.org/robots.txt", 200, text)
    f = make_fetcher(r, robots=RobotsCache(), robots_respect=True)
    assert (await _refusal(f.check_pdf("https://pub.example.org/pdf/1"))).reason == "robots"


async def test_robots_is_metadata_and_passes_metadata_only():
    """robots.txt is fetched as metadata: offline=metadata_only lets it through."""
    r = Router()
    r.add("https://api.example.org/robots.txt", 200, "User-agent: *\nAllow: /\n")
    r.add("https://api.example.org/x", 200, "[]")
    f = make_fetcher(r, offline="metadata_only", robots=RobotsCache(), robots_respect=True)
    assert (await f.get_json("https://api.example.org/x")).data == []
    assert r.urls() == ["https://api.example.org/robots.txt", "https://api.example.org/x"]


@pytest.mark.looptime
async def test_a_robots_fetch_given_up_is_tried_again():
    """When the request that was fetching robots.txt is cancelled, the next request to
    the host fetches it itself (nobody waits on the abandoned fetch)."""
    calls = []

    async def robots(request):
        calls.append(request)
        if len(calls) == 1:
            await asyncio.sleep(60)
        return httpx.Response(200, text="User-agent: *\nAllow: /\n")

    r = Router(routes={"https://pub.example.org/robots.txt": robots})
    r.add("https://pub.example.org/a.pdf", 200, PDF)
    f = make_fetcher(r, robots=RobotsCache(), robots_respect=True)
    first = asyncio.create_task(f.check_pdf("https://pub.example.org/a.pdf"))
    await asyncio.sleep(1)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    check = await asyncio.wait_for(f.check_pdf("https://pub.example.org/a.pdf"), 10)
    assert check.ok and len(calls) == 2


# ---------------------------------------------------------------- addresses


async def test_the_system_resolver_gives_plain_addresses_once_each():
    """system_resolver returns each address once, as text, for the host asked."""
    assert await system_resolver("93.184.215.14", 443) == ["93.184.215.14"]
    assert await system_resolver("2606:4700::1111", 80) == ["2606:4700::1111"]


@pytest.mark.parametrize("address", ["4000::1", "100::1", "f000::1"])
def test_reserved_ipv6_is_unsafe(address):
    """IPv6 space the IETF reserves (not private, so `is_global` passes it) is refused."""
    assert is_unsafe_ip(ipaddress.ip_address(address))


# ---------------------------------------------------------------- DOI redirects


async def test_resolve_location_stops_at_the_first_url_off_the_resolver():
    """resolve_location follows the resolver's own redirects (any host case) and returns
    the first URL elsewhere, without requesting it; it is metadata (metadata_only lets
    it through)."""
    r = Router()
    r.add("https://doi.org/10.1/x", 302, location="https://DX.doi.org/10.1/x")
    r.add("https://dx.doi.org/10.1/x", 302, location="https://pub.example.org/a")
    f = make_fetcher(r, offline="metadata_only")
    assert await f.resolve_location("https://doi.org/10.1/x") == "https://pub.example.org/a"
    assert r.urls() == ["https://doi.org/10.1/x", "https://dx.doi.org/10.1/x"]


@pytest.mark.parametrize(("status", "raises"), [(404, False), (200, False), (400, True),
                                                (403, True), (405, True), (503, True)])
async def test_resolve_location_raises_on_errors_but_404(status, raises):
    """A resolver answer that ends the chain is None when 404 (no such DOI) or not an
    error; any other 4xx/5xx raises HttpStatusError naming the URL and Retry-After."""
    r = Router()
    r.add("https://doi.org/10.1/x", 302, location="https://doi.org/10.1/y")
    r.add("https://doi.org/10.1/y", status, "", retry_after="9")
    f = make_fetcher(r)
    if not raises:
        assert await f.resolve_location("https://doi.org/10.1/x") is None
        return
    with pytest.raises(HttpStatusError) as info:
        await f.resolve_location("https://doi.org/10.1/x")
    assert (info.value.status, info.value.url, info.value.retry_after_s) == (
        status, "https://doi.org/10.1/y", 9.0)


@pytest.mark.looptime
async def test_requests_waiting_on_a_robots_fetch_share_it():
    """Requests to a host that arrive while its robots.txt is being fetched wait for that
    fetch instead of sending their own."""
    calls = []

    async def robots(request):
        calls.append(request)
        await asyncio.sleep(1)
        return httpx.Response(200, text="User-agent: *\nDisallow: /pdf/\n")

    r = Router(routes={"https://pub.example.org/robots.txt": robots})
    r.add("https://pub.example.org/a.pdf", 200, PDF)
    f = make_fetcher(r, robots=RobotsCache(), robots_respect=True)
    urls = ["https://pub.example.org/a.pdf", "https://pub.example.org/pdf/1"] * 2
    results = await asyncio.gather(*(f.check_pdf(u) for u in urls), return_exceptions=True)
    assert [getattr(x, "ok", None) or getattr(x, "reason", None) for x in results] == [
        True, "robots", True, "robots"]
    assert len(calls) == 1


async def test_each_verdict_counts_only_its_own_bytes():
    """A check's bytes_read is what this check read (robots.txt included), not what the
    Edge read before it: for an ok file and for a redirect loop alike."""
    robots_txt = "User-agent: *\nAllow: /\n"
    r = Router()
    r.add("https://api.example.org/x", 200, "[1, 2, 3]")
    r.add("https://pub.example.org/robots.txt", 200, robots_txt)
    r.add("https://pub.example.org/a.pdf", 200, PDF)
    r.add("https://loop.example.org/robots.txt", 200, robots_txt)
    r.add("https://loop.example.org/1", 302, location="https://loop.example.org/2")
    r.add("https://loop.example.org/2", 302, location="https://loop.example.org/1")
    f = make_fetcher(r, robots=RobotsCache(), robots_respect=True)
    await f.get_json("https://api.example.org/x")
    ok = await f.check_pdf("https://pub.example.org/a.pdf")
    loop = await f.check_pdf("https://loop.example.org/1")
    assert (ok.bytes_read, loop.reason, loop.bytes_read) == (
        len(robots_txt) + len(PDF), "redirect_loop", len(robots_txt))


async def test_a_robots_fetch_cancelled_midway_is_done_again_by_the_request_waiting_for_it():
    """Two requests to one host share one robots.txt fetch; when the fetching one is
    cancelled (its try ended), the waiting one fetches the file itself rather than
    going ahead unchecked."""
    from types import SimpleNamespace

    calls: list[str] = []

    class Fetcher:
        async def _follow(self, url: httpx.URL, **_: object) -> SimpleNamespace:
            calls.append(str(url))
            if len(calls) == 1:
                await asyncio.Event().wait()  # hangs until its try is cancelled
            return SimpleNamespace(status=200, url=str(url),
                                   body=b"User-agent: *\nDisallow: /\n")

    robots, fetcher = RobotsCache(), Fetcher()
    first = asyncio.create_task(robots.allowed(U, fetcher))
    await asyncio.sleep(0)
    second = asyncio.create_task(robots.allowed(U, fetcher))
    await asyncio.sleep(0)
    first.cancel()
    assert await second is False
    assert calls == ["https://files.example.org/robots.txt"] * 2


def test_a_deflate_body_that_is_neither_zlib_nor_raw_deflate_fails_once():
    """A body labelled deflate is tried as zlib, then as raw deflate, then refused (not
    retried for ever)."""
    decoder = _BoundedDecoder("deflate")
    assert decoder.decode(b"\xff" * 64, 100) == b"" and decoder.failed
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    body = raw.compress(b"raw deflate") + raw.flush()
    ok = _BoundedDecoder("deflate")
    assert ok.decode(body, 100) == b"raw deflate" and not ok.failed


async def test_a_refused_redirect_counts_only_the_bytes_of_its_own_fetch():
    """A fetch ended by a redirect loop reads no body: its verdict says 0 bytes, even
    on an edge that has read other files before."""
    r = Router()
    r.add(U, 200, PDF)
    loop = "https://files.example.org/loop.pdf"
    r.add(loop, 302, location=loop + "?x=1")
    r.add(loop + "?x=1", 302, location=loop)
    f = make_fetcher(r)
    assert (await f.fetch_pdf(U, max_bytes=100_000)).ok and f.bytes_read == len(PDF)
    refused = await f.fetch_pdf(loop, max_bytes=100_000)
    assert (refused.reason, refused.bytes_read) == ("redirect_loop", 0)
