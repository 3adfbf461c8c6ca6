"""The race book: how each work's race went the last time, kept beside the HTTP cache.

The cache makes a re-run's metadata answers come at once, where the first run waited
for each. That alone changes the race: a source the winner beat before it could ask
(it waited for a rate-limit turn, or for its slot) now gets its answers first and asks
questions the first run never asked. So a re-run with a cache also replays the race:
this book remembers, per plan and work, the source that won and the sources that said
their last word (`contracts.events.SETTLED`); the orchestrator holds the others back
until the winner has tried again (`engine.orchestrator.held_sources`). If the winner
wins again, the re-run asks nothing the first run did not; if it fails (the web
changed), the held sources run as usual.

One SQLite file in the cache directory (`web.cache.RACES_FILE`), keyed by the plan's
race-relevant settings and the work's identifiers (not its `work_id`: the identifiers
decide what is asked). A race is remembered as long as the plan's `cache.max_age`.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from ..contracts.events import SETTLED, Attempt, Event, PreviousRace, Resolution
from ..contracts.plan import Plan
from ..contracts.works import Work
from ..web.cache import RACES_FILE

__all__ = ["RaceBook", "plan_key", "work_key"]

#: the parts of a plan that do not change which source wins (who we are, how fast we
#: ask, what the plan is called): a plan that differs only there races the same
_NOT_RACE = ("name", "description", "politeness")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS races (
    plan_key TEXT NOT NULL,
    work_key TEXT NOT NULL,
    winner   TEXT NOT NULL,
    settled  TEXT NOT NULL,
    at       REAL NOT NULL,
    PRIMARY KEY (plan_key, work_key)
)
"""


def _digest(value: object) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def plan_key(plan: Plan) -> str:
    """The plan as far as its races go (tiers, sources, budgets, gates, thresholds...)."""
    return _digest({k: v for k, v in plan.to_dict().items() if k not in _NOT_RACE})


def work_key(work: Work) -> str:
    """The work as far as the sources go: its identifiers, not the user's key."""
    return _digest([work.doi, work.arxiv_id, work.pmcid, work.pmid, work.title,
                    work.landing_url])


class RaceBook:
    """The races of one plan: `previous(work)` for the orchestrator, and an EventSink
    that records each work's race when its Resolution comes. Open with `open`, and
    `close` at the run's end."""

    def __init__(self, conn: sqlite3.Connection, plan: Plan, max_age_s: float,
                 clock: Callable[[], float] = time.time) -> None:
        self._conn = conn
        self._plan = plan_key(plan)
        self._now = clock
        self._max_age_s = max_age_s
        cutoff = self._now() - max_age_s
        rows = conn.execute("SELECT work_key, winner, settled FROM races "
                            "WHERE plan_key = ? AND at >= ?", (self._plan, cutoff))
        self._known = {key: PreviousRace(winner=winner, settled=frozenset(json.loads(settled)))
                       for key, winner, settled in rows}
        self._settled: dict[str, set[str]] = {}
        self._works: dict[str, str] = {}  # work_id -> work_key, for works in flight

    @classmethod
    def open(cls, directory: str | Path, plan: Plan, max_age_s: float, *,
             clock: Callable[[], float] = time.time) -> RaceBook:
        """The book in the cache `directory` (created if need be), for `plan`; races
        older than `max_age_s` seconds (by `clock`) are forgotten."""
        path = Path(directory) / RACES_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")  # a cache: a lost race is asked again
            conn.execute(_SCHEMA)
        except BaseException:
            conn.close()
            raise
        return cls(conn, plan, max_age_s, clock)

    def previous(self, work: Work) -> PreviousRace | None:
        """The work's last race under this plan, if it is known and fresh."""
        key = work_key(work)
        self._works[work.work_id] = key
        return self._known.get(key) if self._max_age_s > 0 else None

    def emit(self, event: Event) -> None:
        """Collect a work's settled sources; on its Resolution, remember a win (and
        forget the race of a work that did not resolve: nothing is to be replayed)."""
        if isinstance(event, Attempt):
            if event.outcome in SETTLED:
                self._settled.setdefault(event.work_id, set()).add(event.source)
        elif isinstance(event, Resolution):
            self._record(event)

    def _record(self, res: Resolution) -> None:
        settled = self._settled.pop(res.work_id, set())
        key = self._works.pop(res.work_id, None)
        if key is None or self._max_age_s <= 0:
            return
        if res.resolved and res.source:
            race = PreviousRace(winner=res.source, settled=frozenset(settled - {res.source}))
            self._known[key] = race
            self._conn.execute(
                "INSERT OR REPLACE INTO races VALUES (?, ?, ?, ?, ?)",
                (self._plan, key, race.winner, json.dumps(sorted(race.settled)), self._now()))
        elif self._known.pop(key, None) is not None:
            self._conn.execute("DELETE FROM races WHERE plan_key = ? AND work_key = ?",
                               (self._plan, key))

    def close(self) -> None:
        self._conn.close()

    def __len__(self) -> int:
        return len(self._known)

    def __repr__(self) -> str:
        return f"<RaceBook plan={self._plan[:8]} races={len(self._known)}>"

