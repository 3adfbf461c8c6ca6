"""The World's platform-shaped landing pages and its Zenodo and Wiley TDM services.

The shapes follow the recorded pages of tests/fixtures/pages/ (checked here by the same
selectors on both), the real landing reader finds on them what the truth says, the
generic rules do not find ScienceDirect's link (the platform hides it), and end to end
the platform rules are what resolve those works: with the rule table emptied they are
no longer resolved.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import httpx
import pytest
from selectolax.lexbor import LexborHTMLParser

from fallback_kit.contracts.events import Outcome
from fallback_kit.contracts.plan import plan_from_dict
from fallback_kit.contracts.works import Work
from fallback_kit.faces.api import arun_works
from fallback_kit.faces.networks import truth_check
from fallback_kit.insight.stored_run import open_run
from fallback_kit.sandbox import Sandbox, World
from fallback_kit.sandbox.answers import page_links
from fallback_kit.sandbox.model import NOT_SIMULATED
from fallback_kit.sandbox.render import render
from fallback_kit.sources import SourceContext, get_source
from fallback_kit.web import platforms
from fallback_kit.web.edge import Fetcher, NetSettings
from fallback_kit.web.gates import Gates
from fallback_kit.web.landing import parse_landing

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PAGES = FIXTURES / "pages"
TOKEN_ENV = "FALLBACK_KIT_WILEY_TDM_TOKEN"

PREFIXES = {"sciencedirect": "10.1016/j.sandbox.", "wiley": "10.1002/sandbox.",
            "springer": "10.1007/s", "acs": "10.1021/acs.", "frontiers": "10.3389/f.",
            "mdpi": "10.3390/m.", "peerj": "10.7717/peerj.",
            "oup_highwire": "10.1093/bioinformatics/btt0"}
#: repository items named by their landing URL (the recordings' hosts and URL shapes)
SITES = {"dspace": ("http://dspace.c3sl.ufpr.br:8080/dspace/handle/1884/4202{}",
                    "https://dspace.mit.edu/handle/1721.1/9928{}?show=full"),
         "hal": ("https://hal.science/hal-0123456{}", "https://theses.hal.science/tel-0208363{}v1")}
WORKS = [Work.create(f"{name}-{i}", doi=f"{prefix}{i}")
         for name, prefix in PREFIXES.items() for i in range(6)] + [
    Work.create(f"{name}-{i}-{j}", landing_url=url.format(i))
    for name, urls in SITES.items() for j, url in enumerate(urls) for i in range(3)]
PREPRINTS = [Work.create(f"biorxiv-{i}", doi=f"10.1101/2020.01.{10 + i}.9000{i}")
             for i in range(4)]
WILEY = next(w for w in WORKS if w.work_id.startswith("wiley"))
ZENODO = [Work.create(f"zenodo-{i}", doi=f"10.5281/zenodo.{5244404 + i}") for i in range(12)]
#: every landing page shaped, half the non-gold works open, no faults, no bot challenges
RATES = {"platform_pages": 1.0, "hybrid": 0.5, "bronze": 0.0}


@pytest.fixture(scope="module")
def world() -> World:
    return World.build(WORKS + ZENODO + PREPRINTS, seed=3, faults={"all": 0.0}, rates=RATES)


def _landing(world: World, work: Work) -> tuple[str, str]:
    """(page HTML, page URL) of the work's landing page, as the sandbox serves it."""
    f = world.facts(world.index_of(work.work_id))
    node = world.lookup_url(f.landing_url)
    assert node.variant in ("landing", "zenodo_page", "biorxiv_page"), node
    return render(world, node, url=f.landing_url).body.decode(), f.landing_url


def test_every_registry_source_is_simulated() -> None:
    assert NOT_SIMULATED == frozenset()


def test_each_shape_is_read_by_its_platform_rule_as_the_truth_says(world: World) -> None:
    """The landing reader names the page's platform and reads exactly the links the
    truth expects; on ScienceDirect the generic rules find nothing at all."""
    seen = Counter()
    for work in WORKS + ZENODO + PREPRINTS:
        text, url = _landing(world, work)
        idx = world.index_of(work.work_id)
        links = page_links(world, world.lookup_url(url))
        page = parse_landing(text, url)
        if not links.platform_read:  # a restricted Zenodo record lists no files
            assert work in ZENODO and page.platform == "", work
            continue
        by_variant = {"zenodo_page": "zenodo", "biorxiv_page": "biorxiv"}
        expected = world.facts(idx).platform or by_variant[world.lookup_url(url).variant]
        assert page.platform == expected, work
        assert page.platform_pdf_urls == list(links.platform), work
        seen[page.platform] += 1
        if page.platform == "sciencedirect":
            generic = [lbl for _, lbl in page.pdf_candidates() if not lbl.startswith("platform")]
            assert generic == [] and page.citation_pdf_urls == [] and page.alternate_pdf_urls == []
    assert set(seen) == set(PREFIXES) | set(SITES) | {"zenodo", "biorxiv"}


def _sel(html: str, css: str) -> list[dict[str, str | None]]:
    return [dict(n.attributes) for n in LexborHTMLParser(html).css(css)]


def _fixture(path: str) -> str:
    return (PAGES / path).read_text(encoding="utf-8")


def _work(world: World, name: str, *, is_open: bool) -> Work:
    return next(w for w in WORKS if w.work_id.startswith(name)
                and world.facts(world.index_of(w.work_id)).is_open is is_open)


def _iso_state(html: str) -> dict:
    node = LexborHTMLParser(html).css_first('script[type="application/json"][data-iso-key="_0"]')
    return json.loads(node.text())


def test_sciencedirect_pages_have_the_recorded_structure(world: World) -> None:
    """Open: `pdfDownload.urlMetadata` with the recorded keys and an href-less View PDF
    anchor; closed: no `pdfDownload`, `accessOptions` PURCHASE, a Purchase PDF link."""
    rec_open = _fixture("sciencedirect/papis_S146290112300117X_openaccess.html")
    rec_closed = _fixture("sciencedirect/papis_S0009261497040141_paywalled_refs_pdfs.html")
    ours_open = _landing(world, _work(world, "sciencedirect", is_open=True))[0]
    ours_closed = _landing(world, _work(world, "sciencedirect", is_open=False))[0]
    for rec, ours in ((rec_open, ours_open), (rec_closed, ours_closed)):
        a, b = _iso_state(rec)["article"], _iso_state(ours)["article"]
        assert (a.get("pdfDownload") is None) is (b.get("pdfDownload") is None)
        assert a["access"]["openAccess"] is b["access"]["openAccess"]
        assert not _sel(rec, 'meta[name="citation_pdf_url"]')
        assert not _sel(ours, 'meta[name="citation_pdf_url"]')
    meta = (_iso_state(rec_open)["article"]["pdfDownload"]["urlMetadata"],
            _iso_state(ours_open)["article"]["pdfDownload"]["urlMetadata"])
    assert set(meta[0]) == set(meta[1]) and set(meta[0]["queryParams"]) == set(
        meta[1]["queryParams"])
    for html in (rec_open, ours_open):
        assert [a.get("href") for a in _sel(html, "li.ViewPDF a")] == [None]
    for html in (rec_closed, ours_closed):
        assert _sel(html, 'li.PurchasePDF a[aria-label="Purchase PDF"]')
        assert _iso_state(html)["article"]["accessOptions"]["linkType"] == "PURCHASE"


@pytest.mark.parametrize(("name", "recording", "selectors"), [
    ("wiley", "wiley/norma_2016_advs.201500314_fulltext_refs_pdf_traps.html",
     ["li.readcubePdf a.readcubeEpdfLink + a.readcubePdfLink", 'meta[name="citation_pdf_url"]',
      "div.internalReferences a.readcubePdfLink", "table.supportingInformation a"]),
    ("acs", "acs/papis_2019_nl2028766_suppl_trap.html",
     ['div.article_header-links a.button_primary[title="PDF"]', "div.sup-info-attachments "
      "a.suppl-anchor"]),
    ("springer", "springer/papis_s10924-010-0192-1_paywalled_buybox.html",
     ['meta[name="citation_pdf_url"]', 'form[action="https://order.springer.com/public/cart"]']),
    ("frontiers", "frontiers/norma_2015_fpsyg.2014.01582_fulltext.html",
     ["div.download-pdf a", 'meta[name="citation_pdf_url"]']),
    ("mdpi", "mdpi/norma_2015_metabo4040932_fulltext.html",
     ['link[rel="alternate"][type="application/pdf"]', "div#leftcol ul.menu a"]),
    ("peerj", "refs_traps/sandcrawler_peerj_4375_refs_pdfs.html",
     ['a.js-download-btn[data-format="PDF"]', "a.xref.xref-bibr"]),
    ("biorxiv", "biorxiv/postlight_2019_696633v1_abstract.html",
     ['meta[name="citation_pdf_url"]', "div.pane-content a.article-dl-pdf-link",
      'a.panels-ajax-tab-tab[data-trigger="full.pdf+html"]']),
    ("oup_highwire", "oup/norma_2016_legacy_highwire_aobpla_plv005_fulltext.html",
     ['div.cb-views li.full-text-pdf-view-link a[rel="view-full-text.pdf"][href$=".full.pdf+html"]',
      "li.full-text-pdf-view-link span.free", "div.cit-extra a.cit-ref-sprinkles-ijlinks"
      '[href^="/cgi/ijlink"]']),
    ("dspace", "dspace/hepcrawl_2016_ufpr_1884-42021_xmlui_item_view.html",
     ['div.thumbnail img[src*=".pdf.jpg?sequence="]', "div.item-page-field-wrapper "
      'a[href^="/bitstream/handle/"][href*=".pdf?sequence=1&isAllowed=y"]',
      'div.simple-item-view-show-full a[href$="?show=full"]',
      'ul.ds-referenceSet-list a[href^="/handle/"]']),
    ("hal", "hal/papis_jpa-00235190.html",
     ['meta[name="citation_pdf_url"][content$="/document"]',
      'div#viewer-detailed a[download][href*="/file/"]',
      'div#viewer-detailed iframe[src*="/preview/"]', "div.thumbnail-viewer[data-preview]"]),
])
def test_shapes_share_the_recorded_pages_selectors(world: World, name: str, recording: str,
                                                   selectors: list[str]) -> None:
    """What locates the PDF link (and its traps) on the recorded page locates it on ours."""
    rec = _fixture(recording)
    work = PREPRINTS[0] if name == "biorxiv" else _work(world, name, is_open=name != "springer")
    ours = _landing(world, work)[0]
    for css in selectors:
        assert _sel(rec, css), (recording, css)
        assert _sel(ours, css), (name, css)


def test_zenodo_record_page_has_the_recorded_structure(world: World) -> None:
    """JSON-LD `distribution[]` of DataDownloads, `link rel=alternate` with each file's MIME
    type, "?download=1" buttons (commonmeta's recording of record 1196821)."""
    rec = _fixture("zenodo/commonmeta_record_1196821_dataset_no_pdf.html")
    open_pub = next(w for w in ZENODO if page_links(world, world.lookup_url(
        _landing(world, w)[1])).platform)
    ours = _landing(world, open_pub)[0]
    for html in (rec, ours):
        ld = [json.loads(n.text()) for n in LexborHTMLParser(html).css(
            'script[type="application/ld+json"]')]
        dist = ld[0]["distribution"]
        assert {d["@type"] for d in dist} == {"DataDownload"}
        assert all({"contentUrl", "encodingFormat"} <= set(d) for d in dist)
        assert _sel(html, 'link[rel="alternate"][type]')
        assert _sel(html, 'a.ui.compact.mini.button[href$="?download=1"]')


async def _run_source(world: World, name: str, works: list[Work]) -> None:
    """`name` on the sandbox finds a PDF exactly where the truth says, at its URL."""
    truth = {t.work_id: t for t in world.truth() if t.source == name}
    source = get_source(name)
    async with Sandbox(world, time_scale=0) as sb:
        async with httpx.AsyncClient(transport=sb.transport()) as client:
            for work in works:
                t = truth[work.work_id]
                if not source.applicable(work):
                    assert t.fault == "not_applicable", (name, work.work_id)
                    continue
                fetcher = Fetcher(client, gates=Gates(), settings=NetSettings(
                    trust_transport=True))
                res = await source.find(work, SourceContext(http=fetcher))
                assert (res.outcome is Outcome.SUCCESS) is t.holds_pdf, (name, work, res, t)
                if t.holds_pdf:
                    assert t.pdf_url in (res.url, res.meta.get("final_url")), (name, res, t)


@pytest.mark.parametrize("name", ["landing_scrape", "doi_redirect", "doaj", "zenodo",
                                  "wiley_tdm", "biorxiv"])
async def test_sources_agree_with_the_truth(world: World, name: str, monkeypatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "sandbox-token")
    truth = [t for t in world.truth() if t.source == name]
    held = sum(t.holds_pdf for t in truth)
    assert held > 0, name
    if name != "biorxiv":  # every preprint is on its server
        assert held < len([t for t in truth if t.fault != "not_applicable"]), name
    await _run_source(world, name, WORKS + ZENODO + PREPRINTS)


async def test_every_truth_request_is_served_and_every_true_pdf_is_a_pdf(world: World) -> None:
    token = {"Wiley-TDM-Client-Token": "sandbox-token"}
    async with Sandbox(world, time_scale=0) as sb:
        async with httpx.AsyncClient(transport=sb.transport()) as client:
            for t in world.truth():
                for url, _ms in t.requests:
                    params = {"email": "a@fallback-kit.org"} if "unpaywall" in url else None
                    r = await client.get(url, params=params, headers=token)
                    assert r.status_code < 500, (t.source, url, r.status_code)
                if t.holds_pdf:
                    r = await client.get(t.pdf_url, headers=token)
                    assert r.content.startswith(b"%PDF-"), (t.source, t.pdf_url)


def _same_keys(sample: dict, ours: dict, where: str) -> None:
    missing = set(sample) - set(ours)
    assert not missing, f"{where}: keys missing {sorted(missing)}"
    for key, value in sample.items():
        if value is not None and ours[key] is not None:
            assert type(ours[key]) is type(value), f"{where}.{key}"


async def test_zenodo_api_answers_in_the_recorded_shape(world: World) -> None:
    sample = json.loads((FIXTURES / "services/zenodo/current2026_api_records_5244404_journal_"
                         "article_pdf_plus_supplement.json").read_text())
    async with Sandbox(world, time_scale=0) as sb:
        async with httpx.AsyncClient(transport=sb.transport()) as client:
            ours = (await client.get("https://zenodo.org/api/records/5244404")).json()
            missing = await client.get("https://zenodo.org/api/records/99")
    _same_keys({k: v for k, v in sample.items() if k != "links"}, ours, "record")
    _same_keys(sample["metadata"], ours["metadata"] | {"relations": {}, "communities": [],
                                                         "notes": ""}, "metadata")
    _same_keys(sample["files"][0], ours["files"][0], "files[0]")
    assert ours["files"][0]["links"]["self"].endswith("/content")
    assert missing.status_code == 404


async def test_wiley_tdm_serves_the_token_holder_like_the_recording(world: World) -> None:
    """Crossref lists the text-mining link as recorded; api.wiley.com answers a request
    with the token with the PDF (`inline; filename=<uuid>.pdf`), one without it 403."""
    sample = json.loads((FIXTURES / "services/wiley/crossref_works_10.2903_j.efsa.2014.3550_"
                         "tdm_links_to_api.wiley.com.json").read_text())
    recorded = sample.get("message", sample)["link"][0]
    work = WILEY
    async with Sandbox(world, time_scale=0) as sb:
        async with httpx.AsyncClient(transport=sb.transport()) as client:
            message = (await client.get(f"https://api.crossref.org/works/{work.doi}")).json()
            link = next(lk for lk in message["message"]["link"]
                        if lk["URL"].startswith("https://api.wiley.com/"))
            without = await client.get(link["URL"])
            withit = await client.get(link["URL"], headers={"Wiley-TDM-Client-Token": "t"})
    assert {k: v for k, v in link.items() if k != "URL"} == {
        k: v for k, v in recorded.items() if k != "URL"}
    assert link["URL"].endswith(work.doi.replace("/", "%2F"))
    assert without.status_code == 403
    assert withit.status_code == 200 and withit.content.startswith(b"%PDF-")
    assert withit.headers["content-disposition"].startswith("inline; filename=")


async def test_wiley_tdm_without_a_token_is_skipped_before_any_request(
        world: World, monkeypatch) -> None:
    for name in ("FALLBACK_KIT_WILEY_TDM_TOKEN", "WILEY_TDM_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    async with Sandbox(world, time_scale=0) as sb:
        async with httpx.AsyncClient(transport=sb.transport()) as client:
            fetcher = Fetcher(client, gates=Gates(), settings=NetSettings(trust_transport=True))
            res = await get_source("wiley_tdm").find(WILEY, SourceContext(http=fetcher))
    assert (res.outcome, res.requests) == (Outcome.SKIPPED, 0)


# ------------------------------------------------------------------ end to end


async def _run(world: World, tmp: Path, name: str) -> tuple[Counter, set[str], dict]:
    """The shaped works through a one-source plan (landing_scrape) on the sandbox: the
    winning candidates' labels, the works resolved, and the truth check."""
    plan = plan_from_dict({"name": name, "tiers": [{"name": "t", "sources": ["landing_scrape"]}],
                           "politeness": {"email": "e2e@fallback-kit.org"}})
    out = tmp / f"{name}.sqlite"
    async with Sandbox(world, time_scale=0.0) as sb:
        await arun_works(world.works, plan, out=out, transport=sb.transport(), time_scale=0.0,
                         concurrency=8, progress=False, force=True, trust_transport=True)
    res = open_run(out).resolutions
    resolved = res[res["status"].astype(str) == "resolved"]
    labels = Counter(str(m.get("candidate")) for m in resolved["meta"])
    return labels, set(resolved["work_id"]), truth_check(world, plan, out)


async def test_platform_rules_resolve_the_shaped_works_end_to_end(world: World, tmp_path,
                                                                  monkeypatch) -> None:
    """With the rules, every reachable shaped work is resolved, by `platform:<name>`;
    with the rule table emptied, the open ScienceDirect works (the link only in JSON) and
    the open legacy OUP works (the only anchor is the `.full.pdf+html` reader) are no
    longer resolved."""
    labels, found, check = await _run(world, tmp_path, "with-rules")
    assert check["resolved_of_reachable"] == check["reachable_by_plan"] > 0
    assert check["false_pdfs"] == [] and check["wrong_papers"] == []
    hidden = {name: {w.work_id for w in WORKS if w.work_id.startswith(name)
                     and world.facts(world.index_of(w.work_id)).is_open}
              for name in ("sciencedirect", "oup_highwire")}
    for name, ids in hidden.items():
        assert ids and ids <= found, name
        assert labels[f"platform:{name}"] == len(ids), name
    assert {f"platform:{p}" for p in [*PREFIXES, *SITES, "zenodo", "biorxiv"]} <= set(labels)

    monkeypatch.setattr(platforms, "PLATFORMS", ())
    bare, found_bare, _ = await _run(world, tmp_path, "without-rules")
    assert not any(label.startswith("platform:") for label in bare)
    # the generic rules find every other link (HAL's citation_pdf_url, DSpace's anchor)
    assert found_bare == found - hidden["sciencedirect"] - hidden["oup_highwire"]


def test_site_shapes_serve_what_the_recordings_say(world: World) -> None:
    """The legacy HighWire reader (`.full.pdf+html`) is an HTML page and `.full.pdf` the
    file; HAL's `/document` redirects to the file; the traps beside the links (DSpace's
    `.pdf.jpg` thumbnail, HAL's `/preview/` rendition) are not files of the work."""
    oup = world.facts(world.index_of(_work(world, "oup_highwire", is_open=True).work_id))
    assert world.lookup_url(oup.viewer_url).variant == "viewer"
    assert world.lookup_url(oup.pdf_url).kind == "pdf"
    assert world.lookup_url(oup.landing_url).variant == "landing"
    hal = world.facts(world.index_of("hal-0-0"))
    doc = world.lookup_url(hal.pdf_url.partition("v1/file/")[0] + "/document")
    assert (doc.status, doc.location) == (302, hal.pdf_url)
    assert world.lookup_url(hal.pdf_url.replace("/file/", "/preview/")).status == 404
    ds = world.facts(world.index_of("dspace-0-0"))
    assert world.lookup_url(ds.pdf_url).kind == "pdf"
    thumb = ds.pdf_url.replace(".pdf?sequence=1", ".pdf.jpg?sequence=3")
    assert world.lookup_url(thumb).status == 404
    # another item's bitstream path on the same host is not this work's file
    other = ds.pdf_url.replace("/42020/", "/42029/")
    assert world.lookup_url(other).status == 404
