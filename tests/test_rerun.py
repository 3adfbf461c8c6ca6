"""A re-run with a cache replays the last run's race: the winner tries first, the sources
it beat wait for its verdict, so cached answers (which come at once) do not let them
ask questions the first run never asked. The race book keeps the races beside the cache."""

from __future__ import annotations

import pytest
from fakes import WORK, FakeSource, Step, fake_factory, make_plan, no_pdf, ok

from fallback_kit.contracts.events import (
    Attempt,
    ListSink,
    Outcome,
    PreviousRace,
    Resolution,
    ResolutionStatus,
)
from fallback_kit.contracts.works import Work
from fallback_kit.engine.orchestrator import Orchestrator, held_sources
from fallback_kit.record.races import RaceBook
from fallback_kit.web.cache import HttpCache

TIER1 = {"name": "t1", "sources": ["unpaywall", "arxiv", "pmc"], "parallel": 2}
TIER2 = {"name": "t2", "sources": ["doi_redirect"]}
TIER3 = {"name": "t3", "sources": ["landing_scrape", "europe_pmc"], "parallel": 2}


def _orch(plan, sources, race):
    sink = ListSink()
    o = Orchestrator(plan, sources={s.name: s for s in sources}, sink=sink,
                     fetcher_factory=fake_factory, previous=lambda work: race)
    return o, sink


# ---------------------------------------------------------------- which sources wait


def test_the_winners_beaten_siblings_and_later_tiers_wait():
    """Unsettled sources of the winner's tier and of later tiers are held; settled ones
    and earlier, unhedged tiers are not (holding them would stall the walk)."""
    plan = make_plan([TIER1, TIER2, TIER3], budgets={"max_concurrent": 3})
    race = PreviousRace(winner="doi_redirect", settled=frozenset({"unpaywall", "europe_pmc"}))
    assert held_sources(plan, race) == {"landing_scrape"}
    race = PreviousRace(winner="unpaywall", settled=frozenset({"arxiv"}))
    assert held_sources(plan, race) == {"pmc", "doi_redirect", "landing_scrape", "europe_pmc"}


def test_earlier_tiers_wait_only_when_hedged_up_to_the_winner():
    """A source of an earlier tier waits only if every tier from its own to the
    winner's is hedged: the winner's tier then starts while it waits."""
    hedged = make_plan([{**TIER1, "hedge_after_ms": 500}, {**TIER2, "hedge_after_ms": 500},
                        TIER3], budgets={"max_concurrent": 3})
    race = PreviousRace(winner="landing_scrape", settled=frozenset({"unpaywall"}))
    assert held_sources(hedged, race) == {"arxiv", "pmc", "doi_redirect", "europe_pmc"}
    half = make_plan([TIER1, {**TIER2, "hedge_after_ms": 500}, TIER3],
                     budgets={"max_concurrent": 3})
    assert held_sources(half, race) == {"doi_redirect", "europe_pmc"}


def test_a_winner_that_is_not_in_the_plan_holds_nothing():
    plan = make_plan([TIER1])
    assert held_sources(plan, PreviousRace(winner="wayback")) == frozenset()


# ---------------------------------------------------------------- the replayed race


@pytest.mark.looptime
async def test_the_previous_winner_tries_first_and_wins_again():
    """Cached answers make the beaten source faster now; it waits, the winner wins again
    and the beaten source never starts."""
    winner = FakeSource("unpaywall", [Step(2, ok())])
    beaten = FakeSource("arxiv", [Step(0.1, ok("https://example.org/b.pdf"))])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall", "arxiv"], "parallel": 2}])
    o, sink = _orch(plan, [winner, beaten], PreviousRace(winner="unpaywall"))
    res = await o.resolve(WORK)
    assert res.status is ResolutionStatus.RESOLVED and res.source == "unpaywall"
    assert beaten.calls == []
    assert sorted(a.source for a in sink.attempts) == ["arxiv", "unpaywall"]  # one each
    skipped = next(a for a in sink.attempts if a.source == "arxiv")
    assert (skipped.outcome, skipped.reason) == (Outcome.CANCELLED, "not_started")
    # it never started: its Attempt begins and ends when the winner's verdict came
    assert skipped.t_start_ms == skipped.t_end_ms == pytest.approx(2000, abs=1)


@pytest.mark.looptime
async def test_without_a_previous_race_the_faster_source_wins():
    """The same sources without a race to replay: the plain race (the control)."""
    winner = FakeSource("unpaywall", [Step(2, ok())])
    beaten = FakeSource("arxiv", [Step(0.1, ok("https://example.org/b.pdf"))])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall", "arxiv"], "parallel": 2}])
    o, _ = _orch(plan, [winner, beaten], None)
    assert (await o.resolve(WORK)).source == "arxiv"


@pytest.mark.looptime
async def test_held_sources_run_when_the_previous_winner_fails_now():
    """The web changed: the previous winner finds nothing, the held sources run after
    it, and the plan goes on as usual."""
    winner = FakeSource("unpaywall", [Step(1, no_pdf())])
    held = FakeSource("arxiv", [Step(0.5, ok("https://example.org/b.pdf"))])
    settled = FakeSource("pmc", [Step(0.2, no_pdf())])
    plan = make_plan([{"name": "t1", "sources": ["unpaywall", "arxiv", "pmc"],
                       "parallel": 3}], budgets={"max_concurrent": 3})
    race = PreviousRace(winner="unpaywall", settled=frozenset({"pmc"}))
    o, _ = _orch(plan, [winner, held, settled], race)
    res = await o.resolve(WORK)
    assert res.source == "arxiv"
    assert held.calls[0] >= winner.finished[0]  # it waited for the winner's verdict
    assert settled.calls[0] < winner.finished[0]  # a settled source did not wait


@pytest.mark.looptime
async def test_a_winner_that_is_skipped_now_releases_the_held_sources():
    """The previous winner does not apply any more (or a gate skips it): nobody waits
    for ever."""
    winner = FakeSource("arxiv", [Step(1, ok())], needs=("arxiv_id",))
    held = FakeSource("unpaywall", [Step(0.5, ok("https://example.org/b.pdf"))])
    plan = make_plan([{"name": "t1", "sources": ["arxiv", "unpaywall"], "parallel": 2}])
    o, _ = _orch(plan, [winner, held], PreviousRace(winner="arxiv"))
    res = await o.resolve(WORK)  # WORK has no arXiv id
    assert res.source == "unpaywall"


# ---------------------------------------------------------------- the race book


def _events(work: Work, winner: str | None, outcomes: dict[str, Outcome]) -> list:
    events: list = [Attempt(run_id="r", work_id=work.work_id, tier="t1", source=s, outcome=o)
                    for s, o in outcomes.items()]
    status = ResolutionStatus.RESOLVED if winner else ResolutionStatus.NOT_FOUND
    events.append(Resolution(run_id="r", work_id=work.work_id, status=status, source=winner))
    return events


def _run_into(book: RaceBook, work: Work, winner: str | None,
              outcomes: dict[str, Outcome]) -> PreviousRace | None:
    before = book.previous(work)
    for event in _events(work, winner, outcomes):
        book.emit(event)
    return before


def test_the_book_remembers_the_winner_and_the_settled_sources(tmp_path):
    """Across runs (a new book on the same directory): the winner, and the sources
    whose tries settled; a cancelled or timed-out try is not settled."""
    plan = make_plan([TIER1])
    book = RaceBook.open(tmp_path, plan, 3600)
    assert _run_into(book, WORK, "unpaywall", {
        "unpaywall": Outcome.SUCCESS, "arxiv": Outcome.NO_PDF, "pmc": Outcome.CANCELLED,
    }) is None
    book.close()
    again = RaceBook.open(tmp_path, plan, 3600)
    renamed = Work(work_id="my-key", doi=WORK.doi)  # the identifiers count, not the key
    assert again.previous(renamed) == PreviousRace(winner="unpaywall",
                                                   settled=frozenset({"arxiv"}))
    again.close()


def _previous(directory, plan, max_age_s, now) -> PreviousRace | None:
    book = RaceBook.open(directory, plan, max_age_s, clock=lambda: now)
    try:
        return book.previous(WORK)
    finally:
        book.close()


def test_a_race_is_for_its_plan_and_its_max_age(tmp_path):
    """Another plan (tiers, sources) has no race to replay; a race older than
    `max_age` is forgotten; max_age 0 remembers none. The plan's name and politeness
    do not count."""
    plan = make_plan([TIER1])
    book = RaceBook.open(tmp_path, plan, 60, clock=lambda: 1000.0)
    _run_into(book, WORK, "unpaywall", {"unpaywall": Outcome.SUCCESS})
    book.close()
    renamed = plan.replace(name="other", **{"politeness.email": "a@b.org"})
    assert _previous(tmp_path, renamed, 60, 1000.0) is not None
    assert _previous(tmp_path, make_plan([{**TIER1, "parallel": 1}]), 60, 1000.0) is None
    assert _previous(tmp_path, plan, 0, 1000.0) is None
    assert _previous(tmp_path, plan, 60, 1061.0) is None


def test_a_work_that_no_longer_resolves_is_forgotten(tmp_path):
    """A run in which the work is not found any more leaves no race to replay."""
    plan = make_plan([TIER1])
    book = RaceBook.open(tmp_path, plan, 3600)
    _run_into(book, WORK, "unpaywall", {"unpaywall": Outcome.SUCCESS})
    assert _run_into(book, WORK, None, {"unpaywall": Outcome.NO_PDF}) is not None
    book.close()
    assert _previous(tmp_path, plan, 3600, 0) is None


def test_clearing_the_cache_forgets_the_races(tmp_path):
    plan = make_plan([TIER1])
    book = RaceBook.open(tmp_path, plan, 3600)
    _run_into(book, WORK, "unpaywall", {"unpaywall": Outcome.SUCCESS})
    book.close()
    HttpCache(tmp_path, ()).clear()
    assert _previous(tmp_path, plan, 3600, 0) is None
