"""Rules of the run store that its users rely on, each pinned by a test (issue 17).

The run store's main tests are in test_store.py; these pin the exact contract: the
refusals of `check_target` and `create`, the meta of a new run, the run moved aside by
`--force`, the user's columns of a work, and how `run_info` reads a run's status.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from fallback_kit.contracts.events import Attempt, Outcome, Resolution, ResolutionStatus
from fallback_kit.contracts.works import Work
from fallback_kit.record.store import (
    DB_NAME,
    RUN_STATUSES,
    RunStore,
    StoreError,
    plan_hash,
    run_lock,
)

PLAN = "tiers:\n  - name: fast\n    sources: [unpaywall]\n"
OTHER_PLAN = "tiers:\n  - name: slow\n    sources: [wayback]\n"
ASIDE = re.compile(rf"^{re.escape(DB_NAME)}\.replaced-(\d{{8}}T\d{{6}})-[0-9a-f]{{4}}$")


def done(work_id: str) -> Resolution:
    return Resolution(run_id="r1", work_id=work_id, status=ResolutionStatus.NOT_FOUND)


def unwritable_folder(tmp_path: Path) -> Path | None:
    """An existing folder this user cannot write: a 0o500 one, or for root (who writes
    anywhere) a read-only mount; None if there is none here."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    return next((d for d in (locked, Path("/proc/sys"))
                 if d.is_dir() and not os.access(d, os.W_OK)), None)


def read_main_file_only(db: Path, sql: str) -> list[tuple]:
    """Rows as the database file alone holds them, blind to any -wal beside it."""
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.fixture
def far_time_zone() -> Iterator[None]:
    """The machine's local time 14 hours ahead of UTC (no zone is further)."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Etc/GMT-14"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


# ---- refusing a target before any work starts ---------------------------------------


def test_check_target_accepts_a_new_or_same_plan_directory(tmp_path: Path) -> None:
    """A new directory and a run of the same plan (a resume) both pass the check."""
    RunStore.check_target(tmp_path / "new", plan_yaml=PLAN)
    RunStore.create(tmp_path, plan_yaml=PLAN).close()
    RunStore.check_target(tmp_path, plan_yaml=PLAN)
    RunStore.check_target(tmp_path, plan_yaml=PLAN.replace("\n", "\r\n") + "\n\n")
    assert not (tmp_path / "new").exists()  # a check writes nothing


def test_check_target_refuses_another_plan_unless_forced(tmp_path: Path) -> None:
    """Another plan's run is refused by default, naming the directory; --force passes."""
    RunStore.create(tmp_path, plan_yaml=PLAN).close()
    with pytest.raises(StoreError) as err:
        RunStore.check_target(tmp_path, plan_yaml=OTHER_PLAN)
    assert str(err.value) == (f"{tmp_path}: holds a run of another plan; use --force to"
                              " overwrite or choose another --out")
    RunStore.check_target(tmp_path, plan_yaml=OTHER_PLAN, force=True)


@pytest.mark.parametrize("damage", ["not a database", "empty run table"])
def test_check_target_refuses_a_file_that_is_no_run_of_this_plan(tmp_path: Path,
                                                                  damage: str) -> None:
    """A run.sqlite whose plan cannot be read is not taken for this plan's run."""
    if damage == "not a database":
        (tmp_path / DB_NAME).write_bytes(b"these bytes are no SQLite file" * 50)
    else:
        RunStore.create(tmp_path, plan_yaml=PLAN).close()
        conn = sqlite3.connect(tmp_path / DB_NAME)
        conn.execute("DELETE FROM run")
        conn.commit()
        conn.close()
    with pytest.raises(StoreError, match="holds a run of another plan"):
        RunStore.check_target(tmp_path, plan_yaml=PLAN)


def test_check_target_refuses_a_folder_it_cannot_write(tmp_path: Path) -> None:
    """The nearest existing folder of the target must be writable: else the command stops
    before any work, naming both (root may write anywhere but on a read-only mount)."""
    folder = unwritable_folder(tmp_path)
    if folder is None:
        pytest.skip("no folder here that this user cannot write")
    with pytest.raises(StoreError) as err:
        RunStore.check_target(folder / "run", plan_yaml=PLAN)
    assert str(err.value) == (f"{folder / 'run'}: cannot create the run directory ({folder} is"
                              " not writable); choose another --out")


def test_create_over_the_same_plan_points_to_resuming(tmp_path: Path) -> None:
    """create() refuses a run of the same plan, saying that open_or_create resumes it."""
    RunStore.create(tmp_path, plan_yaml=PLAN).close()
    with pytest.raises(StoreError) as err:
        RunStore.create(tmp_path, plan_yaml=PLAN)
    assert str(err.value) == (f"{tmp_path}: already holds a run of this plan (open_or_create"
                              " resumes it); use --force to overwrite or choose another --out")


def test_open_or_create_names_the_directory_of_another_plan(tmp_path: Path) -> None:
    """The refusal of another plan's run names the directory, first."""
    RunStore.create(tmp_path, plan_yaml=PLAN).close()
    with pytest.raises(StoreError, match=f"^{re.escape(str(tmp_path))}: holds a run of another"):
        RunStore.open_or_create(tmp_path, plan_yaml=OTHER_PLAN)


# ---- a new run's row ------------------------------------------------------------------


@pytest.mark.parametrize("force", [False, True])
def test_open_or_create_keeps_the_meta_of_a_new_run(tmp_path: Path, force: bool) -> None:
    """A new run (in an empty directory, or forced over an old one) records its meta."""
    if force:
        RunStore.create(tmp_path, plan_yaml=OTHER_PLAN).close()
    meta = {"run_id": "r9", "mode": "sandbox", "seed": "7", "note": "kept in extra"}
    with RunStore.open_or_create(tmp_path, plan_yaml=PLAN, meta=meta, force=force) as store:
        info = store.run_info()
    assert (info["run_id"], info["network_mode"], info["sandbox_seed"]) == ("r9", "sandbox", 7)
    assert info["extra"] == {"note": "kept in extra"}
    assert "id" not in info  # the row's fixed key is no part of the run


def test_finish_without_a_status_means_finished(tmp_path: Path) -> None:
    """finish() alone ends the run as `finished`, with an empty end reason."""
    with RunStore.create(tmp_path, plan_yaml=PLAN) as store:
        store.finish()
        info = store.run_info()
    assert info["status"] == "finished" and info["extra"] == {"end_reason": ""}


def test_finish_refuses_an_unknown_status(tmp_path: Path) -> None:
    """Only the run statuses the reports know may end a run; the message lists them."""
    with RunStore.create(tmp_path, plan_yaml=PLAN) as store:
        with pytest.raises(ValueError) as err:
            store.finish("done")
    assert str(err.value) == f"status must be one of {', '.join(RUN_STATUSES)}, not 'done'"


def test_a_finished_run_stays_finished_when_nobody_holds_it(tmp_path: Path) -> None:
    """Only a run still marked `running` reads as interrupted once its lock is free."""
    with run_lock(tmp_path), RunStore.create(tmp_path, plan_yaml=PLAN) as store:
        store.finish()
    with RunStore.open(tmp_path, read_only=True) as store:
        assert store.run_info()["status"] == "finished"


# ---- the run moved aside by --force ---------------------------------------------------


def test_the_old_run_is_moved_aside_under_a_utc_stamp(tmp_path: Path, far_time_zone) -> None:
    """`run.sqlite.replaced-<UTC time>-<4 hex>`: the same name on every machine's clock."""
    RunStore.create(tmp_path, plan_yaml=PLAN).close()
    before = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
    RunStore.create(tmp_path, plan_yaml=OTHER_PLAN, force=True).close()
    after = datetime.now(UTC).replace(tzinfo=None)
    names = [p.name for p in tmp_path.iterdir() if p.name.startswith(f"{DB_NAME}.replaced")]
    assert len(names) == 1 and (m := ASIDE.match(names[0])), names
    assert before <= datetime.strptime(m[1], "%Y%m%dT%H%M%S") <= after


def test_a_run_moved_aside_while_open_is_whole_in_its_file(tmp_path: Path) -> None:
    """Forcing over a run still open elsewhere folds its WAL into the file moved aside
    and takes its -wal/-shm along, so no stale WAL is left beside the new store."""
    old = RunStore.create(tmp_path, plan_yaml=PLAN, meta={"run_id": "r1"})
    old.emit(done("w1"))  # committed to the WAL, not yet to the file
    assert read_main_file_only(tmp_path / DB_NAME, "SELECT work_id FROM resolutions") == []
    new = RunStore.open_or_create(tmp_path, plan_yaml=OTHER_PLAN, force=True)
    aside = next(tmp_path.glob(f"{DB_NAME}.replaced-*[0-9a-f]"))
    assert read_main_file_only(aside, "SELECT work_id FROM resolutions") == [("w1",)]
    assert Path(f"{aside}-wal").exists() and Path(f"{aside}-shm").exists()
    assert new.done_work_ids() == set()
    new.close()
    old.close()


# ---- the user's columns of a work -----------------------------------------------------


def test_a_works_own_columns_are_kept_as_json(tmp_path: Path) -> None:
    """add_works keeps the user's record of each work as JSON (values JSON cannot hold,
    like dates, as text), and `{}` for a work read without columns."""
    works = [Work(work_id="a", doi="10.1/x", columns={"year": date(2020, 1, 2), "n": 3}),
             Work(work_id="b", doi="10.1/y")]
    with RunStore.create(tmp_path, plan_yaml=PLAN) as store:
        store.add_works(works)
        names, rows = store.table("works")
    kept = [dict(zip(names, row, strict=True))["columns"] for row in rows]
    assert kept == ['{"year": "2020-01-02", "n": 3}', "{}"]


def test_create_refuses_an_existing_folder_it_cannot_write(tmp_path: Path) -> None:
    """An existing run directory that is not writable is refused with one clear line,
    before SQLite is asked to write there."""
    folder = unwritable_folder(tmp_path)
    if folder is None:
        pytest.skip("no folder here that this user cannot write")
    with pytest.raises(StoreError) as err:
        RunStore.create(folder, plan_yaml=PLAN)
    assert str(err.value) == (f"{folder}: the run directory is not writable; choose another"
                              " --out")


def test_create_makes_the_run_directory_and_its_parents(tmp_path: Path) -> None:
    """--out may name folders that do not exist yet."""
    with RunStore.create(tmp_path / "runs" / "today", plan_yaml=PLAN) as store:
        assert store.path == tmp_path / "runs" / "today" / DB_NAME and store.path.is_file()


# ---- what the run row holds -----------------------------------------------------------


def test_a_new_run_records_its_meta_in_columns_and_the_rest_in_extra(tmp_path: Path) -> None:
    """The short and long names of the meta keys fill the run's columns (numbers as
    numbers, the works source as text); versions add to the kit's own; the rest is extra."""
    meta = {"run_id": "r1", "mode": "sandbox", "profile": "mixed", "seed": "7",
            "time_scale": "0.5", "works_source": Path("works.csv"),
            "versions": {"plan": "3"}, "note": {"k": "v"}}
    with RunStore.create(tmp_path, plan_yaml=PLAN, meta=meta) as store:
        info = store.run_info()
    started = info.pop("started_at")
    assert info == {
        "run_id": "r1", "plan_yaml": PLAN, "plan_hash": plan_hash(PLAN),
        "network_mode": "sandbox", "sandbox_profile": "mixed", "sandbox_seed": 7,
        "time_scale": 0.5, "versions": {**kit_versions(), "plan": "3"},
        "works_source": "works.csv", "ended_at": None, "status": "running",
        "extra": {"note": {"k": "v"}},
    }
    assert started.endswith("+00:00")  # UTC, whatever the machine's zone


def test_long_meta_names_fill_the_same_columns(tmp_path: Path) -> None:
    """`network_mode`, `sandbox_profile`, `sandbox_seed` are the short names' long forms;
    a run without them leaves the columns empty."""
    meta = {"network_mode": "live", "sandbox_profile": "slow", "sandbox_seed": 3}
    with RunStore.create(tmp_path / "a", plan_yaml=PLAN, meta=meta) as store:
        info = store.run_info()
    with RunStore.create(tmp_path / "b", plan_yaml=PLAN) as bare:
        empty = bare.run_info()
    assert (info["network_mode"], info["sandbox_profile"], info["sandbox_seed"]) == (
        "live", "slow", 3)
    assert [empty[k] for k in ("network_mode", "sandbox_profile", "sandbox_seed",
                               "time_scale", "works_source")] == [None] * 5
    assert empty["versions"] == kit_versions() and empty["extra"] == {}


def kit_versions() -> dict[str, str]:
    import platform
    from importlib.metadata import version

    return {"fallback_kit": version("fallback-kit"), "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version}


def test_a_run_without_an_id_gets_one_stamped_in_utc(tmp_path: Path, far_time_zone) -> None:
    """The run id made for a run is `<UTC time>Z-<6 hex>`: sortable on every machine."""
    before = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
    with RunStore.create(tmp_path, plan_yaml=PLAN) as store:
        run_id = store.run_id
    after = datetime.now(UTC).replace(tzinfo=None)
    m = re.fullmatch(r"(\d{8}T\d{6})Z-[0-9a-f]{6}", run_id)
    assert m, run_id
    assert before <= datetime.strptime(m[1], "%Y%m%dT%H%M%S") <= after


def test_plan_hash_is_the_sha256_of_the_plan_without_line_ending_noise() -> None:
    """Line endings (CRLF, CR) and trailing blanks do not count; indentation does."""
    import hashlib

    text = "tiers:\n  - name: fast\n    sources: [a]"
    assert plan_hash("tiers:  \r\n  - name: fast\r    sources: [a]\n\n") == (
        hashlib.sha256(text.encode()).hexdigest())
    assert plan_hash(text) != plan_hash(text.replace("  - name", "- name"))


def test_event_meta_is_stored_as_sorted_json(tmp_path: Path) -> None:
    """An attempt's and a resolution's meta are stored as JSON with sorted keys (the same
    meta is the same text), values JSON cannot hold as text; no meta is `{}`."""
    meta = {"b": Path("x.pdf"), "a": 1}
    with RunStore.create(tmp_path, plan_yaml=PLAN) as store:
        store.emit(Attempt(run_id="r1", work_id="w1", tier="t", source="s",
                           outcome=Outcome.NO_PDF, meta=meta))
        store.emit(Attempt(run_id="r1", work_id="w1", tier="t", source="s2",
                           outcome=Outcome.NO_PDF))
        store.emit(Resolution(run_id="r1", work_id="w1", status=ResolutionStatus.NOT_FOUND,
                              meta=meta))
        a_cols, attempts = store.table("attempts")
        r_cols, resolutions = store.table("resolutions")
    sorted_json = '{"a": 1, "b": "x.pdf"}'
    assert [row[a_cols.index("meta")] for row in attempts] == [sorted_json, "{}"]
    assert resolutions[0][r_cols.index("meta")] == sorted_json


def test_a_store_opened_in_one_thread_serves_another(tmp_path: Path) -> None:
    """A notebook runs its batch on a worker thread: a store (writable or read-only)
    opened elsewhere is written and read there."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        with RunStore.create(tmp_path, plan_yaml=PLAN) as store:
            pool.submit(store.emit, done("w1")).result()
        with RunStore.open(tmp_path, read_only=True) as reader:
            assert pool.submit(reader.done_work_ids).result() == {"w1"}


def test_a_run_directory_that_cannot_be_made_says_why(tmp_path: Path) -> None:
    """A --out under a file names the path and the system's reason, in one line."""
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    with pytest.raises(StoreError) as err:
        RunStore.create(blocker / "run", plan_yaml=PLAN)
    assert str(err.value) == (f"{blocker / 'run'}: cannot create the run directory"
                              " (Not a directory); choose another --out")


def test_a_database_without_the_run_tables_is_no_run_store(tmp_path: Path) -> None:
    """Another program's SQLite file named run.sqlite is refused, naming what it lacks."""
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.execute("CREATE TABLE run (id INTEGER PRIMARY KEY)")
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    with pytest.raises(StoreError, match=r"not a fallback_kit run store \(missing tables"
                                         r" attempts, resolutions"):
        RunStore.open(tmp_path)


@pytest.mark.parametrize(("free", "full"), [((1 << 20) - 1, True), (1 << 20, False)])
def test_a_failed_write_on_a_nearly_full_disk_says_the_disk_is_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, free: int, full: bool
) -> None:
    """SQLite often reports a full disk as a mere I/O error: with less than 1 MiB free
    in the store's folder, the error says the disk is full (errno ENOSPC); with 1 MiB
    free it is the store's plain I/O error (errno EIO)."""
    import errno
    import shutil
    from collections import namedtuple

    from fallback_kit.record import store as store_module

    usage = namedtuple("usage", "total used free")
    seen: list[Path] = []

    def disk_usage(where: Path) -> tuple[int, int, int]:
        seen.append(Path(where))
        return usage(10 << 30, 0, free)

    monkeypatch.setattr(shutil, "disk_usage", disk_usage)
    path = tmp_path / "run" / "run.sqlite"
    err = store_module._write_error(path, sqlite3.OperationalError("disk I/O error"))
    assert seen == [path.parent]
    if full:
        assert err.errno == errno.ENOSPC
        assert str(err) == (f"{path}: the disk is full (disk I/O error); every finished work"
                            " is kept: free some space and run again to resume")
    else:
        assert err.errno == errno.EIO
        assert str(err) == f"{path}: cannot write the run store (disk I/O error)"
    assert store_module._why(sqlite3.OperationalError("disk I/O error")) == "disk I/O error"


@pytest.mark.parametrize(("free", "code", "why"), [
    (0, "ENOSPC", "the disk is full (disk I/O error)"),
    (10 << 30, "EIO", "disk I/O error"),
])
def test_a_store_that_cannot_be_created_says_why_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, free: int, code: str, why: str
) -> None:
    """SQLite failing while the new store is built: one StoreWriteError naming the
    folder, errno ENOSPC when the folder's disk is (nearly) full, EIO otherwise."""
    import errno
    import shutil
    from collections import namedtuple

    from fallback_kit.record.store import StoreWriteError

    def connect(*args: object, **kwargs: object) -> sqlite3.Connection:
        raise sqlite3.OperationalError("disk I/O error")

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda where: usage(10 << 30, 0, free))
    monkeypatch.setattr(sqlite3, "connect", connect)
    with pytest.raises(StoreWriteError) as err:
        RunStore.create(tmp_path, plan_yaml=PLAN)
    assert err.value.errno == getattr(errno, code)
    assert str(err.value) == f"{tmp_path}: cannot create the run store: {why}"


@pytest.mark.parametrize("left", [("-wal",), ("-wal", "-shm")])
def test_a_new_store_that_cannot_be_opened_leaves_no_run_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, left: tuple[str, ...]
) -> None:
    """Built, but not opened (no room for its WAL): the store file and whatever WAL
    files the open left are removed (one missing is fine), and the open's StoreError
    is raised."""
    def fail_open(cls: type, directory: Path, **_: object) -> RunStore:
        for suffix in left:
            (Path(directory) / f"{DB_NAME}{suffix}").write_bytes(b"")
        raise StoreError(f"{directory}: no room for the WAL")

    monkeypatch.setattr(RunStore, "open", classmethod(fail_open))
    with pytest.raises(StoreError, match="no room for the WAL"):
        RunStore.create(tmp_path, plan_yaml=PLAN)
    assert sorted(p.name for p in tmp_path.iterdir() if DB_NAME in p.name) == []


def test_a_store_opens_from_its_folder_or_its_file_and_from_nothing_else(tmp_path: Path) -> None:
    """`open` takes the run folder or its run.sqlite; any other file is no run."""
    RunStore.create(tmp_path, plan_yaml=PLAN).close()
    with RunStore.open(tmp_path / DB_NAME, read_only=True) as store:
        assert store.dir == tmp_path
    notes = tmp_path / "notes.txt"
    notes.write_text("x")
    with pytest.raises(StoreError, match="no run here"):
        RunStore.open(notes, read_only=True)


def test_a_closed_store_says_so(tmp_path: Path) -> None:
    """Closing twice is fine; a write after closing is refused as such, and its repr
    says closed (it does not query a closed file)."""
    store = RunStore.create(tmp_path, plan_yaml=PLAN)
    store.close()
    store.close()
    with pytest.raises(StoreError, match="the store is closed"):
        store.emit(Resolution(run_id="r", work_id="w", status=ResolutionStatus.NOT_FOUND))
    assert repr(store) == f"RunStore({str(tmp_path)!r}, closed)"

