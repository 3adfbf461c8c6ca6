"""The engine and the replay implement one set of scheduling rules twice; on the same
source behaviour they must agree on the winner, its tier and the resolution time."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from fakes import FakeSource, Step, fake_factory, make_plan, no_pdf, ok

from fallback_kit.contracts.events import ListSink
from fallback_kit.contracts.works import Work
from fallback_kit.engine.orchestrator import Orchestrator
from fallback_kit.engine.replay import SourceModel, replay_work

NAMES = ["unpaywall", "arxiv", "pmc", "doi_redirect", "wayback", "europe_pmc", "openalex"]
CASES = 1000
TIMEOUT_MS = 9000


def _case(rng: random.Random) -> tuple[dict[str, Any], dict[str, tuple[bool, float]]]:
    """A random plan (tiers, parallelism, hedges, budgets) and what each source does."""
    names = rng.sample(NAMES, rng.randint(2, len(NAMES)))
    cuts = sorted(rng.sample(range(1, len(names)), min(rng.randint(0, 2), len(names) - 1)))
    groups = [names[a:b] for a, b in zip([0, *cuts], [*cuts, len(names)], strict=True)]
    tiers = []
    for i, group in enumerate(groups):
        tier: dict[str, Any] = {"name": f"t{i}", "sources": group,
                                "parallel": rng.randint(1, len(group))}
        if i < len(groups) - 1 and rng.random() < 0.4:
            tier["hedge_after_ms"] = rng.choice([300, 1100, 2500, 6000])
        tiers.append(tier)
    plan = {
        "tiers": tiers,
        "budgets": {"total_timeout_ms": rng.choice([9500, 12500, 20500, 40500]),
                    "max_concurrent": rng.randint(1, 4),
                    "total_attempts": rng.choice([2, 3, 5, 20])},
        "sources": {n: {"retries_max": 0, "timeout_ms": TIMEOUT_MS} for n in NAMES},
    }
    behaviour = {}
    for n in names:
        # odd milliseconds make two sources finishing at the very same time unlikely
        ms = math.inf if rng.random() < 0.1 else float(rng.randrange(51, 13001, 2)) + 0.37
        behaviour[n] = (rng.random() < 0.35, ms)
    return plan, behaviour


def _fakes(behaviour: dict[str, tuple[bool, float]]) -> dict[str, FakeSource]:
    fakes = {}
    for name, (success, ms) in behaviour.items():
        delay = 10 * TIMEOUT_MS / 1000 if math.isinf(ms) else ms / 1000
        fakes[name] = FakeSource(name, [Step(delay, ok() if success else no_pdf())])
    return fakes


@pytest.mark.looptime
async def test_engine_and_replay_agree_on_1000_generated_cases():
    """Same winner, tier, status and time (within 2 ms) on every generated case."""
    rng = random.Random(20261202)
    disagreements = []
    for case in range(CASES):
        data, behaviour = _case(rng)
        plan = make_plan(data["tiers"], budgets=data["budgets"], sources=data["sources"])
        models = {n: SourceModel(success=s, duration_ms=ms) for n, (s, ms) in behaviour.items()}
        orch = Orchestrator(plan, sources=_fakes(behaviour), sink=ListSink(),
                            fetcher_factory=fake_factory)
        real = await orch.resolve(Work(work_id=f"w{case}", doi="10.1000/x"))
        sim = replay_work(plan, f"w{case}", models)
        got = (str(real.status), real.source, real.tier)
        want = (sim.status, sim.source, sim.tier)
        if got != want or abs(real.elapsed_ms - sim.elapsed_ms) > 2:
            disagreements.append((case, got, want, real.elapsed_ms, sim.elapsed_ms))
    assert disagreements == []
