"""Optional sqlite copy of the store so records survive a restart (--state-file).

Rows are written through as JSON (by field name, so a changed objects file still loads) and
committed once per API call; WAL and synchronous=OFF keep that to a fraction of a millisecond.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any


class Persistence:
    """The sqlite file behind a Store. Callers serialise access (the store lock)."""

    def __init__(self, path: str):
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=OFF")
        self.conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS records (object TEXT, seq INTEGER, data TEXT,"
            " PRIMARY KEY (object, seq)) WITHOUT ROWID"
        )
        self._upserts: list[tuple[str, int, str]] = []
        self._deletes: list[tuple[str, int]] = []

    def has_data(self) -> bool:
        """Whether the file already holds a store (then it is loaded, not seeded)."""
        row = self.conn.execute("SELECT 1 FROM meta WHERE key LIKE 'salt:%' LIMIT 1").fetchone()
        return row is not None

    def salts(self) -> dict[str, str]:
        """Each object's Gsid salt."""
        rows = self.conn.execute("SELECT key, value FROM meta WHERE key LIKE 'salt:%'")
        return {k[5:]: v for k, v in rows}

    def set_salt(self, name: str, salt: str) -> None:
        """Record a new object's salt."""
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (f"salt:{name}", salt))

    def reset(self, salts: dict[str, str]) -> None:
        """Drop every record and start over with new salts."""
        self._upserts.clear()
        self._deletes.clear()
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.execute("DELETE FROM records")
            self.conn.execute("DELETE FROM meta")
            self.conn.executemany(
                "INSERT INTO meta VALUES (?, ?)", [(f"salt:{k}", v) for k, v in salts.items()]
            )

    def load_rows(
        self, names: list[str]
    ) -> Iterator[tuple[str, int, Iterator[tuple[int, dict[str, Any]]]]]:
        """Per object: its next row number and its stored rows."""
        nexts = dict(self.conn.execute("SELECT key, value FROM meta WHERE key LIKE 'next:%'"))
        for name in names:
            next_seq = int(nexts.get(f"next:{name}", 0))
            cur = self.conn.execute(
                "SELECT seq, data FROM records WHERE object = ? ORDER BY seq", (name,)
            )
            yield name, next_seq, ((seq, json.loads(data)) for seq, data in cur)

    def upsert(self, name: str, seq: int, data: dict[str, Any]) -> None:
        """Queue one record's current values."""
        self._upserts.append((name, seq, json.dumps(data, separators=(",", ":"))))

    def delete(self, name: str, seq: int) -> None:
        """Queue one record's deletion."""
        self._deletes.append((name, seq))

    def commit(self, next_seqs: dict[str, int]) -> None:
        """Write everything queued in one transaction."""
        if not self._upserts and not self._deletes:
            return
        conn = self.conn
        conn.execute("BEGIN")
        try:
            if self._upserts:
                conn.executemany("INSERT OR REPLACE INTO records VALUES (?, ?, ?)", self._upserts)
            if self._deletes:
                conn.executemany("DELETE FROM records WHERE object = ? AND seq = ?", self._deletes)
            touched = {u[0] for u in self._upserts}
            conn.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [(f"next:{n}", str(next_seqs[n])) for n in touched],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            self._upserts.clear()
            self._deletes.clear()

    def close(self) -> None:
        """Close the file."""
        self.conn.close()
