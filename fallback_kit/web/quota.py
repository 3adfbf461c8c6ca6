"""Daily quotas of the services that publish one, counted across runs.

Unpaywall and OpenAlex allow 100,000 calls a day per email; at 10/s that is gone in
under three hours, and a second run the same day starts from where the first left.
Calls are counted per service, contact (a hash of the email: the email itself is
never written) and UTC day in a small SQLite file under the user's cache directory
(`platformdirs`), so every run of the user shares one count. Before a call would go
past the quota, the gate refuses it (`skipped: quota`; the work ends `transient` and a
resume tomorrow tries it again).
"""

from __future__ import annotations

import atexit
import hashlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["DAILY_QUOTAS", "QuotaBook", "QuotaUse", "default_quota_path"]

#: host -> (service, calls per day per email), from each service's terms:
#: https://unpaywall.org/products/api ("100,000 calls per day"),
#: https://docs.openalex.org/how-to-use-the-api/rate-limits-and-authentication
DAILY_QUOTAS: dict[str, tuple[str, int]] = {
    "api.unpaywall.org": ("unpaywall", 100_000),
    "api.openalex.org": ("openalex", 100_000),
}
_FLUSH_EVERY = 20  # calls counted in memory before they are written


def default_quota_path() -> Path:
    """`<user cache dir>/fallback-kit/quota.sqlite` (XDG_CACHE_HOME on Linux)."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("fallback-kit")) / "quota.sqlite"


@dataclass(frozen=True, slots=True)
class QuotaUse:
    service: str
    contact: str  # a hash of the email, or "anonymous"
    day: str
    used: int
    limit: int


def _contact(email: str | None) -> str:
    if not email:
        return "anonymous"
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:12]


def _today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


class QuotaBook:
    """Counts one contact's calls per service and day; `take(host)` says whether one
    more call fits. Thread-safe; writes every few calls and at exit."""

    def __init__(self, path: str | Path | None = None, *, email: str | None = None,
                 today: Callable[[], str] = _today) -> None:
        self.path = Path(path) if path is not None else default_quota_path()
        self.contact = _contact(email)
        self._today = today
        self._lock = threading.Lock()
        self._used: dict[tuple[str, str], int] = {}  # (service, day) -> stored + pending
        self._pending: dict[tuple[str, str], int] = {}
        atexit.register(self.flush)

    def take(self, host: str) -> bool:
        """Count one call to `host` if its service's quota for today allows it."""
        entry = _quota_of(host)
        if entry is None:
            return True
        service, limit = entry
        key = (service, self._today())
        with self._lock:
            used = self._used.get(key)
            if used is None:
                used = self._used[key] = self._stored(key)
            if used >= limit:
                return False
            self._used[key] = used + 1
            self._pending[key] = self._pending.get(key, 0) + 1
            due = sum(self._pending.values()) >= _FLUSH_EVERY
        if due:
            self.flush()
        return True

    def flush(self) -> None:
        """Write the calls counted since the last flush (adding to other runs' counts)."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return
        try:
            with self._connect() as conn:
                conn.executemany(
                    "INSERT INTO calls (service, contact, day, used) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (service, contact, day) DO UPDATE SET used = used + ?",
                    [(s, self.contact, d, n, n) for (s, d), n in pending.items()])
                fresh = {key: self._read(conn, key) for key in pending}
        except (sqlite3.Error, OSError):
            with self._lock:  # the cache dir is unusable: keep counting in memory
                for key, n in pending.items():
                    self._pending[key] = self._pending.get(key, 0) + n
            return
        with self._lock:
            for key, stored in fresh.items():
                self._used[key] = max(self._used.get(key, 0), stored
                                      + self._pending.get(key, 0))

    def usage(self, day: str | None = None) -> list[QuotaUse]:
        """Every contact's use on `day` (default today), for `fallback-kit stats`."""
        self.flush()
        limits = dict(DAILY_QUOTAS.values())
        try:
            with self._connect() as conn:
                rows = conn.execute("SELECT service, contact, day, used FROM calls"
                                    " WHERE day = ? ORDER BY service, contact",
                                    (day or self._today(),)).fetchall()
        except (sqlite3.Error, OSError):
            return []
        return [QuotaUse(s, c, d, u, limits.get(s, 0)) for s, c, d, u in rows]

    # ---- the file

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """The book's file, committed and closed after use."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=5)
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS calls (service TEXT, contact TEXT,"
                         " day TEXT, used INTEGER NOT NULL, PRIMARY KEY (service, contact, day))")
            yield conn
            conn.commit()
        finally:
            conn.close()

    def _read(self, conn: sqlite3.Connection, key: tuple[str, str]) -> int:
        row = conn.execute("SELECT used FROM calls WHERE service = ? AND contact = ?"
                           " AND day = ?", (key[0], self.contact, key[1])).fetchone()
        return int(row[0]) if row else 0

    def _stored(self, key: tuple[str, str]) -> int:
        try:
            with self._connect() as conn:
                return self._read(conn, key)
        except (sqlite3.Error, OSError):
            return 0

    def __repr__(self) -> str:
        return f"<QuotaBook {self.path} contact={self.contact}>"


def _quota_of(host: str) -> tuple[str, int] | None:
    return DAILY_QUOTAS.get(host.lower().rstrip("."))
