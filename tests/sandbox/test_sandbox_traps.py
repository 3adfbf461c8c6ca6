"""The sandbox's right-paper traps: a location serving another work's PDF, a scan without
text; the truth knows them, and the right-paper check keeps wrong papers out of a run."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from fallback_kit.contracts.events import ListSink
from fallback_kit.contracts.plan import load_plan
from fallback_kit.contracts.works import Work, read_works
from fallback_kit.engine.orchestrator import Orchestrator
from fallback_kit.faces.api import arun_works
from fallback_kit.faces.networks import truth_check
from fallback_kit.sandbox import PROFILES, Sandbox, World, synthetic_works
from fallback_kit.web.paper_check import (
    MATCH,
    MISMATCH,
    NO_TEXT,
    VOLUME_LIKE,
    Expected,
    extract_text,
    judge_pdf,
)

ROOT = Path(__file__).parent.parent.parent
WORKS = [Work.create("a", arxiv_id="2409.12922", title="Open bibliography for science"),
         Work.create("b", arxiv_id="2409.12923", title="Coastal wetlands under uncertainty")]
PDF = "https://arxiv.org/pdf/2409.12922"


async def fetch(world: World, url: str) -> bytes:
    async with Sandbox(world, time_scale=0.0) as sb:
        async with httpx.AsyncClient(transport=sb.transport()) as client:
            return (await client.get(url)).content


async def test_wrong_paper_location_serves_another_works_pdf():
    world = World.build(WORKS, seed=1, faults={"wrong_paper": 1.0})
    body = await fetch(world, PDF)
    assert body.startswith(b"%PDF-") and body.rstrip().endswith(b"%%EOF")
    verdict = judge_pdf(body, Expected(title=world.title_of("a")))
    assert verdict.verdict == MISMATCH
    truth = world.truth_for("a")["arxiv"]
    assert not truth.holds_pdf and truth.fault == "wrong_paper"


async def test_no_text_location_serves_a_scan_the_truth_accepts():
    world = World.build(WORKS, seed=1, faults={"no_text": 1.0})
    body = await fetch(world, PDF)
    assert judge_pdf(body, Expected(title=world.title_of("a"))).verdict == NO_TEXT
    truth = world.truth_for("a")["arxiv"]
    assert truth.holds_pdf


async def resolve_all(check: bool) -> tuple[World, list]:
    works = list(read_works(ROOT / "sample_works.csv").works)[:40]
    world = World.build(works, seed=3, faults={"wrong_paper": 0.4, "no_text": 0.1})
    plan = load_plan("fast", env={},
                     overrides={"accept.check_paper": check})
    async with Sandbox(world, time_scale=0.0) as sb:
        async with httpx.AsyncClient(transport=sb.transport()) as client:
            orch = Orchestrator(plan, client=client, sink=ListSink(), time_scale=0.0,
                                trust_transport=True)
            resolutions = [r async for r in orch.resolve_many(works, concurrency=8)]
    return world, resolutions


def wrong(world: World, resolutions: list) -> list[str]:
    out = []
    for r in resolutions:
        final = r.meta.get("final_url") or r.pdf_url
        if r.resolved and world.lookup_url(final).fault == "wrong_paper":
            out.append(r.work_id)
    return out


async def test_the_check_delivers_no_wrong_paper_where_the_world_has_them():
    """Without the check, wrong-paper locations are delivered; with it, none is."""
    world, unchecked = await resolve_all(False)
    assert wrong(world, unchecked)  # the trap is live
    world, checked = await resolve_all(True)
    assert wrong(world, checked) == []
    verdicts = {r.meta.get("paper") for r in checked if r.resolved}
    assert "match" in verdicts and "mismatch" not in verdicts


async def test_title_variant_pdf_prints_the_title_otherwise_and_matches():
    """The trap is live (the printed title differs from the metadata's) and the check
    still calls it a match."""
    works = [Work.create("a", arxiv_id="2409.12922", title="Fine filters for open science"),
             WORKS[1]]
    seen = set()
    for seed in range(12):
        world = World.build(works, seed=seed, faults={"all": 0.0, "title_variant": 1.0})
        body = await fetch(world, PDF)
        page1 = extract_text(body, pages=1).texts[0]
        assert "Fine filters for open science" not in page1
        seen.update(c for c in ("é", "FINE") if c in page1)
        if b"/Differences [129 /fi" in body:  # the ﬁ glyph drawn (PDFium extracts it as fi)
            seen.add("\ufb01")
        assert judge_pdf(body, Expected(title=world.title_of("a"))).verdict == MATCH
        assert world.truth_for("a")["arxiv"].holds_pdf
    assert seen == {"\ufb01", "é", "FINE"}  # ligatures, accents and case all drawn


async def run_profile(profile: str, faults: dict) -> tuple[World, list, ListSink]:
    world = World.build(synthetic_works(profile, 24, seed=5), seed=5, profile=profile,
                        faults=faults)
    plan = load_plan("fast", env={}, overrides={"accept.check_paper": True})
    sink = ListSink()
    async with Sandbox(world, time_scale=0.0) as sb:
        async with httpx.AsyncClient(transport=sb.transport()) as client:
            orch = Orchestrator(plan, client=client, sink=sink, time_scale=0.0,
                                trust_transport=True)
            resolutions = [r async for r in orch.resolve_many(world.works, concurrency=8)]
    return world, resolutions, sink


@pytest.mark.parametrize("profile", sorted(PROFILES))
async def test_title_variants_are_never_rejected_on_any_profile(profile):
    """Every PDF prints its title otherwise; the same works resolve as without the trap,
    every delivered PDF is a match, and no attempt says wrong_paper."""
    _, plain, _ = await run_profile(profile, {"all": 0.0})
    world, varied, sink = await run_profile(profile, {"all": 0.0, "title_variant": 1.0})
    assert any(r.resolved for r in varied)
    assert {r.work_id for r in varied if r.resolved} == {r.work_id for r in plain if r.resolved}
    assert {r.meta.get("paper") for r in varied if r.resolved} <= {"match", "no_metadata"}
    assert not [a for a in sink.attempts if a.reason == "wrong_paper"]


#: every right-paper trap of the sandbox, at rates that put each on many works
TRAPS = {"wrong_paper": 0.3, "no_text": 0.1, "title_variant": 0.3, "volume": 0.2,
         "preprint_first": 0.5}


@pytest.mark.parametrize("profile", sorted(PROFILES))
async def test_truth_check_finds_no_wrong_paper_and_no_false_pdf_with_the_traps_on(
        profile, tmp_path):
    """The run summary's truth line, on every profile, with every trap on."""
    world = World.build(synthetic_works(profile, 30, seed=7), seed=7, profile=profile,
                        faults=TRAPS)
    plan = load_plan("fast", env={}, overrides={"accept.check_paper": True})
    out = tmp_path / "run.sqlite"
    async with Sandbox(world, time_scale=0.0) as sb:
        await arun_works(world.works, plan, out=out, transport=sb.transport(), time_scale=0.0,
                         concurrency=8, progress=False, force=True, trust_transport=True)
    truth = truth_check(world, plan, out)
    assert truth["resolved"] > 0
    assert truth["wrong_papers"] == [] and truth["false_pdfs"] == []


async def test_volume_location_serves_a_proceedings_volume_the_check_calls_volume_like():
    world = World.build(WORKS, seed=1, faults={"all": 0.0, "volume": 1.0})
    body = await fetch(world, PDF)
    verdict = judge_pdf(body, Expected(title=world.title_of("a")))
    assert verdict.verdict == VOLUME_LIKE
    assert extract_text(body, pages=1).pages >= 40
    assert world.truth_for("a")["arxiv"].holds_pdf  # the work is in it


async def test_a_volume_is_not_delivered_while_another_source_has_the_work():
    """Every arXiv PDF is a volume; works that another source of the plan holds get
    that one, even from a later tier."""
    world = World.build(synthetic_works("arxiv", 30, seed=4), seed=4, profile="arxiv",
                        faults={"all": 0.0, "arxiv.org": {"volume": 1.0}})
    plan = load_plan("fast", env={}, overrides={"accept.check_paper": True})
    async with Sandbox(world, time_scale=0.0) as sb:
        async with httpx.AsyncClient(transport=sb.transport()) as client:
            orch = Orchestrator(plan, client=client, sink=ListSink(), time_scale=0.0,
                                trust_transport=True)
            resolutions = [r async for r in orch.resolve_many(world.works, concurrency=8)]
    in_plan = {name for tier in plan.tiers for name in tier.sources}
    volumes = better = 0
    for r in resolutions:
        if not r.resolved:
            continue
        served = world.lookup_url(r.meta.get("final_url") or r.pdf_url)
        other = [t for t in world.truth_for(r.work_id).values()
                 if t.source in in_plan and t.holds_pdf and t.pdf_url
                 and world.lookup_url(t.pdf_url).fault != "volume"]
        if served.fault == "volume":
            volumes += 1
            assert not other, f"{r.work_id}: a volume delivered, yet {other[0].source} has it"
            assert r.meta.get("paper") == VOLUME_LIKE
        elif any(t.source == "arxiv" for t in world.truth_for(r.work_id).values()
                 if t.holds_pdf):
            better += 1
    assert volumes and better  # both cases happen in this World


def preprint_and_published(world: World) -> str:
    """A work of `world` with an open published PDF and an arXiv preprint."""
    return next(w.work_id for i, w in enumerate(world.works)
                if world.facts(i).is_open and world.facts(i).pdf_url and w.arxiv_id and w.doi)


async def resolve_one(world: World, work_id: str, versions: list[str] | None = None):
    """Resolve one work with Unpaywall alone; `versions` overrides the plan's default."""
    overrides = {"accept.check_paper": True, "tiers": [{"name": "oa", "sources": ["unpaywall"]}]}
    if versions is not None:
        overrides["accept.versions"] = versions
    plan = load_plan("fast", env={}, overrides=overrides)
    async with Sandbox(world, time_scale=0.0) as sb:
        async with httpx.AsyncClient(transport=sb.transport()) as client:
            orch = Orchestrator(plan, client=client, sink=ListSink(), time_scale=0.0,
                                trust_transport=True)
            return await orch.resolve(next(w for w in world.works if w.work_id == work_id))


async def test_preprint_first_lists_two_versions_and_the_published_one_is_delivered():
    """Unpaywall names the preprint its best location; two PDFs, different bytes, one
    title. The default `accept.versions` delivers the published one; the truth agrees."""
    world = World.build(synthetic_works("arxiv", 200, seed=2), seed=2, profile="arxiv",
                        faults={"all": 0.0, "preprint_first": 1.0})
    wid = preprint_and_published(world)
    f = world.facts(world.works.index(next(w for w in world.works if w.work_id == wid)))
    async with Sandbox(world, time_scale=0.0) as sb:
        async with httpx.AsyncClient(transport=sb.transport()) as client:
            answer = (await client.get(f"https://api.unpaywall.org/v2/{f.doi}",
                                       params={"email": "t@sandbox.test"})).json()
            best = answer["best_oa_location"]
            published = next(loc for loc in answer["oa_locations"]
                              if loc["version"] == "publishedVersion" and loc["url_for_pdf"])
            bodies = [(await client.get(u)).content
                      for u in (best["url_for_pdf"], published["url_for_pdf"])]
    assert best["version"] == "submittedVersion"
    assert bodies[0] != bodies[1]
    assert {judge_pdf(b, Expected(title=f.title)).verdict for b in bodies} == {MATCH}
    assert world.truth_for(wid)["unpaywall"].pdf_url == published["url_for_pdf"]
    res = await resolve_one(world, wid)  # the default order
    assert res.pdf_url == published["url_for_pdf"]
    assert res.meta["version"] == "publishedVersion"
    res = await resolve_one(world, wid, ["submittedVersion", "publishedVersion",
                                         "acceptedVersion"])
    assert res.meta["version"] == "submittedVersion"  # the order, not luck, decides
