"""Right paper, right version, right licence: the sources read version and licence from
the real service answers, and the plan's acceptance rules act on the candidates."""

from __future__ import annotations

import json

import httpx
from _netkit import REFERENCE, ClosingStream, Router, make_fetcher
from _pdfkit import DOI, TITLE, article_pdf
from fpdf import FPDF

from fallback_kit.contracts.events import Outcome
from fallback_kit.contracts.plan import AcceptPolicy, plan_from_dict
from fallback_kit.contracts.works import Work
from fallback_kit.sources import SourceContext, get_source
from fallback_kit.sources._common import (
    Candidate,
    Candidates,
    expected_of,
    normalize_license,
    ordered,
)
from fallback_kit.sources.crossref import crossref_licenses, crossref_pdf_links, crossref_work_meta
from fallback_kit.sources.europe_pmc import europe_pmc_candidates, europe_pmc_work_meta
from fallback_kit.sources.openalex import openalex_candidates, openalex_work_meta
from fallback_kit.sources.pmc import pmc_version
from fallback_kit.sources.unpaywall import unpaywall_candidates, unpaywall_work_meta

EMAIL = "researcher@example.org"


def ref_json(path: str):
    return json.loads((REFERENCE / path).read_text(encoding="utf-8"))


# ---------------------------------------------------------------- version and licence


def test_unpaywall_locations_carry_version_and_licence():
    record = ref_json("unpaywall/noddy_oadoi_v2_10.1186_1758-2946-3-47.json")
    cands = unpaywall_candidates(record)
    assert (cands[0].version, cands[0].license) == ("publishedVersion", "cc-by")
    assert (cands[-1].url, cands[-1].license) == (
        "https://www.ncbi.nlm.nih.gov/pmc/articles/PMC3206455/pdf", None)
    assert unpaywall_work_meta(record) == {
        "title": "Open Bibliography for Science, Technology, and Medicine", "year": 2011,
        "first_author": "Jones"}


def test_openalex_locations_carry_version_and_licence():
    work = ref_json("openalex/zotero_openalex_W3123223998_green.json")
    by_url = {c.url: c for c in openalex_candidates(work)}
    dspace = by_url["https://dspace.mit.edu/bitstream/1721.1/63261/1/areemilygregmore00bert.pdf"]
    assert (dspace.version, dspace.license) == ("submittedVersion", "cc-by-nc")
    assert by_url["http://papers.nber.org/papers/w9873.pdf"].version == "publishedVersion"
    meta = openalex_work_meta(work)
    assert (meta["year"], meta["first_author"]) == (2004, "Bertrand")


def test_europe_pmc_record_kind_and_licence():
    record = ref_json("europepmc/noddy_epmc_core_result_PMC3206455.json")
    cands = europe_pmc_candidates(record)
    assert cands and all((c.version, c.license) == ("publishedVersion", "cc-by") for c in cands)
    assert europe_pmc_work_meta(record)["first_author"] == "Jones"
    assert europe_pmc_candidates({**record, "authMan": "Y"})[0].version == "acceptedVersion"


def test_pmc_idconv_manuscript_id_is_an_accepted_version():
    """The current PMC version has an NIHMS manuscript id: an author manuscript."""
    data = ref_json("pmc_idconv/rcrossref_idconv_10.1038_ng.590.json")
    assert pmc_version(data) == "acceptedVersion"
    for rec in data["records"]:
        for v in rec["versions"]:
            v.pop("mid", None)
    assert pmc_version(data) == "publishedVersion"


def test_crossref_licence_per_content_version():
    items = ref_json("crossref/rcrossref_works_filter_has-full-text_true_rows10.json")[
        "message"]["items"]
    assert crossref_licenses(items[8]) == {"vor": "publisher-specific"}  # a policies page
    links, _ = crossref_pdf_links(items[2])
    assert links[0].version == "publishedVersion" and links[0].license is None  # tdm only
    meta = crossref_work_meta(items[0])
    assert (meta["first_author"], meta["year"]) == ("VAHLQUIST", 1964)
    cc = {"license": [{"content-version": "vor",
                       "URL": "https://creativecommons.org/licenses/by-nc/4.0/"}]}
    assert crossref_licenses(cc) == {"vor": "cc-by-nc"}


def test_licence_names_are_one_vocabulary():
    assert normalize_license("CCBYNC") == "cc-by-nc"  # Semantic Scholar
    assert normalize_license("cc by-nc-nd") == "cc-by-nc-nd"  # Europe PMC
    assert normalize_license("publisher-specific, author manuscript") == "publisher-specific"
    assert normalize_license("http://creativecommons.org/publicdomain/zero/1.0/") == "cc0"
    assert normalize_license("") is None


def test_arxiv_is_a_submitted_version():
    async def go():
        r = Router()
        r.add("https://arxiv.org/pdf/2101.00001", 200, article_pdf([TITLE]))
        res = await get_source("arxiv").find(
            Work(work_id="w", arxiv_id="2101.00001"),
            SourceContext(http=make_fetcher(r), email=EMAIL))
        return res

    import asyncio
    res = asyncio.run(go())
    assert res.outcome is Outcome.SUCCESS and res.meta["version"] == "submittedVersion"


def test_versions_order_candidates_within_a_source():
    cands = [Candidate("https://a/1", version="submittedVersion"),
             Candidate("https://a/2"),
             Candidate("https://a/3", version="publishedVersion"),
             Candidate("https://a/4", version="acceptedVersion")]
    assert [c.url[-1] for c in ordered(cands, AcceptPolicy())] == ["3", "4", "1", "2"]
    preprint_first = AcceptPolicy(versions=("submittedVersion", "publishedVersion"))
    # a version the plan does not list ranks with the unknown ones, in the source's order
    assert [c.url[-1] for c in ordered(cands, preprint_first)] == ["1", "3", "2", "4"]
    assert ordered(cands, None) == cands


# ---------------------------------------------------------------- the check in a source


def other_pdf() -> bytes:
    return article_pdf(["Deep Learning for Protein Folding Prediction"],
                       doi="10.1038/s41586-021-03819-2", authors="John Jumper")


def scanned_pdf() -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 150, 200, style="F")
    return bytes(pdf.output())


def volume_pdf() -> bytes:
    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    pdf.add_page()
    pdf.multi_cell(0, 6, "Proceedings of the 12th Workshop. Table of Contents",
                   new_x="LMARGIN", new_y="NEXT")
    for i in range(4):
        pdf.multi_cell(0, 6, f"Paper {i} ..... doi:10.5555/ws12.{i}", new_x="LMARGIN",
                       new_y="NEXT")
    for _ in range(45):
        pdf.add_page()
        pdf.multi_cell(0, 5, "Body text. " * 20)
    return bytes(pdf.output())


async def check(router: Router, urls: list[Candidate], policy: AcceptPolicy | None,
                work: Work | None = None, meta: dict | None = None):
    work = work or Work(work_id="w", doi=DOI, title=TITLE)
    ctx = SourceContext(http=make_fetcher(router), email=EMAIL, accept=policy, work=work)
    cands = Candidates(ctx, meta or {})
    found = await cands.first_valid(urls)
    return found or cands.conclude(empty_reason="no_pdf_link"), cands


async def test_wrong_paper_is_refused_and_the_next_candidate_wins():
    """A location pointing at another article is invalid_pdf wrong_paper; the source goes on."""
    r = Router()
    r.add("https://repo.example.org/other.pdf", 200, other_pdf())
    r.add("https://journal.example.org/right.pdf", 200, article_pdf([TITLE.upper()]))
    res, cands = await check(r, [Candidate("https://repo.example.org/other.pdf", "a"),
                                 Candidate("https://journal.example.org/right.pdf", "b")],
                             AcceptPolicy())
    assert res.outcome is Outcome.SUCCESS and res.url.endswith("right.pdf")
    assert res.meta["paper"] == "match" and res.body is not None
    assert cands.tried[0]["reason"] == "wrong_paper" and cands.tried[0]["paper"] == "mismatch"


async def test_wrong_paper_alone_is_invalid_pdf():
    r = Router()
    r.add("https://repo.example.org/other.pdf", 200, other_pdf())
    res, _ = await check(r, [Candidate("https://repo.example.org/other.pdf")], AcceptPolicy())
    assert (res.outcome, res.reason) == (Outcome.INVALID_PDF, "wrong_paper")


async def test_check_off_accepts_the_wrong_paper_without_fetching_it():
    r = Router()
    r.add("https://repo.example.org/other.pdf", 200, other_pdf())
    res, _ = await check(r, [Candidate("https://repo.example.org/other.pdf")],
                         AcceptPolicy(check_paper=False))
    assert res.outcome is Outcome.SUCCESS and "paper" not in res.meta
    assert len(r.seen) == 1  # the probe only


async def test_title_from_the_source_metadata_when_the_work_has_none():
    """Without a title in the works file, the source's metadata title is compared."""
    r = Router()
    r.add("https://repo.example.org/other.pdf", 200, other_pdf())
    work = Work(work_id="w", doi="10.9999/unprinted")
    res, _ = await check(r, [Candidate("https://repo.example.org/other.pdf")], AcceptPolicy(),
                         work=work, meta={"title": TITLE})
    assert res.reason == "wrong_paper"
    assert expected_of(work, {"title": TITLE, "year": 2019}).title == TITLE


async def test_scan_is_accepted_unverified_unless_the_plan_refuses_it():
    r = Router()
    r.add("https://repo.example.org/scan.pdf", 200, scanned_pdf())
    res, _ = await check(r, [Candidate("https://repo.example.org/scan.pdf")], AcceptPolicy())
    assert res.outcome is Outcome.SUCCESS and res.meta["paper"] == "no_text"
    res, _ = await check(r, [Candidate("https://repo.example.org/scan.pdf")],
                         AcceptPolicy(require_verified=True))
    assert (res.outcome, res.reason) == (Outcome.INVALID_PDF, "unverified")


async def test_volume_gives_way_to_a_better_candidate_but_is_kept_as_last_resort():
    r = Router()
    r.add("https://repo.example.org/volume.pdf", 200, volume_pdf())
    r.add("https://journal.example.org/right.pdf", 200, article_pdf([TITLE]))
    vol = Candidate("https://repo.example.org/volume.pdf")
    res, _ = await check(r, [vol, Candidate("https://journal.example.org/right.pdf")],
                         AcceptPolicy())
    assert res.url.endswith("right.pdf") and res.meta["paper"] == "match"
    res, _ = await check(r, [vol], AcceptPolicy())
    assert res.outcome is Outcome.SUCCESS and res.meta["paper"] == "volume_like"
    res, _ = await check(r, [vol], AcceptPolicy(require_verified=True))
    assert (res.outcome, res.reason) == (Outcome.INVALID_PDF, "unverified")


async def test_licence_filter_skips_other_licences_without_a_request():
    r = Router()
    r.add("https://a.example.org/nc.pdf", 200, article_pdf([TITLE]))
    r.add("https://b.example.org/by.pdf", 200, article_pdf([TITLE]))
    cands = [Candidate("https://a.example.org/nc.pdf", license="cc-by-nc"),
             Candidate("https://b.example.org/by.pdf", license="cc-by")]
    res, c = await check(r, cands, AcceptPolicy(licenses=("cc-by", "cc0")))
    assert res.url.endswith("by.pdf") and res.meta["license"] == "cc-by"
    assert c.tried[0]["reason"] == "license_refused"
    assert all("a.example.org" not in u for u in r.urls())
    res, _ = await check(r, cands[:1], AcceptPolicy(licenses=("cc-by",)))
    assert res.outcome is Outcome.NO_PDF


async def test_endless_body_is_truncated_never_accepted():
    """A body longer than the check's cap is cut there and judged truncated."""
    endless = b"%PDF-1.7\n" + b"0" * 300_000

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=ClosingStream(endless, chunk=16_384))

    r = Router()
    r.routes["https://x.example.org/endless.pdf"] = handler
    fetcher = make_fetcher(r)
    whole = await fetcher.fetch_pdf("https://x.example.org/endless.pdf", max_bytes=100_000)
    assert (whole.ok, whole.reason) == (False, "truncated_pdf")
    assert whole.bytes_read <= 100_000 + 16_384
    res, _ = await check(r, [Candidate("https://x.example.org/endless.pdf")],
                         AcceptPolicy(max_pdf_bytes=100_000))
    assert (res.outcome, res.reason) == (Outcome.INVALID_PDF, "truncated_pdf")


def test_plan_accept_section_reads_and_refuses_unknown_versions():
    tiers = [{"name": "t", "sources": ["unpaywall"]}]
    plan = plan_from_dict({"tiers": tiers, "accept": {"licenses": ["CC-BY"],
                                                      "require_verified": True}})
    assert plan.accept.licenses == ("cc-by",) and plan.accept.check_paper
    assert plan_from_dict(plan.to_dict()).accept == plan.accept
    try:
        plan_from_dict({"tiers": tiers, "accept": {"versions": ["publishedversion"]}})
    except ValueError as exc:
        assert "accept.versions[0]" in str(exc) and "publishedVersion" in str(exc)
    else:
        raise AssertionError("an unknown version was accepted")


async def test_checked_fetch_stops_early_on_an_html_page():
    """With the check on, one GET carries the byte gate: an HTML page is not read whole."""
    page = b"<!DOCTYPE html><html><body>" + b"<p>viewer</p>" * 20_000 + b"</body></html>"
    r = Router()
    r.add("https://j.example.org/viewer", 200, page)
    res, cands = await check(r, [Candidate("https://j.example.org/viewer")], AcceptPolicy())
    assert (res.outcome, res.reason) == (Outcome.INVALID_PDF, "html_instead_of_pdf")
    assert res.bytes < 10_000 and len(r.seen) == 1


# ---------------------------------------------------------------- through the orchestrator

UNPAYWALL = "https://api.unpaywall.org/v2/10.1186/1758-2946-3-47"
SPRINGER = ("https://jcheminf.springeropen.com/track/pdf/10.1186/1758-2946-3-47"
            "?site=jcheminf.springeropen.com")
NCBI_PDF = "https://www.ncbi.nlm.nih.gov/pmc/articles/PMC3206455/pdf"
OPEN_BIB = "Open Bibliography for Science, Technology, and Medicine"


async def resolve_with(router: Router, work: Work, tiers: list[dict], **sections):
    from fallback_kit.contracts.events import ListSink
    from fallback_kit.engine.orchestrator import Orchestrator

    plan = plan_from_dict({"name": "t", "tiers": tiers, **sections})
    sink = ListSink()
    client = httpx.AsyncClient(transport=httpx.MockTransport(router))
    async with client:
        res = await Orchestrator(plan, client=client, sink=sink, time_scale=0.0,
                                 trust_transport=True).resolve(work)
    return res, sink


def unpaywall_router() -> Router:
    r = Router()
    r.add(UNPAYWALL, 200, (REFERENCE / "unpaywall/noddy_oadoi_v2_10.1186_1758-2946-3-47.json")
          .read_bytes())
    return r


async def test_orchestrator_checks_by_default_and_records_verdict_version_licence():
    """The default plan checks: Unpaywall's best location is another paper, the PMC copy
    is the work (its title from Unpaywall's record, the works file has none)."""
    r = unpaywall_router()
    r.add(SPRINGER, 200, other_pdf())
    r.add(NCBI_PDF, 200, article_pdf([OPEN_BIB], doi="10.1186/1758-2946-3-47"))
    work = Work(work_id="w", doi="10.1186/1758-2946-3-47")
    res, sink = await resolve_with(r, work, [{"name": "t", "sources": ["unpaywall"]}])
    assert res.resolved and res.pdf_url == NCBI_PDF
    assert (res.meta["paper"], res.meta["version"], res.meta["license"]) == (
        "match", "publishedVersion", None)
    (attempt,) = sink.attempts
    assert attempt.meta["tried"][0]["reason"] == "wrong_paper"
    assert attempt.meta["title"] == OPEN_BIB


async def test_orchestrator_goes_on_to_the_next_tier_after_a_wrong_paper():
    r = unpaywall_router()
    r.add(SPRINGER, 200, other_pdf())
    r.add("https://arxiv.org/pdf/1101.0001", 200, article_pdf([OPEN_BIB]))
    work = Work(work_id="w", doi="10.1186/1758-2946-3-47", arxiv_id="1101.0001", title=OPEN_BIB)
    res, sink = await resolve_with(r, work, [{"name": "a", "sources": ["unpaywall"]},
                                             {"name": "b", "sources": ["arxiv"]}])
    first, second = sink.attempts
    assert (first.outcome, first.reason) == (Outcome.INVALID_PDF, "wrong_paper")
    assert res.resolved and res.source == "arxiv" and res.meta["version"] == "submittedVersion"


async def test_orchestrator_check_switched_off_by_the_plan():
    r = unpaywall_router()
    r.add(SPRINGER, 200, other_pdf())
    work = Work(work_id="w", doi="10.1186/1758-2946-3-47", title=OPEN_BIB)
    res, _ = await resolve_with(r, work, [{"name": "t", "sources": ["unpaywall"]}],
                                accept={"check_paper": False})
    assert res.resolved and res.pdf_url == SPRINGER and "paper" not in res.meta
    assert (res.meta["version"], res.meta["license"]) == ("publishedVersion", "cc-by")


async def test_checked_bytes_become_the_download_without_a_second_get(tmp_path):
    """download_for_work keeps the check's bytes (no request) and fills version/licence."""
    from fallback_kit.record.downloads import download_for_work
    from fallback_kit.record.store import RunStore

    store = RunStore.create(tmp_path / "run", plan_yaml="p", meta={})
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(500)

    body = article_pdf([TITLE])
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        got = await download_for_work(client, store, work_id="w1", url="https://x.org/a.pdf",
                                      source="unpaywall", version="acceptedVersion",
                                      license="cc-by", body=body)
        bad = await download_for_work(client, store, work_id="w2", url="https://x.org/b.pdf",
                                      body=body[:-200])
    assert calls == [] and got.ok and got.path is not None and got.path.read_bytes() == body
    rec = store.download_for("w1")
    assert rec is not None and (rec.version, rec.license) == ("acceptedVersion", "cc-by")
    assert (bad.ok, bad.reason) == (False, "truncated_pdf") and store.download_for("w2") is None
    store.close()


def test_paper_verdicts_table_of_a_run(tmp_path):
    """Verified / unverified / wrong paper per verdict, from what the run recorded."""
    from fallback_kit.contracts.events import Attempt, Resolution, ResolutionStatus
    from fallback_kit.insight.analysis import paper_verdicts
    from fallback_kit.record.store import RunStore

    store = RunStore.create(tmp_path / "run", plan_yaml="name: p", meta={})
    store.add_works(Work(work_id=w, doi=f"10.1000/{w}") for w in ("w1", "w2", "w3"))
    refused = {"url": "https://a/1", "reason": "wrong_paper", "paper": "mismatch"}
    for wid, paper in (("w1", "match"), ("w2", "no_text"), ("w3", None)):
        meta = {"paper": paper} if paper else {}
        store.emit(Attempt(run_id="r", work_id=wid, tier="t", source="unpaywall",
                           outcome=Outcome.SUCCESS, meta={**meta, "tried": [refused]}))
        store.emit(Resolution(run_id="r", work_id=wid, status=ResolutionStatus.RESOLVED,
                              source="unpaywall", meta=meta))
    store.finish()
    store.close()
    table = paper_verdicts(tmp_path / "run").set_index("verdict")
    assert table.loc["match", "delivered"] == 1 and bool(table.loc["match", "verified"])
    assert table.loc["no_text", "delivered"] == 1 and not table.loc["no_text", "verified"]
    assert table.loc["unchecked", "delivered"] == 1
    assert table.loc["mismatch", "refused"] == 3 and table.loc["mismatch", "delivered"] == 0
