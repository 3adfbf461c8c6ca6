"""The World: determinism, the truth contract, profiles, scale, synthetic corpora."""

from __future__ import annotations

import io
import time

import pytest

from fallback_kit.contracts.works import Work, read_works
from fallback_kit.sandbox import PROFILES, SOURCES, World, synthetic_works, write_corpus
from fallback_kit.sandbox.corpus import COLUMNS

REAL = [
    Work.create("jcheminf", doi="10.1186/1758-2946-3-47", pmcid="PMC3206455", pmid="21999661",
                title="Open bibliography for science, technology, and medicine"),
    Work.create("arxiv", arxiv_id="2409.12922"),
    Work.create("plos", doi="10.1371/journal.pone.0213978"),
    Work.create("cell", doi="10.1016/j.cell.2020.01.001"),
    Work.create("pmid-only", pmid="20495566"),
]


def _truth_key(world: World) -> list[tuple[object, ...]]:
    return [(t.work_id, t.source, t.holds_pdf, t.pdf_url, t.fault, t.transient, t.requests)
            for t in world.truth()]


def test_same_seed_same_truth() -> None:
    """Two Worlds built from the same inputs agree on every fact and delay."""
    works = synthetic_works("mixed", 300, seed=3)
    assert _truth_key(World.build(works, seed=5)) == _truth_key(World.build(works, seed=5))


def test_different_seed_different_truth() -> None:
    """Another seed gives another World."""
    works = synthetic_works("mixed", 300, seed=3)
    assert _truth_key(World.build(works, seed=5)) != _truth_key(World.build(works, seed=6))


def test_truth_covers_every_work_and_source() -> None:
    """truth() has one SourceTruth per work and source, in SOURCES order."""
    world = World.build(REAL, seed=1)
    truth = world.truth()
    assert len(truth) == len(REAL) * len(SOURCES)
    assert [t.source for t in truth[: len(SOURCES)]] == list(SOURCES)


def test_sources_without_identifiers_are_not_applicable() -> None:
    """A work with only an arXiv id gets not_applicable from DOI-only sources, no requests."""
    t = World.build(REAL, seed=1).truth_for("arxiv")
    assert (t["unpaywall"].fault, t["unpaywall"].requests, t["unpaywall"].holds_pdf) == (
        "not_applicable", (), False)
    assert t["arxiv"].holds_pdf and t["arxiv"].pdf_url == "https://arxiv.org/pdf/2409.12922"


def test_reference_work_is_open_at_its_publisher() -> None:
    """The Unpaywall reference DOI maps to jcheminf.springeropen.com, as in the sample."""
    world = World.build(REAL, seed=1, faults={"all": 0.0})
    t = world.truth_for("jcheminf")["unpaywall"]
    assert t.pdf_url == ("https://jcheminf.springeropen.com/track/pdf/10.1186/1758-2946-3-47"
                         "?site=jcheminf.springeropen.com")
    assert t.requests[0][0] == "https://api.unpaywall.org/v2/10.1186/1758-2946-3-47"


def test_expected_ms_sums_request_delays() -> None:
    """expected_ms is the sum of the per-request delays, all positive."""
    t = World.build(REAL, seed=1, faults={"all": 0.0}).truth_for("jcheminf")["pmc"]
    assert len(t.requests) == 2 and all(ms > 0 for _, ms in t.requests)
    assert t.expected_ms == pytest.approx(sum(ms for _, ms in t.requests))


def test_fault_implies_no_pdf() -> None:
    """Whenever the truth names a fault, holds_pdf is False and pdf_url None."""
    world = World.build(synthetic_works("mixed", 400, seed=2), seed=2)
    for t in world.truth():
        if t.fault is not None:
            assert not t.holds_pdf and t.pdf_url is None


def test_forced_fault_reaches_truth() -> None:
    """faults={'html_as_pdf': 1.0} makes every reachable PDF an HTML page in the truth."""
    world = World.build(synthetic_works("mixed", 100, seed=1), seed=1,
                        faults={"html_as_pdf": 1.0})
    truth = world.truth()
    assert not any(t.holds_pdf for t in truth)
    assert sum(t.fault == "html_as_pdf" for t in truth) > 100


def test_all_off_gives_no_faults_beyond_habits() -> None:
    """faults={'all': 0} leaves only publisher habits (paywall, viewer, not found)."""
    world = World.build(synthetic_works("mixed", 200, seed=1), seed=1, faults={"all": 0.0})
    kinds = {t.fault for t in world.truth()} - {None}
    assert kinds <= {"not_applicable", "paywall", "html_viewer", "not_found", "blocked",
                     "not_pdf"}
    assert not any(t.transient for t in world.truth())


def test_unknown_fault_kind_is_refused_with_the_valid_ones() -> None:
    """A typo in faults names the key and lists the kinds."""
    with pytest.raises(ValueError, match=r"faults\['html_as_pfd'\].*html_as_pdf"):
        World.build(REAL, faults={"html_as_pfd": 1.0})


def test_unknown_profile_is_refused() -> None:
    """An unknown profile name lists the valid ones."""
    with pytest.raises(ValueError, match="mixed, biomed, arxiv, closed, archival"):
        World.build(REAL, profile="everything")


@pytest.mark.parametrize("name", list(PROFILES))
def test_every_profile_resolves_something(name: str) -> None:
    """Each profile's own corpus has works some source can reach, and some none can."""
    world = World.build(synthetic_works(name, 150, seed=4), profile=name, seed=4)
    by_work: dict[str, bool] = {}
    for t in world.truth():
        by_work[t.work_id] = by_work.get(t.work_id, False) or t.holds_pdf
    reachable = sum(by_work.values()) / len(by_work)
    assert 0.05 < reachable < 1.0


def test_profiles_differ_as_documented() -> None:
    """biomed reaches PMC far more often than closed; arxiv reaches arXiv for most works."""
    def share(profile: str, source: str) -> float:
        world = World.build(synthetic_works(profile, 300, seed=9), profile=profile, seed=9)
        ts = [t for t in world.truth() if t.source == source]
        return sum(t.holds_pdf for t in ts) / len(ts)

    assert share("biomed", "pmc") > share("closed", "pmc") + 0.2
    assert share("arxiv", "arxiv") > 0.8


def test_build_is_cheap_for_100k_works() -> None:
    """World.build indexes 100,000 works in well under a second (facts are lazy)."""
    works = [Work(work_id=f"w{i}", doi=f"10.5555/x.{i}") for i in range(100_000)]
    start = time.perf_counter()
    world = World.build(works, seed=1)
    assert time.perf_counter() - start < 1.5
    assert world.truth_for("w99999")["unpaywall"].requests


def test_title_of_is_the_given_or_a_synthetic_title() -> None:
    """title_of returns the work's title, or a stable synthetic one."""
    world = World.build(REAL, seed=1)
    assert world.title_of("jcheminf").startswith("Open bibliography")
    assert world.title_of("arxiv") == World.build(REAL, seed=1).title_of("arxiv")


def test_corpus_is_fast_and_readable() -> None:
    """10,000 synthetic rows in well under the budget, parsed without errors by read_works."""
    buf = io.StringIO()
    start = time.perf_counter()
    rows = write_corpus(buf, profile="biomed", n=10_000, seed=1)
    assert time.perf_counter() - start < 2.0 and rows == 10_000
    text = buf.getvalue()
    assert text.splitlines()[0] == ",".join(COLUMNS)
    import pandas as pd

    report = read_works(pd.read_csv(io.StringIO(text), dtype=str))
    assert len(report.works) == 10_000 and not report.errors
    assert all(w.doi is None or w.doi.startswith("10.5555/") for w in report.works)


def test_corpus_follows_the_profile() -> None:
    """biomed corpora carry PMIDs for most works; arxiv corpora carry arXiv ids."""
    bio = synthetic_works("biomed", 1000, seed=1)
    arx = synthetic_works("arxiv", 1000, seed=1)
    assert sum(w.pmid is not None for w in bio) > 700
    assert sum(w.arxiv_id is not None for w in arx) > 900
    assert len({w.arxiv_id for w in arx if w.arxiv_id}) == sum(1 for w in arx if w.arxiv_id)


def test_sources_that_ignore_robots_reach_what_robots_forbid() -> None:
    """A plan's source with `robots_respect: false` fetches a PDF that robots.txt
    forbids, so the truth of what that plan can reach counts it; the others do not."""
    world = World.build(synthetic_works("mixed", 600, seed=7), seed=7)
    forbidden = [t for t in world.truth() if t.fault == "robots_disallow"]
    assert forbidden, "the mixed World has robots-forbidden PDFs"
    t = forbidden[0]
    ignoring = world.truth_for(t.work_id, ignoring_robots={t.source})
    assert ignoring[t.source].fault != "robots_disallow"
    assert any(u.fault == "robots_disallow" for u in world.truth(ignoring_robots={"wayback"}))
    found = [u for u in world.truth(ignoring_robots={u.source for u in forbidden})
             if (u.work_id, u.source) in {(f.work_id, f.source) for f in forbidden}]
    assert found and not any(u.fault == "robots_disallow" for u in found)
    assert any(u.holds_pdf for u in found)
    assert world.truth_for(t.work_id)[t.source].fault == "robots_disallow"  # default: respect
