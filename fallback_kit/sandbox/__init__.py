"""The sandbox: a simulated scholarly web served over real HTTP on 127.0.0.1.

    world = World.build(works, profile="mixed", seed=7)
    with Sandbox(world, time_scale=0.01) as sb:
        async with httpx.AsyncClient(transport=sb.transport()) as client:
            await client.get("https://api.unpaywall.org/v2/10.1186/1758-2946-3-47?email=a@b.org")

`world.truth()` tells what each source can reach for each work. Availability figures
of the sandbox are simulated, never measurements of the real web.
"""

from __future__ import annotations

from .corpus import synthetic_works, write_corpus
from .faults import FAULT_KINDS, FaultRates
from .pdfs import make_pdf
from .profiles import PROFILES, Profile, get_profile
from .server import Sandbox
from .transport import SandboxTransport
from .world import SOURCES, SourceTruth, World

__all__ = [
    "FAULT_KINDS",
    "PROFILES",
    "SOURCES",
    "FaultRates",
    "Profile",
    "Sandbox",
    "SandboxTransport",
    "SourceTruth",
    "World",
    "get_profile",
    "make_pdf",
    "synthetic_works",
    "write_corpus",
]
