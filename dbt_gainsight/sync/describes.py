"""The describe cache: every schema a run needs, asked of Gainsight at most once.

Describes fetched within ``DESCRIBE_TTL`` are read back from the warehouse state (one query
per connection), so a steady-state run makes only data calls: a 1% change costs exactly its
writes. A field removed in Gainsight meanwhile shows up as rejects, and an entry expires
within a day; ``--full-refresh`` and ``validate --online`` always ask Gainsight again.
"""

from __future__ import annotations

from dataclasses import asdict
from types import MappingProxyType
from typing import Any, Protocol

from dbt_gainsight.config.model import SyncConfig
from dbt_gainsight.gainsight.objects import FieldSchema, ObjectSchema, PicklistOption
from dbt_gainsight.gainsight.objects import parse_describe as _parse_raw
from dbt_gainsight.sync.online import objects_to_describe
from dbt_gainsight.sync.state import StateStore

FORMAT = 2  # stored payloads are our own schema form; older ones are raw describe entries


class Describer(Protocol):
    """What the cache needs of a client."""

    def describe(self, object_name: str) -> ObjectSchema: ...  # noqa: D102


class DescribeCache:
    """Schemas by tenant and object: from memory, the state (when trusted), else Gainsight.

    ``connection`` arguments are the cache's key: callers pass the tenant (``tenant_of``),
    since two connection names may reach one tenant and one name may move to another.
    """

    def __init__(self, store: StateStore | None = None, *, fresh: bool = False) -> None:
        self.store = store
        self.fresh = fresh or store is None
        self._known: dict[str, dict[str, ObjectSchema]] = {}
        self._fetched: dict[str, dict[str, ObjectSchema]] = {}

    def describe(self, connection: str, client: Describer, object_name: str) -> ObjectSchema:
        """One object's schema for this connection (Gainsight is asked only on a miss)."""
        known = self._connection(connection)
        if object_name not in known:
            schema = client.describe(object_name)
            known[object_name] = schema
            self._fetched.setdefault(connection, {})[object_name] = schema
        return known[object_name]

    def peek(self, connection: str, object_name: str) -> ObjectSchema | None:
        """The schema when known without asking Gainsight (this run or the stored cache)."""
        return self._connection(connection).get(object_name)

    def describer(self, connection: str, client: Describer):
        """``describe`` bound to one connection, for online validation."""
        return lambda object_name: self.describe(connection, client, object_name)

    def schemas_for(
        self, config: SyncConfig, connection: str, client: Describer
    ) -> dict[str, ObjectSchema]:
        """Every schema the model's mapping needs, by object name."""
        return {n: self.describe(connection, client, n) for n in objects_to_describe(config)}

    def save(self) -> None:
        """Store what was fetched from Gainsight this run (nothing else is rewritten)."""
        if self.store is None:
            return
        for connection, schemas in self._fetched.items():
            self.store.save_describes(
                connection, {name: encode(schema) for name, schema in schemas.items()}
            )
        self._fetched.clear()

    def _connection(self, connection: str) -> dict[str, ObjectSchema]:
        if connection not in self._known:
            stored = {} if self.fresh else self.store.cached_describes(connection)
            known = {}
            for name, payload in stored.items():
                schema = decode(payload)
                if schema is not None:
                    known[name] = schema
            self._known[connection] = known
        return self._known[connection]


def encode(schema: ObjectSchema) -> dict[str, Any]:
    """A schema as JSON-ready data."""
    return {
        "format": FORMAT,
        "name": schema.name,
        "label": schema.label,
        "key_prefix": schema.key_prefix,
        "fields": [asdict(f) for f in schema.fields.values()],
    }


def decode(payload: dict[str, Any]) -> ObjectSchema | None:
    """The schema back from ``encode`` (or a raw describe entry); None when unreadable."""
    try:
        if payload.get("format") != FORMAT:
            return _parse_raw(payload)
        fields = {}
        for raw in payload["fields"]:
            picklist = tuple(PicklistOption(**p) for p in raw.get("picklist") or ())
            field = FieldSchema(**{**raw, "picklist": picklist})
            fields[field.name] = field
        return ObjectSchema(
            name=payload["name"],
            label=payload["label"],
            key_prefix=payload["key_prefix"],
            fields=MappingProxyType(fields),
        )
    except (KeyError, TypeError, ValueError):
        return None  # written by another version: ask Gainsight again
