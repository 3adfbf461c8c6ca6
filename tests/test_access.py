"""Institutional access: EZproxy rewriting, cookies.txt, proxy credentials kept out."""

from __future__ import annotations

import httpx
import pytest

from fallback_kit.web.access import (
    AccessError,
    EzproxyRule,
    EzproxyTransport,
    load_cookies_txt,
    redacted_proxy,
)

# the Netscape cookie file format as curl documents it: domain, include subdomains,
# path, secure, expiry (epoch s, 0 = session), name, value; tab-separated
COOKIES_TXT = (
    "# Netscape HTTP Cookie File\n"
    "# exported by the user's browser\n"
    ".sciencedirect.com\tTRUE\t/\tTRUE\t4102444800\tEUID\tabc123\n"
    "www.wiley.com\tFALSE\t/\tFALSE\t4102444800\tsession\twiley-token\n"
    ".tracker.example\tTRUE\t/\tFALSE\t4102444800\tid\tzzz\n"
)


@pytest.mark.parametrize(("style", "want"), [
    ("hyphen", "https://www-sciencedirect-com.ezproxy.univ.edu/science/article/pii/S1?x=1"),
    ("dots", "https://www.sciencedirect.com.ezproxy.univ.edu/science/article/pii/S1?x=1"),
    ("login", "https://ezproxy.univ.edu/login?url=https://www.sciencedirect.com/science/"
              "article/pii/S1%3Fx%3D1"),
])
def test_ezproxy_rewrites_a_covered_host_in_each_style(style, want):
    """Each EZproxy style puts a covered publisher URL on the proxy."""
    rule = EzproxyRule(proxy="ezproxy.univ.edu", hosts=("sciencedirect.com",), style=style)
    assert rule.rewrite("https://www.sciencedirect.com/science/article/pii/S1?x=1") == want


def test_ezproxy_leaves_other_hosts_and_proxied_urls_alone():
    """Hosts not listed, and URLs already on the proxy, are not rewritten."""
    rule = EzproxyRule(proxy="ezproxy.univ.edu", hosts=("sciencedirect.com",))
    assert rule.rewrite("https://api.unpaywall.org/v2/10.1/x") == "https://api.unpaywall.org/v2/10.1/x"
    on_proxy = "https://www-sciencedirect-com.ezproxy.univ.edu/a"
    assert rule.rewrite(on_proxy) == on_proxy
    assert rule.rewrite("https://notsciencedirect.com/a") == "https://notsciencedirect.com/a"


def test_a_bad_ezproxy_style_is_one_clear_error():
    """An unknown style names the setting and the choices."""
    with pytest.raises(AccessError, match="ezproxy.style must be one of hyphen, dots, login"):
        EzproxyRule(proxy="ezproxy.univ.edu", hosts=("x.org",), style="magic")


async def test_the_transport_sends_covered_requests_to_the_proxy():
    """Through EzproxyTransport a publisher request reaches the proxy host, with its
    Host header; other requests go out unchanged."""
    seen: list[tuple[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.headers["host"]))
        return httpx.Response(200)

    rule = EzproxyRule(proxy="ezproxy.univ.edu", hosts=("sciencedirect.com",))
    transport = EzproxyTransport(httpx.MockTransport(handler), rule)
    async with httpx.AsyncClient(transport=transport) as client:
        await client.get("https://www.sciencedirect.com/science/article/pii/S1/pdfft")
        await client.get("https://doi.org/10.1016/x")
    assert seen == [
        ("https://www-sciencedirect-com.ezproxy.univ.edu/science/article/pii/S1/pdfft",
         "www-sciencedirect-com.ezproxy.univ.edu"),
        ("https://doi.org/10.1016/x", "doi.org"),
    ]


def test_cookies_txt_is_read_and_kept_to_the_hosts_asked(tmp_path):
    """A Netscape cookies.txt loads; `hosts` keeps only those domains' cookies."""
    path = tmp_path / "cookies.txt"
    path.write_text(COOKIES_TXT)
    every = load_cookies_txt(path)
    assert {c.name for c in every.jar} == {"EUID", "session", "id"}
    kept = load_cookies_txt(path, hosts=["sciencedirect.com", "wiley.com"])
    assert {(c.domain, c.name) for c in kept.jar} == {(".sciencedirect.com", "EUID"),
                                                      ("www.wiley.com", "session")}


def test_a_cookies_file_that_is_not_one_is_one_clear_error(tmp_path):
    """A file that is not a cookies.txt (or is missing) is named in one line."""
    bad = tmp_path / "cookies.json"
    bad.write_text('[{"name": "EUID"}]')
    with pytest.raises(AccessError, match="not a Netscape cookies.txt"):
        load_cookies_txt(bad)
    with pytest.raises(AccessError, match="not found"):
        load_cookies_txt(tmp_path / "missing.txt")


def test_a_recorded_proxy_has_no_credentials():
    """The user name and password of a proxy URL never reach a record."""
    assert redacted_proxy("http://alice:s3cret@proxy.univ.edu:3128") == "http://proxy.univ.edu:3128"
    assert redacted_proxy(None) is None
    with pytest.raises(AccessError, match="needs a scheme and a host"):
        redacted_proxy("proxy.univ.edu")


async def test_the_run_client_carries_the_users_access(tmp_path):
    """make_client sends covered publishers through EZproxy and the user's cookies with
    them; the metadata APIs go out as they are."""
    from fallback_kit.web.access import Access
    from fallback_kit.web.client import make_client
    from fallback_kit.web.edge import NetSettings

    path = tmp_path / "cookies.txt"
    path.write_text(COOKIES_TXT)
    seen: list[tuple[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.headers.get("cookie", "")))
        return httpx.Response(200)

    access = Access(ezproxy=EzproxyRule(proxy="ezproxy.univ.edu", hosts=("sciencedirect.com",)),
                    cookies=load_cookies_txt(path, hosts=["sciencedirect.com"]))
    async with make_client(NetSettings(), httpx.MockTransport(handler), access=access) as c:
        await c.get("https://www.sciencedirect.com/science/article/pii/S1")
        await c.get("https://api.unpaywall.org/v2/10.1/x")
    assert seen[0][0] == "https://www-sciencedirect-com.ezproxy.univ.edu/science/article/pii/S1"
    assert "EUID=abc123" in seen[0][1]
    assert seen[1] == ("https://api.unpaywall.org/v2/10.1/x", "")


def test_a_plan_proxy_is_checked_and_stored_without_its_password():
    """politeness.proxy must be a proxy URL; what a run stores has no credentials."""
    from fallback_kit.contracts.plan import PlanError, load_plan_text

    base = "name: p\ntiers: [{name: t, sources: [unpaywall]}]\n"
    plan = load_plan_text(base + "politeness: {proxy: 'http://alice:s3cret@proxy.univ.edu:3128'}\n")
    assert plan.politeness.proxy == "http://alice:s3cret@proxy.univ.edu:3128"
    stored = plan.replace(**{"politeness.proxy": redacted_proxy(plan.politeness.proxy)})
    assert "s3cret" not in stored.to_yaml() and "proxy.univ.edu:3128" in stored.to_yaml()
    with pytest.raises(PlanError, match="politeness.proxy must be a proxy URL") as info:
        load_plan_text(base + "politeness: {proxy: 'alice:s3cret@proxy.univ.edu'}\n")
    assert "s3cret" not in str(info.value)


@pytest.mark.parametrize(("argv", "message"), [
    (["--cookies", "c.txt"], "--ezproxy and --cookies are for --live runs"),
    (["--live", "--ezproxy", "ezproxy.univ.edu"], "--ezproxy needs --ezproxy-hosts"),
    (["--live", "--cookies", "missing.txt"], "cookies file missing.txt: not found"),
])
def test_access_options_are_checked_in_one_line(tmp_path, capsys, monkeypatch, argv, message):
    """Bad institutional-access options end in one line and exit 2, before anything runs."""
    from fallback_kit.faces.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "works.csv").write_text("work_id,doi\nw1,10.1000/a\n")
    code = main(["run", "works.csv", "--out", "run", "--no-progress", *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
