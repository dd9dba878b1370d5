"""The sync config: ``meta.gainsight`` blocks (model.py) and Gainsight connections."""

from __future__ import annotations

from dbt_gainsight.config.connections import (
    Connection,
    GainsightSettings,
    Secret,
    load_settings,
)
from dbt_gainsight.config.model import (
    FieldMapping,
    Lookup,
    ObjectKind,
    SyncConfig,
    check_columns,
    load_schema,
    parse_sync_config,
)

__all__ = [
    "Connection",
    "GainsightSettings",
    "Secret",
    "load_settings",
    "FieldMapping",
    "Lookup",
    "ObjectKind",
    "SyncConfig",
    "check_columns",
    "load_schema",
    "parse_sync_config",
]
