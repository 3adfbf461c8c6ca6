"""The run store: one SQLite file per run directory, written as the run goes.

A run may be killed at any moment (Ctrl-C, SIGKILL, a laptop lid), so a work is
recorded all at once: its attempts are buffered in memory and written together with
its Resolution in one transaction. A work is therefore either absent (and tried again
on resume) or fully present, never half-recorded. WAL mode with
`synchronous=NORMAL` keeps each commit cheap and is safe against process crashes.

A work resolved again (a resume redoes `transient` works, `--retry-failed` the chosen
statuses) gets a new round: its earlier rounds, resolution and attempts, stay. Round 1
is a work's first resolution; `latest` reads each work's last one. A retry that is cut
short is resumed as the same retry (the `retries` table remembers what it redoes).
Stores of schema 1 (before rounds) are migrated when opened for writing and read as
round 1 when opened read-only.

Layering: sqlite3 and the package's bottom floor only; no pandas here (see run.py).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import platform
import secrets
import shutil
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..contracts.events import Attempt, BreakerEvent, Event, Resolution
from ..contracts.works import Work

__all__ = [
    "DB_NAME",
    "SCHEMA_VERSION",
    "DownloadRecord",
    "RunStore",
    "StoreError",
    "StoreWriteError",
    "plan_hash",
    "run_lock",
]

DB_NAME = "run.sqlite"
SCHEMA_VERSION = 2
#: schema versions this code opens (older ones are migrated on a writable open)
READABLE_VERSIONS = (1, 2)
RUN_STATUSES = ("running", "finished", "interrupted", "failed", "disk_full")
LOCK_NAME = ".run.lock"
_FULL_BELOW = 1 << 20  # free bytes under which a failed write is put down to a full disk

#: one row per resolution of a work: (work_id, round) is unique, round 1 first
_RESOLUTIONS = """
CREATE TABLE resolutions (
    seq        INTEGER PRIMARY KEY,
    run_id     TEXT NOT NULL,
    work_id    TEXT NOT NULL,
    status     TEXT NOT NULL,
    pdf_url    TEXT,
    source     TEXT,
    tier       TEXT,
    elapsed_ms REAL NOT NULL DEFAULT 0,
    attempts   INTEGER NOT NULL DEFAULT 0,
    requests   INTEGER NOT NULL DEFAULT 0,
    reason     TEXT NOT NULL DEFAULT '',
    meta       TEXT NOT NULL DEFAULT '{}',
    round      INTEGER NOT NULL DEFAULT 1,
    UNIQUE (work_id, round)
);"""

#: one row per session that resolves works again: the statuses it redoes, and the last
#: resolution written before it began (a work resolved after that is done for it)
_RETRIES = """
CREATE TABLE retries (
    seq        INTEGER PRIMARY KEY,
    statuses   TEXT NOT NULL,
    before_seq INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    ended_at   TEXT
);"""

#: each work's latest resolution (SQLite takes the bare columns from the max() row)
_LATEST = "SELECT work_id, status, seq, max(round) AS round FROM resolutions GROUP BY work_id"

_SCHEMA = """
CREATE TABLE run (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    run_id          TEXT NOT NULL,
    plan_yaml       TEXT NOT NULL,
    plan_hash       TEXT NOT NULL,
    network_mode    TEXT,
    sandbox_profile TEXT,
    sandbox_seed    INTEGER,
    time_scale      REAL,
    versions        TEXT NOT NULL DEFAULT '{}',
    works_source    TEXT,
    started_at      TEXT NOT NULL,
    ended_at        TEXT,
    status          TEXT NOT NULL,
    extra           TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE attempts (
    seq        INTEGER PRIMARY KEY,
    run_id     TEXT NOT NULL,
    work_id    TEXT NOT NULL,
    tier       TEXT NOT NULL,
    source     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    reason     TEXT NOT NULL DEFAULT '',
    url        TEXT,
    status     INTEGER,
    host       TEXT,
    retries    INTEGER NOT NULL DEFAULT 0,
    t_start_ms REAL NOT NULL DEFAULT 0,
    t_end_ms   REAL NOT NULL DEFAULT 0,
    bytes      INTEGER NOT NULL DEFAULT 0,
    meta       TEXT NOT NULL DEFAULT '{}',
    round      INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX attempts_work ON attempts (work_id);
{resolutions}
{retries}
CREATE TABLE breaker_events (
    seq      INTEGER PRIMARY KEY,
    host     TEXT NOT NULL,
    old      TEXT NOT NULL,
    new      TEXT NOT NULL,
    at_s     REAL NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE works (
    work_id     TEXT PRIMARY KEY,
    doi         TEXT,
    arxiv_id    TEXT,
    pmcid       TEXT,
    pmid        TEXT,
    title       TEXT,
    landing_url TEXT,
    kind        TEXT,
    columns     TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE downloads (
    work_id TEXT PRIMARY KEY,
    sha256  TEXT NOT NULL,
    bytes   INTEGER NOT NULL,
    source  TEXT,
    url     TEXT,
    path    TEXT NOT NULL,
    version TEXT,
    license TEXT,
    at      TEXT NOT NULL
);
CREATE INDEX downloads_sha256 ON downloads (sha256);
""".replace("{resolutions}", _RESOLUTIONS).replace("{retries}", _RETRIES)

TABLES = ("run", "attempts", "resolutions", "breaker_events", "works", "downloads", "retries")
#: the tables a store of schema 1 has (the rest are read as empty)
_TABLES_V1 = TABLES[:-1]
#: tables whose rows carry a round (schema 1: every row is round 1)
_ROUNDED = ("attempts", "resolutions")

_ATTEMPT_COLS = (
    "run_id", "work_id", "tier", "source", "outcome", "reason", "url", "status", "host",
    "retries", "t_start_ms", "t_end_ms", "bytes", "meta",
)  # fmt: skip
_RESOLUTION_COLS = (
    "run_id", "work_id", "status", "pdf_url", "source", "tier", "elapsed_ms", "attempts",
    "requests", "reason", "meta",
)  # fmt: skip
_WORK_COLS = ("work_id", "doi", "arxiv_id", "pmcid", "pmid", "title", "landing_url", "kind")
_DOWNLOAD_COLS = ("work_id", "sha256", "bytes", "source", "url", "path", "version", "license", "at")

_META_KEYS = {
    "run_id": "run_id",
    "network_mode": "network_mode",
    "mode": "network_mode",
    "sandbox_profile": "sandbox_profile",
    "profile": "sandbox_profile",
    "sandbox_seed": "sandbox_seed",
    "seed": "sandbox_seed",
    "time_scale": "time_scale",
    "versions": "versions",
    "works_source": "works_source",
}


class StoreError(Exception):
    """The run store cannot be created, opened or written; the message names the path."""


class StoreWriteError(StoreError, OSError):
    """A write to the store failed on our side (disk full, I/O error, read-only file):
    the transaction was rolled back, so the store still holds every finished work.
    An OSError too (errno ENOSPC when the disk is full), so callers that classify local
    trouble by errno see it as such."""

    def __str__(self) -> str:
        return str(self.strerror or super().__str__())


def plan_hash(plan_yaml: str) -> str:
    """sha256 of the plan text, blind to line endings and trailing blanks (a re-saved file
    is the same plan)."""
    lines = plan_yaml.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    text = "\n".join(line.rstrip() for line in lines).strip()
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _dumps(value: Mapping[str, Any]) -> str:
    return json.dumps(dict(value), sort_keys=True, default=str)


@dataclass(frozen=True, slots=True, kw_only=True)
class DownloadRecord:
    """One entry of the download manifest: which file holds a work's PDF.

    `path` is as stored (relative to the run directory when the file lies inside it);
    `RunStore.download_for` returns it resolved to an absolute path.
    """

    work_id: str
    sha256: str
    bytes: int
    path: str
    source: str | None = None
    url: str | None = None
    version: str | None = None
    license: str | None = None
    at: str = ""


def _default_versions() -> dict[str, str]:
    try:
        from importlib.metadata import version

        kit = version("fallback-kit")
    except Exception:  # not installed (source checkout): still record the rest
        kit = "unknown"
    return {
        "fallback_kit": kit,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }


class RunStore:
    """The SQLite store of one run directory; an `EventSink` for the orchestrator.

    Use `RunStore.open_or_create(dir, plan_yaml=..., meta=...)` to start or resume,
    `done_work_ids()` to skip finished works, `emit(event)` while running,
    `finish()` and `close()` at the end.
    """

    def __init__(self, directory: Path, conn: sqlite3.Connection, *, read_only: bool = False):
        self.dir = directory
        self.path = directory / DB_NAME
        self.read_only = read_only
        self._conn = conn
        self._lock = threading.Lock()
        self._pending: dict[str, list[tuple[Any, ...]]] = {}
        self._redo: tuple[str, ...] = ()  # statuses resolved again (see `redo`)
        self._before_seq = 0  # ... when their resolution was written up to this seq
        self._closed = False
        self.schema_version: int = conn.execute("PRAGMA user_version").fetchone()[0]
        row = conn.execute("SELECT run_id, plan_hash, status FROM run WHERE id = 1").fetchone()
        self.run_id: str = row[0]
        self.plan_hash: str = row[1]

    # ---- opening -------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        directory: str | os.PathLike[str],
        *,
        plan_yaml: str,
        meta: Mapping[str, Any] | None = None,
        force: bool = False,
    ) -> RunStore:
        """Start a new run in `directory`; an existing run there is an error unless `force`
        (then it is moved aside to `run.sqlite.replaced-<time>`)."""
        d = Path(directory)
        _ensure_dir(d)
        db = d / DB_NAME
        if db.exists():
            if not force:
                old = _peek_plan_hash(db)
                what = (
                    "holds a run of another plan"
                    if old != plan_hash(plan_yaml)
                    else "already holds a run of this plan (open_or_create resumes it)"
                )
                raise StoreError(
                    f"{d}: {what}; use --force to overwrite or choose another --out"
                )
        return cls._create_fresh(d, plan_yaml=plan_yaml, meta=meta or {})

    @classmethod
    def open(cls, directory: str | os.PathLike[str], *, read_only: bool = False) -> RunStore:
        """Open the run in `directory` (or the `run.sqlite` file itself) as it is."""
        d = Path(directory)
        if d.name == DB_NAME and d.is_file():
            d = d.parent
        db = d / DB_NAME
        if not d.exists():
            raise StoreError(f"{d}: no such directory (expected a run directory with {DB_NAME})")
        if not db.is_file():
            raise StoreError(f"{d}: no run here (no {DB_NAME}); run `fallback-kit run` first")
        conn = _connect(db, read_only=read_only)
        try:
            _check_schema(conn, db)
            if not read_only:
                _migrate(conn, db)
                _add_works_columns(conn)
        except BaseException:
            conn.close()
            raise
        return cls(d, conn, read_only=read_only)

    @classmethod
    def open_or_create(
        cls,
        directory: str | os.PathLike[str],
        *,
        plan_yaml: str,
        meta: Mapping[str, Any] | None = None,
        force: bool = False,
    ) -> RunStore:
        """Resume the run in `directory` if it ran the same plan, else start one.

        A run of another plan there raises StoreError unless `force`; `force` always
        starts afresh, moving the old run aside.
        """
        d = Path(directory)
        _ensure_dir(d)
        db = d / DB_NAME
        if not db.exists():
            return cls._create_fresh(d, plan_yaml=plan_yaml, meta=meta or {})
        if force:
            return cls._create_fresh(d, plan_yaml=plan_yaml, meta=meta or {})
        store = cls.open(d)
        if store.plan_hash != plan_hash(plan_yaml):
            store.close()
            raise _other_plan(d)
        with store._tx():
            store._conn.execute("UPDATE run SET status = 'running', ended_at = NULL WHERE id = 1")
        return store

    @staticmethod
    def check_target(
        directory: str | os.PathLike[str], *, plan_yaml: str, force: bool = False
    ) -> None:
        """Raise StoreError if `open_or_create` would refuse `directory`, writing nothing,
        so that a command fails before it starts any work."""
        d = Path(directory)
        probe = d
        while not probe.exists():
            if probe.parent == probe:
                break
            probe = probe.parent
        if probe.exists() and not probe.is_dir():
            raise StoreError(
                f"{d}: cannot create the run directory ({probe} is not a directory);"
                " choose another --out"
            )
        if not os.access(probe, os.W_OK | os.X_OK):
            raise StoreError(
                f"{d}: cannot create the run directory ({probe} is not writable);"
                " choose another --out"
            )
        db = d / DB_NAME
        if db.exists() and not force and _peek_plan_hash(db) != plan_hash(plan_yaml):
            raise _other_plan(d)

    @classmethod
    def _create_fresh(cls, d: Path, *, plan_yaml: str, meta: Mapping[str, Any]) -> RunStore:
        row = _run_row(plan_yaml, meta)
        tmp = d / f".{DB_NAME}.new-{secrets.token_hex(4)}"
        try:
            # a rollback journal while building: every failed write raises (a WAL file's
            # checkpoint at close fails silently on a full disk and leaves a torn file)
            conn = sqlite3.connect(tmp, isolation_level=None)
            try:
                conn.executescript(_SCHEMA)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                cols = ", ".join(row)
                marks = ", ".join("?" for _ in row)
                conn.execute(
                    f"INSERT INTO run (id, {cols}) VALUES (1, {marks})", tuple(row.values())
                )
                if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                    raise sqlite3.DatabaseError("the new file does not check out")
            finally:
                conn.close()
            db = d / DB_NAME
            if db.exists():
                _move_aside(db)
            os.replace(tmp, db)
        except sqlite3.Error as exc:
            why = _why(exc, d)
            raise StoreWriteError(errno.ENOSPC if why.startswith("the disk is full") else errno.EIO,
                                  f"{d}: cannot create the run store: {why}") from None
        except OSError as exc:
            raise StoreWriteError(exc.errno or errno.EIO,
                                  f"{d}: cannot write the run store: {exc.strerror or exc}"
                                  ) from None
        finally:
            for leftover in (tmp, Path(f"{tmp}-journal"), Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
                leftover.unlink(missing_ok=True)
        try:
            return cls.open(d)
        except StoreError:  # e.g. no room for the WAL: leave no empty run behind
            for suffix in ("", "-wal", "-shm"):
                Path(f"{d / DB_NAME}{suffix}").unlink(missing_ok=True)
            raise

    # ---- writing -------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        """Record one event: attempts wait for their work's Resolution, then both are
        written in one transaction; breaker events are written at once."""
        self._check_writable()
        if isinstance(event, Attempt):
            self._pending.setdefault(event.work_id, []).append(_attempt_row(event))
        elif isinstance(event, Resolution):
            self._write_work(event)
        elif isinstance(event, BreakerEvent):
            with self._tx():
                self._conn.execute(
                    "INSERT INTO breaker_events (host, old, new, at_s, failures)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (event.host, str(event.old), str(event.new), event.at_s, event.failures),
                )
        else:
            raise TypeError(f"RunStore.emit: not an event: {event!r}")

    def _write_work(self, res: Resolution) -> None:
        attempts = self._pending.pop(res.work_id, [])
        cols = ", ".join((*_ATTEMPT_COLS, "round"))
        marks = ", ".join("?" for _ in range(len(_ATTEMPT_COLS) + 1))
        with self._tx():
            round_ = self._next_round(res.work_id)
            self._conn.executemany(f"INSERT INTO attempts ({cols}) VALUES ({marks})",
                                   [(*row, round_) for row in attempts])
            self._conn.execute(
                f"INSERT INTO resolutions ({', '.join(_RESOLUTION_COLS)}, round) "
                f"VALUES ({', '.join('?' for _ in _RESOLUTION_COLS)}, ?)",
                (*_resolution_row(res), round_),
            )

    def _next_round(self, work_id: str) -> int:
        """Inside a transaction: the round of `work_id`'s new resolution, 1 for its first;
        a work that is done (not reopened by `redo`) is refused."""
        row = self._conn.execute(
            "SELECT status, seq, round FROM resolutions WHERE work_id = ?"
            " ORDER BY round DESC LIMIT 1", (work_id,)).fetchone()
        if row is None:
            return 1
        status, seq, round_ = row
        if status not in self._redo or seq > self._before_seq:
            raise StoreError(
                f"{self.path}: work {work_id!r} already has a resolution in this run;"
                " skip the works in done_work_ids() when resuming"
            )
        return int(round_) + 1

    def add_works(self, works: Iterable[Work]) -> int:
        """Remember the run's works (ids and identifiers); known ones are left as they are."""
        self._check_writable()
        rows = [(*(getattr(w, c) for c in _WORK_COLS),
                 json.dumps(dict(w.columns), default=str) if w.columns else "{}")  # in order
                for w in works]
        cols = (*_WORK_COLS, "columns")  # the user's own record of the work, as JSON
        with self._tx():
            before = self._conn.total_changes
            self._conn.executemany(
                f"INSERT OR IGNORE INTO works ({', '.join(cols)}) "
                f"VALUES ({', '.join('?' for _ in cols)})",
                rows,
            )
            return self._conn.total_changes - before

    def record_download(self, record: DownloadRecord) -> None:
        """Add (or replace) the manifest entry of a work's downloaded PDF."""
        self._check_writable()
        path = Path(record.path)
        try:
            stored = str(path.resolve().relative_to(self.dir.resolve()))
        except ValueError:  # outside the run: absolute, so it resolves from any cwd
            stored = str(path.resolve())
        values = (
            record.work_id, record.sha256, record.bytes, record.source, record.url, stored,
            record.version, record.license, record.at or _now(),
        )  # fmt: skip
        with self._tx():
            self._conn.execute(
                f"INSERT OR REPLACE INTO downloads ({', '.join(_DOWNLOAD_COLS)}) "
                f"VALUES ({', '.join('?' for _ in _DOWNLOAD_COLS)})",
                values,
            )

    def download_for(self, work_id: str) -> DownloadRecord | None:
        """The manifest entry of `work_id` with an absolute path, or None if there is none."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT {', '.join(_DOWNLOAD_COLS)} FROM downloads WHERE work_id = ?", (work_id,)
            ).fetchone()
        if row is None:
            return None
        rec = dict(zip(_DOWNLOAD_COLS, row, strict=True))
        path = Path(rec["path"])
        rec["path"] = str(path if path.is_absolute() else self.dir / path)
        return DownloadRecord(**rec)

    def finish(self, status: str = "finished", reason: str = "") -> None:
        """Mark the run ended (`finished`, `interrupted`, `failed` or `disk_full`) and
        stamp ended_at; `reason` (why it failed) goes to the run's extra `end_reason`."""
        if status not in RUN_STATUSES:
            raise ValueError(f"status must be one of {', '.join(RUN_STATUSES)}, not {status!r}")
        self._check_writable()
        with self._tx():
            self._conn.execute(
                "UPDATE run SET status = ?, ended_at = ?,"
                " extra = json_set(extra, '$.end_reason', ?) WHERE id = 1",
                (status, _now(), reason),
            )
            if status == "finished":  # a retry cut short stays open, to be resumed
                self._conn.execute("UPDATE retries SET ended_at = ? WHERE ended_at IS NULL",
                                   (_now(),))

    def redo(self, statuses: Iterable[str]) -> int:
        """Resolve again, in this session, the works whose latest resolution has one of
        `statuses` (e.g. `transient`): `done_work_ids` leaves them out, and each one's new
        Resolution is written as its next round, beside the old ones. A retry that was
        cut short (its session did not finish) is resumed: its statuses are added and
        the works it already resolved again stay done. Returns how many works are
        reopened."""
        chosen = {str(s) for s in statuses}
        with self._tx():
            pending = self._conn.execute(
                "SELECT seq, statuses, before_seq FROM retries WHERE ended_at IS NULL"
                " ORDER BY seq DESC LIMIT 1").fetchone()
            if pending is not None:
                chosen |= set(json.loads(pending[1]))
                before = int(pending[2])
                self._conn.execute("UPDATE retries SET statuses = ? WHERE seq = ?",
                                   (json.dumps(sorted(chosen)), pending[0]))
            else:
                before = int(self._conn.execute(
                    "SELECT coalesce(max(seq), 0) FROM resolutions").fetchone()[0])
            self._redo, self._before_seq = tuple(sorted(chosen)), before
            reopened = self._reopened()
            if pending is None and reopened:
                self._conn.execute(
                    "INSERT INTO retries (statuses, before_seq, started_at) VALUES (?, ?, ?)",
                    (json.dumps(list(self._redo)), before, _now()))
        return reopened

    def _reopened(self) -> int:
        marks = ", ".join("?" for _ in self._redo)
        return int(self._conn.execute(
            f"SELECT count(*) FROM ({_LATEST}) WHERE status IN ({marks}) AND seq <= ?",
            (*self._redo, self._before_seq)).fetchone()[0])

    def close(self) -> None:
        """Close the file; attempts of works without a Resolution are dropped (they are
        tried again on resume)."""
        if self._closed:
            return
        self._closed = True
        self._pending.clear()
        self._conn.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[None]:
        """One explicit transaction (the connection is in autocommit mode otherwise)."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield
                    self._conn.execute("COMMIT")
                except BaseException:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as exc:
                raise _write_error(self.path, exc) from None

    def _check_writable(self) -> None:
        if self._closed:
            raise StoreError(f"{self.path}: the store is closed")
        if self.read_only:
            raise StoreError(f"{self.path}: opened read-only")

    # ---- reading -------------------------------------------------------------------

    def done_work_ids(self) -> set[str]:
        """Works that have a Resolution: a resumed run does not try them again (but for
        those reopened by `redo`, e.g. `transient` ones)."""
        marks = ", ".join("?" for _ in self._redo)
        with self._lock:
            return {r[0] for r in self._conn.execute(
                f"SELECT work_id FROM ({_LATEST}) WHERE NOT (status IN ({marks}) AND seq <= ?)",
                (*self._redo, self._before_seq))}

    def work_ids(self) -> list[str]:
        """The run's works as added with `add_works`, in insertion order."""
        with self._lock:
            return [r[0] for r in self._conn.execute("SELECT work_id FROM works ORDER BY rowid")]

    def run_info(self) -> dict[str, Any]:
        """The `run` row as a dict (versions and extra decoded from JSON)."""
        with self._lock:
            cur = self._conn.execute("SELECT * FROM run WHERE id = 1")
            row = cur.fetchone()
            names = [c[0] for c in cur.description]
        info = dict(zip(names, row, strict=True))
        info.pop("id", None)
        if info["status"] == "running" and _abandoned(self.dir):
            info["status"] = "interrupted"  # its process died before it could say so
        info["versions"] = json.loads(info["versions"] or "{}")
        info["extra"] = json.loads(info["extra"] or "{}")
        return info

    def table(self, name: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """All rows of one table as (column names, rows), in insertion order; every round
        of every work (a store of schema 1, opened read-only, reads as round 1)."""
        if name not in TABLES:
            raise ValueError(f"no table {name!r}; tables: {', '.join(TABLES)}")
        if self.schema_version == 1 and name == "retries":
            return ["seq", "statuses", "before_seq", "started_at", "ended_at"], []
        rounded = ", 1 AS round" if self.schema_version == 1 and name in _ROUNDED else ""
        with self._lock:
            cur = self._conn.execute(f"SELECT *{rounded} FROM {name} ORDER BY rowid")
            rows = cur.fetchall()
            return [c[0] for c in cur.description], rows

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {
                t: self._conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("attempts", "resolutions", "works", "downloads")
            }

    def __repr__(self) -> str:
        if self._closed:
            return f"RunStore({str(self.dir)!r}, closed)"
        c = self.counts()
        return (
            f"RunStore({str(self.dir)!r}, run_id={self.run_id!r}, works={c['works']}, "
            f"resolutions={c['resolutions']}, attempts={c['attempts']}, "
            f"pending_works={len(self._pending)})"
        )


# ---- helpers --------------------------------------------------------------------------


def _why(exc: sqlite3.Error, where: Path | None = None) -> str:
    """SQLite's message, saying "the disk is full" when it is (SQLite often reports a
    full disk as a mere "disk I/O error")."""
    text = str(exc)
    if "full" in text:
        return f"the disk is full ({text})"
    if where is not None:
        try:
            if shutil.disk_usage(where).free < _FULL_BELOW:
                return f"the disk is full ({text})"
        except OSError:
            pass
    return text


def _write_error(path: Path, exc: sqlite3.Error) -> StoreWriteError:
    """The store's one-line error for a failed write, with errno ENOSPC for a full disk."""
    text = _why(exc, path.parent)
    if text.startswith("the disk is full"):
        return StoreWriteError(errno.ENOSPC, f"{path}: {text}; every finished work is"
                               " kept: free some space and run again to resume")
    return StoreWriteError(errno.EIO, f"{path}: cannot write the run store ({text})")


def _other_plan(d: Path) -> StoreError:
    return StoreError(f"{d}: holds a run of another plan; use --force to overwrite"
                      " or choose another --out")


@contextmanager
def run_lock(directory: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the run directory for this process: a second run on the same `--out` ends
    at once with StoreError instead of interleaving its requests and writes.

    An advisory `flock` on `DIR/.run.lock` (released by the OS if the process dies, so a
    killed run never leaves a stale lock); a no-op where `fcntl` does not exist.
    """
    d = Path(directory)
    _ensure_dir(d)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    path = d / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"{d}: cannot lock the run directory ({exc.strerror or exc})") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            raise StoreError(
                f"{d}: another run is using this directory (pid {holder}); wait for it to"
                " end or choose another --out"
            ) from None
        try:  # who holds it, for the message of a second run (a full disk may refuse)
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        except OSError:
            pass
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _abandoned(d: Path) -> bool:
    """True when `d` was run under its lock and no process holds it now (the run was
    killed, or its disk was too full to record its end)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return False
    try:
        fd = os.open(d / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # held: the run is going on
    finally:
        os.close(fd)
    return True


def _ensure_dir(d: Path) -> None:
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"{d}: cannot create the run directory ({exc.strerror or exc}); choose another --out"
        ) from None
    if not os.access(d, os.W_OK | os.X_OK):
        raise StoreError(f"{d}: the run directory is not writable; choose another --out")


def _connect(db: Path, *, read_only: bool) -> sqlite3.Connection:
    try:
        if read_only:
            conn = sqlite3.connect(
                f"{db.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
            )
        else:
            conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=5000")
    except sqlite3.OperationalError as exc:  # the file is fine; the disk or the folder not
        raise StoreError(f"{db}: cannot open the run store: {_why(exc, db.parent)}") from None
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{db}: not a run store ({exc})") from None
    if read_only:
        conn.isolation_level = None
    return conn


def _check_schema(conn: sqlite3.Connection, db: Path) -> None:
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.OperationalError as exc:
        raise StoreError(f"{db}: cannot open the run store: {_why(exc, db.parent)}") from None
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{db}: not a run store ({exc})") from None
    missing = [t for t in _TABLES_V1 if t not in names]  # what every version has
    if missing:
        raise StoreError(
            f"{db}: not a fallback_kit run store (missing tables {', '.join(missing)})"
        )
    if version not in READABLE_VERSIONS:
        raise StoreError(
            f"{db}: run store schema version {version}, this fallback_kit reads "
            f"{' and '.join(map(str, READABLE_VERSIONS))}; re-run into a new --out"
        )
    if version > 1 and "retries" not in names:
        raise StoreError(f"{db}: not a fallback_kit run store (missing table retries)")
    if conn.execute("SELECT count(*) FROM run").fetchone()[0] != 1:
        raise StoreError(f"{db}: the run table must hold exactly one row")


def _migrate(conn: sqlite3.Connection, db: Path) -> None:
    """Bring a store of schema 1 to 2, in one transaction: every row it holds becomes
    round 1 (resolutions are copied into the table keyed by work and round), and the
    retries table is added. A store of schema 2 is left as it is."""
    if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
        return
    cols = ", ".join(("seq", *_RESOLUTION_COLS))
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("ALTER TABLE attempts ADD COLUMN round INTEGER NOT NULL DEFAULT 1")
            conn.execute("ALTER TABLE resolutions RENAME TO resolutions_v1")
            conn.execute(_RESOLUTIONS)
            conn.execute(f"INSERT INTO resolutions ({cols}) SELECT {cols} FROM resolutions_v1")
            conn.execute("DROP TABLE resolutions_v1")
            conn.execute(_RETRIES)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        raise StoreError(f"{db}: cannot bring the run store to schema {SCHEMA_VERSION}: "
                         f"{_why(exc, db.parent)}") from None


def _add_works_columns(conn: sqlite3.Connection) -> None:
    """Runs stored before the user's columns were kept get the (empty) column on resume."""
    names = {r[1] for r in conn.execute("PRAGMA table_info(works)")}
    if "columns" not in names:
        conn.execute("ALTER TABLE works ADD COLUMN columns TEXT NOT NULL DEFAULT '{}'")


def _peek_plan_hash(db: Path) -> str | None:
    try:
        # immutable: a peek must not leave -wal/-shm files behind
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
        try:
            row = conn.execute("SELECT plan_hash FROM run WHERE id = 1").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return row[0] if row else None


def _move_aside(db: Path) -> None:
    """Fold the old WAL into the file, then rename it (so no stale -wal meets the new db)."""
    try:
        conn = sqlite3.connect(db)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
    except sqlite3.Error:
        pass  # not a database: it is moved aside all the same
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(2)
    aside = db.with_name(f"{DB_NAME}.replaced-{stamp}")
    os.replace(db, aside)
    for suffix in ("-wal", "-shm"):
        side = Path(f"{db}{suffix}")
        if side.exists():
            os.replace(side, Path(f"{aside}{suffix}"))


def _run_row(plan_yaml: str, meta: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in meta.items():
        column = _META_KEYS.get(key)
        if column is None:
            extra[key] = value
        else:
            values[column] = value
    versions = {**_default_versions(), **dict(values.get("versions") or {})}
    run_id = values.get("run_id") or (
        datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
    )
    seed = values.get("sandbox_seed")
    scale = values.get("time_scale")
    return {
        "run_id": str(run_id),
        "plan_yaml": plan_yaml,
        "plan_hash": plan_hash(plan_yaml),
        "network_mode": values.get("network_mode"),
        "sandbox_profile": values.get("sandbox_profile"),
        "sandbox_seed": None if seed is None else int(seed),
        "time_scale": None if scale is None else float(scale),
        "versions": _dumps(versions),
        "works_source": None if values.get("works_source") is None else str(values["works_source"]),
        "started_at": _now(),
        "ended_at": None,
        "status": "running",
        "extra": _dumps(extra),
    }


def _attempt_row(a: Attempt) -> tuple[Any, ...]:
    return (
        a.run_id, a.work_id, a.tier, a.source, str(a.outcome), a.reason, a.url, a.status,
        a.host, a.retries, float(a.t_start_ms), float(a.t_end_ms), a.bytes,
        _dumps(a.meta) if a.meta else "{}",
    )  # fmt: skip


def _resolution_row(r: Resolution) -> tuple[Any, ...]:
    return (
        r.run_id, r.work_id, str(r.status), r.pdf_url, r.source, r.tier, float(r.elapsed_ms),
        r.attempts, r.requests, r.reason, _dumps(r.meta) if r.meta else "{}",
    )  # fmt: skip
