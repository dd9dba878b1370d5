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
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from dbt_gainsight.sync.state import chunks

LOOKUP_CHUNK = 500  # values bound in one IN list (SQLite allows 32,766)
CACHE_KIB = 8192  # SQLite's page cache: the memory the records may take


class ReadBack:
    """Records by Gsid (their values in the sync's form) and Gsids by comparable key.

    ``add`` keeps what dictionaries did: a Gsid read twice keeps its last values, a key
    shared by two records keeps the first Gsid read.
    """

    def __init__(self) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="dbt-gainsight-audit-"))
        # Python's default transaction handling: a write opens one and ``with self._db``
        # commits it, so a page is one transaction (per-row autocommit cost 10x the CPU).
        self._db = sqlite3.connect(self._folder / "records.sqlite")
        for pragma in ("journal_mode = off", "synchronous = off", f"cache_size = -{CACHE_KIB}"):
            self._db.execute(f"pragma {pragma}")
        self._db.execute(
            "create table records (gsid text primary key, record_values text not null, "
            "matched integer not null default 0) without rowid"
        )
        self._db.execute(
            "create table record_keys (record_key text primary key, gsid text not null) "
            "without rowid"
        )
        self._db.execute(
            "create table drifted (kind text, key_hash text, primary key (kind, key_hash)) "
            "without rowid"
        )

    def __enter__(self) -> ReadBack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove the file and its folder."""
        self._db.close()
        shutil.rmtree(self._folder, ignore_errors=True)

    def add(self, page: Sequence[tuple[str, tuple | None, Sequence[Any]]]) -> None:
        """Store a page of records: (Gsid, comparable key or None, values)."""
        with self._db:  # one transaction a page
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
        return {
            gsid: json.loads(values)
            for gsid, values in self._select(
                "select gsid, record_values from records where gsid in ({}) " + extra,
                {g for g in gsids if g is not None},
            )
        }

    def gsids_of(self, keys: Iterable[tuple]) -> dict[tuple, str]:
        """Comparable key -> the Gsid of the first record read with it."""
        texts = {json.dumps(key): key for key in keys}
        return {
            texts[text]: gsid
            for text, gsid in self._select(
                "select record_key, gsid from record_keys where record_key in ({})", texts
            )
        }

    def mark_matched(self, gsids: Iterable[str]) -> None:
        """These records were matched by a model row: they are not orphans."""
        with self._db:
            self._db.executemany(
                "update records set matched = 1 where gsid = ?", [(g,) for g in gsids]
            )

    def note_drifted(self, found: Iterable[tuple[str, str]]) -> None:
        """(kind, key hash) of rows that drifted, for ``--repair``; each kept once."""
        with self._db:
            self._db.executemany("insert or ignore into drifted values (?, ?)", found)

    def drifted(self, kind: str) -> Iterator[str]:
        """The key hashes noted with ``kind``, in order."""
        sql = "select key_hash from drifted where kind = ? order by key_hash"
        return (key_hash for (key_hash,) in self._db.execute(sql, [kind]))

    def _select(self, sql: str, values: Iterable[str]) -> Iterator[tuple]:
        for chunk in chunks(values, LOOKUP_CHUNK):
            yield from self._db.execute(sql.format(", ".join("?" * len(chunk))), chunk)
