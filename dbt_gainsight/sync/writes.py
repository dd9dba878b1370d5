"""What travels to Gainsight: a row on its way, the write calls, and our own reject codes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from dbt_gainsight.gainsight.client import GainsightClient, RecordResult
from dbt_gainsight.sync.records import RecordBuilder

# Reject codes of our own (Gainsight's are GSOBJ_*).
DUPLICATE_KEY = "DUPLICATE_KEY"
NULL_KEY = "NULL_KEY"
VALUE_CONVERSION = "VALUE_CONVERSION"
NOT_FOUND = "NOT_FOUND"
PARENT_NOT_FOUND = "PARENT_NOT_FOUND"


class Item:
    """One row on its way to Gainsight (slots: there is one per row in flight)."""

    __slots__ = ("key_hash", "row_hash", "record", "gsid", "row", "builder")

    def __init__(self, key_hash, row_hash, record, gsid, row, builder) -> None:
        self.key_hash: str = key_hash
        self.row_hash: str = row_hash
        self.record: dict[str, Any] = record
        self.gsid: str | None = gsid
        self.row: Sequence[Any] = row
        self.builder: RecordBuilder = builder

    @property
    def key(self) -> dict[str, Any]:
        """Key values for reports, built only when a record is rejected."""
        return self.builder.key_values(self.row)


@dataclass(frozen=True)
class Target:
    """Where a model's records go: the object, its keys and the lookups to resolve."""

    object: str
    keys: list[str]
    lookups: Any


class WriteKind(Enum):
    """The calls that write records; ``send`` makes one, with one result per record."""

    INSERT = "insert"
    UPDATE = "update"
    PEOPLE_BULK = "people_bulk"
    PERSON = "person"

    def send(
        self, client: GainsightClient, target: Target, records: list[dict[str, Any]]
    ) -> Sequence[RecordResult]:
        """Write ``records`` (a PERSON call takes exactly one) and return Gainsight's answers."""
        if self is WriteKind.INSERT:
            return client.insert(target.object, records, keys=target.keys, lookups=target.lookups)
        if self is WriteKind.UPDATE:
            return client.update(target.object, records, keys=target.keys, lookups=target.lookups)
        if self is WriteKind.PEOPLE_BULK:
            return client.put_people_bulk(records)
        (person,) = records
        return [client.put_person(person)]
