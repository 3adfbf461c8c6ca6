"""The composition place: where a run's requests go.

`network_for` turns what a caller says ("sandbox", "live", an httpx transport, or a
`Network`) into a `Network` the engine can open. The sandbox is wired here and nowhere
else: the engine reaches the simulated web exactly as it reaches the real one, through
an HTTP client, and learns of the World's truth only through `Connection.after_run`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ..contracts.plan import Plan
from ..contracts.timescale import TimeScale
from ..contracts.works import Work
from ..engine.batch import Connection, LiveNetwork, Network, TransportNetwork
from ..web.cache import HttpCache
from ..web.client import make_client
from ..web.edge import NetSettings

__all__ = ["NETWORKS", "SandboxNetwork", "network_for", "truth_check"]

#: the networks a caller can name; any httpx transport or Network object works too
NETWORKS = ("sandbox", "live")


@dataclass(frozen=True, slots=True)
class SandboxNetwork:
    """The simulated scholarly web on 127.0.0.1, built for the run's works.

    `time_scale` shrinks every delay the sandbox serves (and the plan's durations with
    it); after the run, the run is compared with the World's truth."""

    profile: str = "mixed"
    seed: int = 7
    time_scale: float = 0.1

    def connect(
        self, works: Sequence[Work], email: str | None, *, cache: HttpCache | None = None
    ) -> AbstractAsyncContextManager[Connection]:
        return self._connect(list(works), email, cache)

    @asynccontextmanager
    async def _connect(
        self, works: list[Work], email: str | None, cache: HttpCache | None
    ) -> AsyncIterator[Connection]:
        from ..sandbox import Sandbox, World

        scale = TimeScale(self.time_scale)
        world = World.build(works, profile=self.profile, seed=self.seed)
        sandbox = Sandbox(world, time_scale=scale.factor)
        await asyncio.to_thread(sandbox.start)
        try:
            settings = NetSettings(live=False, email=email)
            async with make_client(settings, transport=sandbox.transport(),
                                   cache=cache) as client:
                meta = {"network_mode": "sandbox", "sandbox_profile": self.profile,
                        "sandbox_seed": self.seed, "time_scale": scale.factor}
                checked = len(works) <= TRUTH_CHECK_MAX_WORKS
                yield Connection(
                    client=client, mode="sandbox", time_scale=scale, meta=meta,
                    after_run=(lambda plan, out: truth_check(world, plan, out)) if checked
                    else None,
                    trust_transport=True,  # our own simulated web: the one place it is said
                )
        finally:
            await asyncio.to_thread(sandbox.stop)


def network_for(
    network: str | Network | httpx.AsyncBaseTransport = "sandbox",
    *,
    profile: str = "mixed",
    seed: int = 7,
    time_scale: float = 0.1,
    trust_transport: bool = False,
) -> Network:
    """What a caller said -> a Network. `profile`, `seed` and `time_scale` shape the
    sandbox (and `time_scale` a caller's own transport); the live web runs in real time.
    `trust_transport=True` says a caller's transport is a simulated web (SSRF guard
    without name lookups); the sandbox is trusted here, by its composition."""
    if isinstance(network, httpx.AsyncBaseTransport):
        return TransportNetwork(network, time_scale=time_scale, trust_transport=trust_transport)
    if network == "sandbox":
        from ..sandbox.profiles import get_profile

        get_profile(profile)  # an unknown profile fails here, before anything starts
        return SandboxNetwork(profile=profile, seed=seed, time_scale=time_scale)
    if network == "live":
        return LiveNetwork()
    if isinstance(network, str):
        raise ValueError(f"network must be one of {', '.join(NETWORKS)}, not {network!r}")
    return network


TRUTH_CHECK_MAX_WORKS = 20_000


def truth_check(world: Any, plan: Plan, out: Path) -> dict[str, Any]:
    """Compare a sandbox run with the World's ground truth: how many works the plan can
    reach (the truth replayed under the plan, without overhead or rate limits), how many
    of those were resolved, and how many resolutions are not a valid PDF of the work: false
    PDFs (not a whole PDF) and wrong papers (another work's PDF)."""
    from ..engine.replay import models_from_truth, replay
    from ..insight.stored_run import open_run

    truths = world.truth(ignoring_robots=plan.sources_ignoring_robots)
    ideal = {r.work_id: r for r in replay(plan, models_from_truth(truths))}
    valid: dict[str, set[str]] = {}
    for t in truths:
        if t.holds_pdf and t.pdf_url:
            valid.setdefault(t.work_id, set()).add(t.pdf_url)
    run = open_run(out)
    res = run.resolutions
    attempts = run.attempts
    resolved = res[res["status"].astype(str) == "resolved"]
    reachable = {w for w, r in ideal.items() if r.status == "resolved"}
    false_pdfs: list[str] = []
    wrong_papers: list[str] = []
    for row in resolved.itertuples():
        meta = row.meta if isinstance(row.meta, dict) else {}
        final = meta.get("final_url") or row.pdf_url
        if final not in valid.get(row.work_id, ()) and row.pdf_url not in valid.get(
            row.work_id, ()
        ):
            # another work's whole PDF (a `wrong_paper` location) or no valid PDF at all
            served = world.lookup_url(final) if final else None
            wrong = served is not None and served.fault == "wrong_paper"
            (wrong_papers if wrong else false_pdfs).append(row.work_id)
    found = set(resolved["work_id"])
    def why(work_id: str) -> str:
        """What happened to the source that would have won in the ideal replay."""
        source = ideal[work_id].source
        rows = attempts[(attempts["work_id"] == work_id) & (attempts["source"] == source)]
        if rows.empty:
            return f"{source}: not tried"
        last = rows.iloc[-1]
        return f"{source}: {last['outcome']} {last['reason']}".strip()

    return {
        "works": len(ideal),
        "reachable_by_plan": len(reachable),
        "resolved": len(found),
        "resolved_of_reachable": len(found & reachable),
        "missed": {w: why(w) for w in sorted(reachable - found)},
        "false_pdfs": sorted(false_pdfs),
        "wrong_papers": sorted(wrong_papers),
    }


