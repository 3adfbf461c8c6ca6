"""The sandbox's right-paper traps: a location serving another work's PDF, a scan without
text; the truth knows them, and the right-paper check keeps wrong papers out of a run."""

from __future__ import annotations

from pathlib import Path

import httpx

from fallback_kit.contracts.events import ListSink
from fallback_kit.contracts.plan import load_plan
from fallback_kit.contracts.works import Work, read_works
from fallback_kit.engine.orchestrator import Orchestrator
from fallback_kit.sandbox import Sandbox, World
from fallback_kit.web.paper_check import MISMATCH, NO_TEXT, Expected, judge_pdf

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
