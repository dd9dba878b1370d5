"""The JSON Schemas the package ships for editors and CI.

``config/schema.json`` is the schema of one ``meta.gainsight`` block (what ``dbt-gainsight
schema`` prints). ``config/properties.schema.json`` wraps it for a whole dbt properties file
(``models: [{config: {meta: {gainsight: ...}}}]``) so yaml-language-server can check the block
in place; it is generated from the first (``properties_schema``) and a test keeps them equal.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from dbt_gainsight.config.model import load_schema

PROPERTIES_FILE = "properties.schema.json"


def shipped_path(properties: bool = False) -> Path:
    """Where the installed package keeps a schema file (for a modeline or editor settings)."""
    name = PROPERTIES_FILE if properties else "schema.json"
    return Path(str(resources.files("dbt_gainsight.config").joinpath(name)))


def properties_schema() -> dict[str, Any]:
    """A self-contained schema for dbt properties YAML that checks every meta.gainsight block."""
    block = {k: v for k, v in load_schema().items() if k not in ("$schema", "$id")}
    meta = {
        "type": ["object", "null"],
        "properties": {"gainsight": {"$ref": "#/$defs/gainsight"}},
    }
    model = {
        "type": "object",
        "properties": {
            "config": {"type": ["object", "null"], "properties": {"meta": meta}},
            "meta": meta,  # dbt moves a top-level meta under config
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "dbt properties file with config.meta.gainsight blocks (dbt-gainsight)",
        "type": "object",
        "properties": {"models": {"type": ["array", "null"], "items": model}},
        "$defs": {"gainsight": block},
    }


def render(schema: dict[str, Any]) -> str:
    """The JSON text the package ships and the CLI prints."""
    return json.dumps(schema, indent=2) + "\n"
