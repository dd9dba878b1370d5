"""Which keys already exist, read whole when that takes fewer calls than IN-list queries.

A first sync of N new rows asks Gainsight which keys exist in ceil(N / 1,000) IN-list
queries (500 for an Email key), each made on the main thread while the send pipeline waits.
When the object holds fewer records than those queries could cover, reading its keys page
by page (5,000 a call) answers every one of them in fewer calls: a first sync into an empty
or small object needs one. The read gives up, and the IN-list queries take over, once it has
cost as many calls as they would, so at worst the check costs twice what it did.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from dbt_gainsight.gainsight.limits import CASE_INSENSITIVE_TYPES, MAX_IN_VALUES, MAX_PAGE
from dbt_gainsight.gainsight.query import key_text

MAX_RECORDS = 250_000  # keys held in memory at most (about 30 MB)


class KeyIndex:
    """Every key of one object, normalised the way the existence check compares them."""

    def __init__(self, fields: Sequence[str], types: Sequence[str | None]):
        self.fields = tuple(fields)
        self.types = tuple(types)
        self.gsids: dict[tuple, str] = {}
        self.calls = 0

    def find(self, key_values: Sequence[tuple[Any, ...]]) -> dict[tuple[Any, ...], str]:
        """The same answer as ``client.find_gsids`` for these tuples, without a call."""
        if not self.gsids:  # an empty object (a first sync): nothing to normalise or look up
            return {}
        found = {}
        for t in key_values:
            gsid = self.gsids.get(tuple(map(key_text, t, self.types)))
            if gsid:
                found[t] = gsid
        return found


def load_key_index(
    client,
    object_name: str,
    key_fields: Sequence[str],
    field_types: Mapping[str, str] | None,
    fresh_rows: int,
) -> KeyIndex | None:
    """Read the object's keys when it takes fewer calls than the IN lists; else None."""
    types = [(field_types or {}).get(name) for name in key_fields]
    folded = any(t is not None and t.upper() in CASE_INSENSITIVE_TYPES for t in types)
    step = MAX_IN_VALUES // 2 if folded else MAX_IN_VALUES
    in_calls = math.ceil(fresh_rows / step)
    max_pages = min(in_calls - 1, MAX_RECORDS // MAX_PAGE)
    if max_pages < 1:
        return None
    index = KeyIndex(key_fields, types)
    rows = client.query(object_name, ["Gsid", *key_fields], order_by={"Gsid": "asc"})
    read = 0
    for row in rows:
        read += 1
        if read > max_pages * MAX_PAGE:  # one more page would pass the IN lists' cost
            rows.close()
            return None
        gsid = row.get("Gsid")
        key = tuple(key_text(row.get(f), t) for f, t in zip(key_fields, types, strict=True))
        if gsid and None not in key:
            index.gsids.setdefault(key, str(gsid))
    return index


class ExistenceCheck:
    """The engine's existence check: one read of the keys when cheaper, else IN lists."""

    def __init__(self, client, object_name: str, key_fields: Sequence[str], fresh_rows: int):
        self.client = client
        self.object = object_name
        self.keys = list(key_fields)
        self.fresh_rows = fresh_rows
        self.index: KeyIndex | None | bool = False  # False: not decided yet

    def none_exist(self) -> bool:
        """The object held no key when its keys were read: every fresh row is an insert.

        Known only after the first ``find``; a first sync then skips building key tuples.
        """
        return isinstance(self.index, KeyIndex) and not self.index.gsids

    def find(self, key_values, field_types) -> dict[tuple[Any, ...], str]:
        """Which of these key tuples exist in Gainsight, and their Gsids."""
        if self.index is False:
            self.index = None  # a failed read falls back to the IN lists
            self.index = load_key_index(
                self.client, self.object, self.keys, field_types, self.fresh_rows
            )
        if self.index is not None:
            return self.index.find(key_values)
        return self.client.find_gsids(self.object, self.keys, key_values, field_types)
