"""What an audit holds while it runs: the records read back and the keys that drifted.

An audit matches every row of a model with every record of its object. Held in Python
dictionaries, the records of a 1,000,000-record object took 868 MB; in a temporary SQLite
file behind its page cache the audit's memory stays flat in records, and a chunk of model
rows is matched with a few indexed look-ups. The keys ``--repair`` marks (every drifted
row, which after a tenant was emptied is every row) wait there too. The file lives in a
private temporary folder (mode 0700) that ``close`` removes, however the audit ends.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dbt_gainsight.errors import ReadBackError
from dbt_gainsight.sync.state import chunks

LOOKUP_CHUNK = 500  # values bound in one IN list (SQLite allows 32,766)
CACHE_KIB = 8192  # SQLite's page cache: the memory the records may take
PREFIX = "dbt-gainsight-audit-"
STALE_SECONDS = 3600  # a folder untouched this long whose audit is dead was left by a kill -9


class ReadBack:
    """Records by Gsid (their values in the sync's form) and Gsids by comparable key.

    A Gsid read twice keeps its last values; a key shared by several records (two companies
    of one name, a person's links under ``keys: [Email]``) lists their Gsids in read order.
    """

    def __init__(self) -> None:
        remove_stale(Path(tempfile.gettempdir()))  # first: a Ctrl-C in it leaves nothing of ours
        try:
            self._folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{_owner()}-"))
        except OSError as exc:
            raise _failure(exc, tempfile.gettempdir()) from exc
        try:  # from here on, however __init__ ends, a failure removes the folder
            with self._failures():
                # Python's default transaction handling: a write opens one and ``with
                # self._db`` commits it, so a page is one transaction (autocommit, one per
                # row, cost 10x the CPU).
                self._db = sqlite3.connect(self._folder / "records.sqlite")
                pragmas = ("journal_mode = off", "synchronous = off", f"cache_size = -{CACHE_KIB}")
                for pragma in pragmas:
                    self._db.execute(f"pragma {pragma}")
                self._db.execute(
                    "create table records (gsid text primary key, record_values text not null, "
                    "matched integer not null default 0) without rowid"
                )
                self._db.execute(
                    "create table record_keys (record_key text not null, gsid text not null, "
                    "unique (record_key, gsid))"
                )
                self._db.execute(
                    "create table drifted (kind text, key_hash text, "
                    "primary key (kind, key_hash)) without rowid"
                )
                self._db.execute("create table gone (key_hash text primary key) without rowid")
        except BaseException:
            if hasattr(self, "_db"):
                self._db.close()
            shutil.rmtree(self._folder, ignore_errors=True)
            raise

    def __enter__(self) -> ReadBack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove the file and its folder."""
        try:
            self._db.close()
        finally:
            shutil.rmtree(self._folder, ignore_errors=True)

    @contextmanager
    def _failures(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise _failure(exc, self._folder) from exc

    def add(self, page: Sequence[tuple[str, tuple | None, Sequence[Any]]]) -> None:
        """Store a page of records: (Gsid, comparable key or None, values)."""
        with self._failures(), self._db:  # one transaction a page
            self._db.executemany(
                "insert or replace into records (gsid, record_values) values (?, ?)",
                [(gsid, json.dumps(values)) for gsid, _, values in page],
            )
            self._db.executemany(
                "insert or ignore into record_keys values (?, ?)",
                [(json.dumps(key), gsid) for gsid, key, _ in page if key is not None],
            )

    def values_of(self, gsids: Iterable[str | None], *, unmatched: bool = False) -> dict:
        """Gsid -> values, for those of ``gsids`` Gainsight holds.

        ``unmatched``: only records no model row matched (``mark_matched``): orphans.
        """
        extra = " and matched = 0" if unmatched else ""
        sql = "select gsid, record_values from records where gsid in ({}) " + extra
        found = self._select(sql, {g for g in gsids if g is not None})
        return {gsid: json.loads(values) for gsid, values in found}

    def gsids_of(self, keys: Iterable[tuple]) -> dict[tuple, list[str]]:
        """Comparable key -> the Gsids of the records read with it, in read order."""
        texts = {json.dumps(key): key for key in keys}
        sql = "select record_key, gsid from record_keys where record_key in ({}) order by rowid"
        out: dict[tuple, list[str]] = {}
        for text, gsid in self._select(sql, texts):
            out.setdefault(texts[text], []).append(gsid)
        return out

    def mark_matched(self, gsids: Iterable[str]) -> None:
        """These records were matched by a model row: they are not orphans."""
        with self._failures(), self._db:
            self._db.executemany(
                "update records set matched = 1 where gsid = ?", [(g,) for g in gsids]
            )

    def note_drifted(self, found: Iterable[tuple[str, str]]) -> None:
        """(kind, key hash) of rows that drifted, for ``--repair``; each kept once."""
        with self._failures(), self._db:
            self._db.executemany("insert or ignore into drifted values (?, ?)", found)

    def drifted(self, kind: str) -> Iterator[str]:
        """The key hashes noted with ``kind``, in order."""
        with self._failures():  # read as consumed: a million keys stay on disk
            sql = "select key_hash from drifted where kind = ? order by key_hash"
            for (key_hash,) in self._db.execute(sql, [kind]):
                yield key_hash

    def unmatched(self) -> Iterator[tuple[str, list]]:
        """(Gsid, values) of every record no model row matched, in Gsid order."""
        sql = "select gsid, record_values from records where matched = 0 order by gsid"
        with self._failures():  # read as consumed
            for gsid, values in self._db.execute(sql):
                yield gsid, json.loads(values)

    def note_gone(self, key_hashes: Iterable[str]) -> None:
        """Key hashes of state rows whose rows left the model."""
        with self._failures(), self._db:
            rows = ((key_hash,) for key_hash in key_hashes)
            self._db.executemany("insert or ignore into gone values (?)", rows)

    def take_gone(self, key_hashes: Iterable[str]) -> set[str]:
        """Those of ``key_hashes`` noted gone, each given once: no longer noted afterwards."""
        found = {
            h
            for (h,) in self._select("select key_hash from gone where key_hash in ({})", key_hashes)
        }
        with self._failures(), self._db:
            self._db.executemany("delete from gone where key_hash = ?", [(h,) for h in found])
        return found

    def _select(self, sql: str, values: Iterable[str]) -> list[tuple]:
        with self._failures():
            return [
                row
                for chunk in chunks(values, LOOKUP_CHUNK)
                for row in self._db.execute(sql.format(", ".join("?" * len(chunk))), chunk)
            ]


def _owner() -> str:
    """Who owns a folder this process makes: ``<host>.<pid>``."""
    host = "".join(c if c.isalnum() else "_" for c in socket.gethostname())
    return f"{host}.{os.getpid()}"


def remove_stale(folder: Path, now: float | None = None) -> list[Path]:
    """Remove what audits killed on this host (``kill -9``, the OOM killer) left in ``folder``.

    ``close`` removes an audit's folder however the audit ends, unless its process is killed
    outright; then the folder (about 175 bytes a record read) would stay. One is removed when
    its process is gone from this host and nothing in it changed for STALE_SECONDS; folders
    of other hosts (a shared TMPDIR) and of running audits are left alone.
    """
    now = time.time() if now is None else now
    host = _owner().rsplit(".", 1)[0]
    removed = []
    for path in folder.glob(f"{PREFIX}{host}.*-*"):
        pid = path.name[len(PREFIX) + len(host) + 1 :].split("-", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        try:
            touched = max([path.stat().st_mtime] + [p.stat().st_mtime for p in path.iterdir()])
        except OSError:
            continue  # removed meanwhile, or not ours to read
        if now - touched > STALE_SECONDS:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def _failure(exc: BaseException, where: str | Path) -> ReadBackError:
    return ReadBackError(
        f"the audit could not keep what it read back in a temporary file in {where} ({exc}); "
        "free some space there or point TMPDIR at a folder with room (about 175 bytes a "
        "record), then run the audit again"
    )
