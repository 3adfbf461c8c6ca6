"""The network layer: gates on every hop, size caps, and the PDF gate."""

from __future__ import annotations

import gzip

import httpx
import pytest
from _netkit import BIG_PDF, HTML, PDF, Router, make_fetcher

from fallback_kit.web.edge import (
    HttpStatusError,
    NetSettings,
    RedirectLoop,
    ResponseTooLarge,
    RobotsCache,
    TooManyRedirects,
    classify_pdf_bytes,
    is_unsafe_ip,
    normalize_url,
)
from fallback_kit.web.gates import BreakerConfig, GateClosed, Gates

U = "https://files.example.org/a.pdf"


# ---------------------------------------------------------------- JSON / HTML


async def test_get_json_parses_ok_body():
    """A 200 JSON body is parsed and the final URL returned."""
    r = Router()
    r.add("https://api.example.org/v2/x", 200, '{"a": 1}', content_type="application/json")
    resp = await make_fetcher(r).get_json("https://api.example.org/v2/x")
    assert (resp.status, resp.data, resp.url) == (200, {"a": 1}, "https://api.example.org/v2/x")


async def test_get_json_404_returns_with_data():
    """A 404 is an answer, not an error: data holds its JSON (or None)."""
    r = Router()
    r.add("https://api.example.org/v2/x", 404, '{"error": true}')
    resp = await make_fetcher(r).get_json("https://api.example.org/v2/x")
    assert resp.status == 404 and resp.data == {"error": True}


async def test_get_json_other_status_raises_with_retry_after():
    """A 429 raises HttpStatusError carrying Retry-After in seconds."""
    r = Router()
    r.add("https://api.example.org/v2/x", 429, "slow down", retry_after="7")
    with pytest.raises(HttpStatusError) as info:
        await make_fetcher(r).get_json("https://api.example.org/v2/x")
    assert (info.value.status, info.value.retry_after_s) == (429, 7.0)


async def test_get_json_params_are_encoded():
    """Query parameters are merged into the URL (None values dropped)."""
    r = Router()
    r.add("https://api.example.org/q", 200, "[]")
    await make_fetcher(r).get_json(
        "https://api.example.org/q", params={"email": "a@b.c", "x": None}
    )
    assert r.urls() == ["https://api.example.org/q?email=a%40b.c"]


async def test_get_html_follows_redirects_to_final_url():
    """get_html follows redirects hop by hop and reports the final URL."""
    r = Router()
    r.add("https://doi.org/10.1/x", 302, location="https://pub.example.org/article/1")
    r.add("https://pub.example.org/article/1", 301, location="/article/1/")
    r.add("https://pub.example.org/article/1/", 200, HTML, content_type="text/html")
    f = make_fetcher(r)
    resp = await f.get_html("https://doi.org/10.1/x")
    assert resp.url == "https://pub.example.org/article/1/" and "Viewer" in resp.text
    assert f.requests == 3


async def test_get_html_redirect_loop_raises():
    """A redirect chain that revisits a URL ends with RedirectLoop."""
    r = Router()
    r.add("https://a.example.org/1", 302, location="https://a.example.org/2")
    r.add("https://a.example.org/2", 302, location="https://a.example.org/1")
    with pytest.raises(RedirectLoop):
        await make_fetcher(r).get_html("https://a.example.org/1")


async def test_too_many_redirects_raises():
    """More than max_redirects hops ends with TooManyRedirects."""
    r = Router()
    for i in range(5):
        r.add(f"https://a.example.org/{i}", 302, location=f"https://a.example.org/{i + 1}")
    with pytest.raises(TooManyRedirects):
        await make_fetcher(r, max_redirects=3).get_html("https://a.example.org/0")
    assert len(r.seen) == 4


# ---------------------------------------------------------------- size caps


async def test_gzip_bomb_is_cut_not_inflated():
    """A gzip body inflating far past the cap is cut at the cap, most of it never read."""
    bomb = gzip.compress(b"\0" * 30_000_000, compresslevel=9)
    r = Router()
    r.add("https://a.example.org/p", 200, bomb, content_type="text/html", content_encoding="gzip")
    resp = await make_fetcher(r, max_html_bytes=100_000).get_html("https://a.example.org/p")
    assert len(resp.text) == 100_000 and resp.truncated
    assert r.streams[0].pulled <= 16_384 < len(bomb) and r.streams[0].closed


async def test_json_over_cap_raises_too_large():
    """A JSON body longer than max_json_bytes raises ResponseTooLarge (never half-parsed)."""
    r = Router()
    r.add("https://api.example.org/big", 200, "[" + "1," * 5000 + "1]")
    with pytest.raises(ResponseTooLarge):
        await make_fetcher(r, max_json_bytes=1000).get_json("https://api.example.org/big")


async def test_gzip_json_is_decoded():
    """A gzip-encoded JSON body under the cap is decoded and parsed."""
    r = Router()
    r.add("https://api.example.org/g", 200, gzip.compress(b'{"ok": true}'), content_encoding="gzip")
    resp = await make_fetcher(r).get_json("https://api.example.org/g")
    assert resp.data == {"ok": True}


# ---------------------------------------------------------------- the PDF gate


async def test_pdf_ok_with_range_honoured():
    """A 206 answer to the Range probe holding a whole small PDF is valid."""
    r = Router()
    r.add(
        U,
        206,
        PDF,
        content_type="application/pdf",
        content_range=f"bytes 0-{len(PDF) - 1}/{len(PDF)}",
    )
    check = await make_fetcher(r).check_pdf(U)
    assert (check.ok, check.reason, check.status) == (True, "ok", 206)
    assert r.seen[0].headers["range"] == "bytes=0-4095"


async def test_pdf_200_full_body_is_cut_at_probe_size():
    """A server ignoring Range: at most pdf_probe_bytes are read and the stream closed."""
    r = Router()
    r.add(U, 200, BIG_PDF, content_type="application/pdf")
    f = make_fetcher(r)
    check = await f.check_pdf(U)
    assert check.ok and check.bytes_read <= 4096
    assert r.streams[0].closed and r.streams[0].pulled <= 4096


async def test_html_labelled_pdf_is_rejected():
    """An HTML body served as application/pdf is html_instead_of_pdf."""
    r = Router()
    r.add(U, 200, HTML, content_type="application/pdf")
    check = await make_fetcher(r).check_pdf(U)
    assert (check.ok, check.reason, check.content_type) == (
        False,
        "html_instead_of_pdf",
        "application/pdf",
    )


@pytest.mark.parametrize("page", [
    b'<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN"><HTML><BODY>Download</BODY></HTML>',
    b"<!DOCTYPE HTML><HTML><HEAD><TITLE>Article</TITLE></HEAD></HTML>",
    b"\xef\xbb\xbf\r\n<HTML><BODY>Article</BODY></HTML>",
], ids=["html4-doctype", "upper-doctype", "bom-upper-html"])
async def test_uppercase_html_is_html_instead_of_pdf(page):
    """HTML in upper case (older servers) is still recognised as HTML by the one verdict."""
    r = Router()
    r.add(U, 200, page, content_type="application/pdf")
    assert (await make_fetcher(r).check_pdf(U)).reason == "html_instead_of_pdf"
    assert classify_pdf_bytes(page, status=200, complete=True) == "html_instead_of_pdf"


async def test_truncated_small_pdf_is_rejected():
    """A complete small body that starts as a PDF but lacks %%EOF is truncated_pdf."""
    r = Router()
    r.add(U, 200, PDF[:200], content_type="application/pdf", content_length=str(200))
    assert (await make_fetcher(r).check_pdf(U)).reason == "truncated_pdf"


async def test_truncated_large_pdf_found_by_tail_request():
    """A 206 probe of a larger file fetches its last KiB; no %%EOF there means truncated."""
    body = b"%PDF-1.4\n" + b"y" * 9000  # cut: no %%EOF

    def handler(request: httpx.Request) -> httpx.Response:
        rng = request.headers["range"]
        if rng == "bytes=-1024":
            return httpx.Response(
                206,
                content=body[-1024:],
                headers={"content-range": f"bytes {len(body) - 1024}-{len(body) - 1}/{len(body)}"},
            )
        return httpx.Response(
            206, content=body[:4096], headers={"content-range": f"bytes 0-4095/{len(body)}"}
        )

    r = Router(routes={U: handler})
    check = await make_fetcher(r, pdf_tail_check=True).check_pdf(U)
    assert check.reason == "truncated_pdf" and len(r.seen) == 2


async def test_no_tail_request_by_default():
    """By default the gate decides by the first bytes: one request, no tail fetch."""
    body = b"%PDF-1.4\n" + b"y" * 9000

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            206, content=body[:4096], headers={"content-range": f"bytes 0-4095/{len(body)}"}
        )

    r = Router(routes={U: handler})
    check = await make_fetcher(r).check_pdf(U)
    assert check.ok and len(r.seen) == 1


async def test_empty_body_is_rejected():
    """An empty 200 body is empty_body."""
    r = Router()
    r.add(U, 200, b"", content_type="application/pdf")
    assert (await make_fetcher(r).check_pdf(U)).reason == "empty_body"


async def test_challenge_page_is_blocked():
    """A 403 bot challenge ("Just a moment...") is blocked."""
    r = Router()
    r.add(
        U,
        403,
        b"<!DOCTYPE html><html><head><title>Just a moment...</title></head>"
        b"<body><script src='/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page'></script>"
        b"</body></html>",
    )
    check = await make_fetcher(r).check_pdf(U)
    assert (check.reason, check.status) == ("blocked", 403)


async def test_other_bytes_are_not_pdf():
    """Bytes that are neither PDF nor HTML are not_pdf."""
    r = Router()
    r.add(U, 200, b"PK\x03\x04 zip file", content_type="application/pdf")
    assert (await make_fetcher(r).check_pdf(U)).reason == "not_pdf"


async def test_pdf_404_reason_names_status():
    """A 404 candidate gives reason http_404 with the status."""
    check = await make_fetcher(Router()).check_pdf(U)
    assert (check.reason, check.status, check.ok) == ("http_404", 404, False)


async def test_pdf_redirect_loop_is_a_reason_not_an_exception():
    """check_pdf turns a redirect loop into reason redirect_loop."""
    r = Router()
    r.add(U, 302, location=U + "?x=1")
    r.add(U + "?x=1", 302, location=U)
    check = await make_fetcher(r).check_pdf(U)
    assert check.reason == "redirect_loop" and len(r.seen) == 2


async def test_pdf_redirect_is_followed_to_file():
    """A 302 to the file is followed; final_url names the file."""
    r = Router()
    r.add("https://pmc.example.org/articles/PMC1/pdf/", 302, location="/articles/PMC1/pdf/main.pdf")
    r.add("https://pmc.example.org/articles/PMC1/pdf/main.pdf", 200, PDF)
    check = await make_fetcher(r).check_pdf("https://pmc.example.org/articles/PMC1/pdf/")
    assert check.ok and check.final_url == "https://pmc.example.org/articles/PMC1/pdf/main.pdf"


def test_pdf_magic_must_open_the_body():
    """Only whitespace or a BOM may come before %PDF-, within the first KiB; never markup."""
    assert classify_pdf_bytes(b"\r\n  " + PDF, status=200, complete=True) == "ok"
    assert classify_pdf_bytes(b"\xef\xbb\xbf" + PDF, status=200, complete=True) == "ok"
    assert classify_pdf_bytes(b" " * 2000 + PDF, status=200, complete=True) == "not_pdf"
    assert classify_pdf_bytes(b"Warning: x\n" + PDF, status=200, complete=True) == "not_pdf"
    page = b"<html><body><p>see the file</p><pre>" + PDF + b"</pre></body></html>"
    assert classify_pdf_bytes(page, status=200, complete=True) == "html_instead_of_pdf"


async def test_responses_are_closed_on_every_path():
    """Every streamed response is closed, redirects and errors included."""
    r = Router()
    r.add("https://a.example.org/1", 302, location="https://a.example.org/2")
    r.add("https://a.example.org/2", 200, PDF)
    r.add("https://a.example.org/3", 503, "down")
    f = make_fetcher(r)
    await f.check_pdf("https://a.example.org/1")
    with pytest.raises(HttpStatusError):
        await f.get_json("https://a.example.org/3")
    assert len(r.streams) == 3 and all(s.closed for s in r.streams)


# ---------------------------------------------------------------- gates


async def test_block_all_sends_nothing():
    """offline=block_all refuses every request before it is sent."""
    r = Router()
    with pytest.raises(GateClosed) as info:
        await make_fetcher(r, offline="block_all").get_json("https://api.example.org/x")
    assert info.value.reason == "offline" and r.seen == []


async def test_metadata_only_allows_json_refuses_pdf():
    """offline=metadata_only lets API calls through but not PDF checks."""
    r = Router()
    r.add("https://api.example.org/x", 200, "{}")
    f = make_fetcher(r, offline="metadata_only")
    assert (await f.get_json("https://api.example.org/x")).data == {}
    with pytest.raises(GateClosed) as info:
        await f.check_pdf(U)
    assert info.value.reason == "offline_metadata_only" and len(r.seen) == 1


async def test_cache_only_sends_only_if_cached_and_maps_504():
    """offline=cache_only asks the cache only; a 504 means not cached."""
    r = Router()
    r.add("https://api.example.org/x", 504, "")
    with pytest.raises(GateClosed) as info:
        await make_fetcher(r, offline="cache_only").get_json("https://api.example.org/x")
    assert info.value.reason == "offline_not_cached"
    assert r.seen[0].headers["cache-control"] == "only-if-cached"


async def test_5xx_opens_the_host_breaker():
    """Server errors count as host failures: the breaker opens and later requests are refused."""
    r = Router()
    r.add("https://api.example.org/x", 503, "")
    gates = Gates(breaker=BreakerConfig(failure_threshold=2))
    f = make_fetcher(r, gates=gates)
    for _ in range(2):
        with pytest.raises(HttpStatusError):
            await f.get_json("https://api.example.org/x")
    with pytest.raises(GateClosed) as info:
        await f.get_json("https://api.example.org/x")
    assert info.value.reason == "breaker_open" and len(r.seen) == 2


async def test_transport_error_propagates_and_counts_as_failure():
    """A connection error propagates untouched and is a host failure for the breaker."""

    def boom(request):
        raise httpx.ConnectError("reset", request=request)

    gates = Gates(breaker=BreakerConfig(failure_threshold=1))
    f = make_fetcher(Router(routes={U: boom}), gates=gates)
    with pytest.raises(httpx.ConnectError):
        await f.check_pdf(U)
    assert gates.is_open("files.example.org")


async def test_robots_disallow_is_honoured_and_cached():
    """robots.txt disallow refuses the request; the file is fetched once per host."""
    r = Router()
    r.add("https://pub.example.org/robots.txt", 200, "User-agent: *\nDisallow: /pdf/\n")
    r.add("https://pub.example.org/ok.pdf", 200, PDF)
    robots = RobotsCache()
    f = make_fetcher(r, robots=robots, robots_respect=True)
    with pytest.raises(GateClosed) as info:
        await f.check_pdf("https://pub.example.org/pdf/1")
    assert info.value.reason == "robots"
    assert (await f.check_pdf("https://pub.example.org/ok.pdf")).ok
    with pytest.raises(GateClosed):
        await f.check_pdf("https://pub.example.org/pdf/2")
    assert r.urls().count("https://pub.example.org/robots.txt") == 1
    assert robots.fetches == 1


async def test_robots_404_allows_all():
    """A missing robots.txt allows everything."""
    r = Router()
    r.add("https://pub.example.org/pdf/1", 200, PDF)
    f = make_fetcher(r, robots=RobotsCache(), robots_respect=True)
    assert (await f.check_pdf("https://pub.example.org/pdf/1")).ok


async def test_robots_ignored_when_not_respected():
    """Without robots_respect no robots.txt is fetched."""
    r = Router()
    r.add("https://pub.example.org/pdf/1", 200, PDF)
    await make_fetcher(r, robots=RobotsCache()).check_pdf("https://pub.example.org/pdf/1")
    assert r.urls() == ["https://pub.example.org/pdf/1"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x.pdf",
        "http://10.1.2.3/x.pdf",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/x.pdf",
        "http://localhost/x.pdf",
        "http://2130706433/x.pdf",
    ],
)
async def test_ssrf_targets_refused_in_live_mode(url):
    """Live mode refuses private, loopback and link-local targets before sending."""
    r = Router()
    with pytest.raises(GateClosed) as info:
        await make_fetcher(r, live=True).check_pdf(url)
    assert info.value.reason == "unsafe_url" and r.seen == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://ftp.example.org/x.pdf"])
async def test_non_http_schemes_refused(url):
    """Only http and https URLs are ever fetched."""
    r = Router()
    with pytest.raises(GateClosed) as info:
        await make_fetcher(r, live=True).check_pdf(url)
    assert info.value.reason == "unsafe_url" and r.seen == []


async def test_redirect_to_private_address_refused_in_live_mode():
    """Each redirect hop is checked: a public URL redirecting inside is refused."""
    r = Router()
    r.add("http://93.184.215.14/a.pdf", 302, location="http://192.168.1.1/admin")
    with pytest.raises(GateClosed) as info:
        await make_fetcher(r, live=True).check_pdf("http://93.184.215.14/a.pdf")
    assert info.value.reason == "unsafe_url" and len(r.seen) == 1


async def test_loopback_allowed_outside_live_mode():
    """Sandbox/mock mode does not apply the address checks."""
    r = Router()
    r.add("http://127.0.0.1/x.pdf", 200, PDF)
    assert (await make_fetcher(r).check_pdf("http://127.0.0.1/x.pdf")).ok


#: every form of address the SSRF guard refuses, one example each (and why)
REFUSED_FORMS = {
    "private-10": "10.1.2.3",
    "private-172": "172.16.0.9",
    "private-192": "192.168.1.1",
    "loopback-v4": "127.0.0.1",
    "loopback-v6": "::1",
    "link-local-v4 (cloud metadata)": "169.254.169.254",
    "link-local-v6": "fe80::1",
    "multicast-v4": "224.0.0.251",
    "multicast-v4-global-scope": "233.252.0.1",
    "multicast-v6": "ff0e::1",
    "shared-address-space": "100.64.0.1",
    "shared-address-space (cloud metadata)": "100.100.100.200",
    "unspecified-v4": "0.0.0.0",
    "unspecified-v6": "::",
    "this-network": "0.1.2.3",
    "reserved-v4": "240.0.0.1",
    "broadcast": "255.255.255.255",
    "documentation-v4": "192.0.2.10",
    "documentation-v6": "2001:db8::1",
    "unique-local-v6": "fd00::1",
    "nat64-loopback": "64:ff9b::7f00:1",
    "nat64-metadata": "64:ff9b::a9fe:a9fe",
    "nat64-private": "64:ff9b::a00:1",
    "nat64-local-use": "64:ff9b:1::a00:1",
    "ipv4-mapped-loopback": "::ffff:127.0.0.1",
    "ipv4-mapped-shared": "::ffff:100.100.100.200",
    "ipv4-translated": "::ffff:0:a00:1",
    "ipv4-compatible": "::10.0.0.1",
    "6to4-private": "2002:a00:1::1",
    "6to4-loopback": "2002:7f00:1::1",
    "teredo": "2001:0:4136:e378:8000:63bf:3fff:fdd2",
}

#: public addresses, also inside the IPv6 forms that embed IPv4 (the control group)
ALLOWED_FORMS = {
    "public-v4": "93.184.215.14",
    "public-v6": "2606:4700::1111",
    "nat64-public": "64:ff9b::5db8:d70e",
    "ipv4-mapped-public": "::ffff:93.184.215.14",
    "6to4-public": "2002:5db8:d70e::1",
}


@pytest.mark.parametrize("address", REFUSED_FORMS.values(), ids=REFUSED_FORMS.keys())
def test_every_refused_address_form_is_unsafe(address):
    """Each form of an address no public fetch may reach is refused."""
    import ipaddress

    assert is_unsafe_ip(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ALLOWED_FORMS.values(), ids=ALLOWED_FORMS.keys())
def test_public_addresses_pass_in_every_form(address):
    """Public addresses pass, also when an IPv6 form carries them (NAT64, mapped, 6to4)."""
    import ipaddress

    assert not is_unsafe_ip(ipaddress.ip_address(address))


def _resolving_to(address: str, asked: list[str]):
    async def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["93.184.215.14", address]  # one refused answer among public ones is enough

    return resolver


@pytest.mark.parametrize("address", REFUSED_FORMS.values(), ids=REFUSED_FORMS.keys())
async def test_name_resolving_to_a_refused_form_is_refused(address):
    """A host name that resolves to any refused form is refused before anything is sent."""
    r, asked = Router(), []
    f = make_fetcher(r, trust_transport=False, resolver=_resolving_to(address, asked))
    with pytest.raises(GateClosed) as info:
        await f.check_pdf("https://files.example.org/a.pdf")
    assert (info.value.reason, r.seen, asked) == ("unsafe_url", [], ["files.example.org"])


@pytest.mark.parametrize("address", ["64:ff9b::7f00:1", "::ffff:7f00:1", "100.100.100.200",
                                     "2002:a9fe:a9fe::1"])
async def test_address_literal_in_a_refused_form_is_refused(address):
    """An address written in the URL is judged the same way (no lookup needed)."""
    r = Router()
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(GateClosed) as info:
        await make_fetcher(r, live=True).get_json(f"http://{host}/latest/meta-data")
    assert info.value.reason == "unsafe_url" and r.seen == []


async def test_the_guard_is_on_by_default_and_trust_transport_is_its_switch():
    """NetSettings() checks addresses (through the resolver); only trust_transport=True,
    said explicitly, skips the lookup."""
    r, asked = Router(), []
    r.add(U, 200, PDF)
    resolver = _resolving_to("10.0.0.1", asked)
    guarded = make_fetcher(r, trust_transport=NetSettings().trust_transport, resolver=resolver)
    with pytest.raises(GateClosed):
        await guarded.check_pdf(U)
    trusted = make_fetcher(r, trust_transport=True, resolver=resolver)
    assert (await trusted.check_pdf(U)).ok
    assert asked == ["files.example.org"] and len(r.seen) == 1


def test_normalize_url_merges_scheme_case_and_fragment():
    """Duplicate candidates differing in scheme, host case, port or fragment are one."""
    assert normalize_url("http://Example.org:80/a.pdf#p=1") == normalize_url(
        "https://example.org/a.pdf"
    )
    assert normalize_url("https://example.org/a.pdf?x=1") != normalize_url(
        "https://example.org/a.pdf"
    )


class RecordingGates(Gates):
    """Gates that remember which hosts were released (cancelled without a verdict)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.released: list[str] = []
        self.verdicts: list[tuple[str, bool]] = []

    def release(self, host: str) -> None:
        self.released.append(host)
        super().release(host)

    def after_response(self, host: str, *, ok: bool, status: int | None = None) -> None:
        self.verdicts.append((host, ok))
        super().after_response(host, ok=ok, status=status)


@pytest.mark.looptime
async def test_cancellation_releases_the_host():
    """A request cancelled mid-flight releases its host slot and gives no verdict."""
    import asyncio

    async def slow(request):
        await asyncio.sleep(60)
        return httpx.Response(200, content=PDF)

    gates = RecordingGates()
    f = make_fetcher(Router(routes={U: slow}), gates=gates)
    task = asyncio.create_task(f.check_pdf(U))
    await asyncio.sleep(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert gates.released == ["files.example.org"] and gates.verdicts == []


async def test_429_is_a_host_failure_404_is_not():
    """429 counts against the host's breaker; 404 means the host answered."""
    r = Router()
    r.add("https://a.example.org/busy", 429, "")
    gates = RecordingGates()
    f = make_fetcher(r, gates=gates)
    await f.check_pdf("https://a.example.org/busy")
    await f.check_pdf("https://a.example.org/missing")
    assert gates.verdicts == [("a.example.org", False), ("a.example.org", True)]


async def test_concurrent_first_requests_share_one_robots_fetch():
    """Many simultaneous first requests to a host fetch robots.txt once."""
    import asyncio

    r = Router()
    r.add("https://pub.example.org/robots.txt", 200, "User-agent: *\nAllow: /\n")
    for i in range(5):
        r.add(f"https://pub.example.org/{i}.pdf", 200, PDF)
    f = make_fetcher(r, robots=RobotsCache(), robots_respect=True)
    checks = await asyncio.gather(
        *(f.check_pdf(f"https://pub.example.org/{i}.pdf") for i in range(5))
    )
    assert all(c.ok for c in checks)
    assert r.urls().count("https://pub.example.org/robots.txt") == 1


async def test_tail_check_failure_leaves_verdict_to_head():
    """If the tail request fails in transport, the head's %PDF- decides (ok)."""
    body = b"%PDF-1.4\n" + b"y" * 9000 + b"%%EOF\n"

    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers["range"] == "bytes=-1024":
            raise httpx.ReadError("reset", request=request)
        return httpx.Response(
            206, content=body[:4096], headers={"content-range": f"bytes 0-4095/{len(body)}"}
        )

    check = await make_fetcher(Router(routes={U: handler}), pdf_tail_check=True).check_pdf(U)
    assert check.ok


async def test_requests_counted_with_hops_and_robots():
    """Fetcher.requests counts robots.txt and every redirect hop."""
    r = Router()
    r.add("https://pub.example.org/a", 302, location="https://pub.example.org/b.pdf")
    r.add("https://pub.example.org/b.pdf", 200, PDF)
    f = make_fetcher(r, robots=RobotsCache(), robots_respect=True)
    await f.check_pdf("https://pub.example.org/a")
    assert f.requests == 3 == len(r.seen)


async def test_small_whole_body_ignoring_range_is_read_for_eof():
    """A small body sent whole despite Range is read whole: without %%EOF it is truncated."""
    body = b"%PDF-1.4\n" + b"z" * 6000  # 6 KB, cut, sent whole with 200
    r = Router()
    r.add(U, 200, body, content_length=str(len(body)))
    check = await make_fetcher(r).check_pdf(U)
    assert (check.reason, check.bytes_read) == ("truncated_pdf", len(body))
