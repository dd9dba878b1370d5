"""`dbt-gainsight init`: read a model's columns and an object's describe, propose its block.

Columns come from the built relation through dbt's adapter (with their types), else from the
model's YAML (declared columns, typed when ``data_type`` is set). Describes come from
Gainsight through the same client the sync uses.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dbt_gainsight.config.connections import DEFAULT_CONNECTION, load_settings
from dbt_gainsight.errors import (
    AuthError,
    ConfigError,
    ConnectionFailed,
    GainsightAPIError,
    ModelNotBuiltError,
    ProjectError,
    RetryableError,
)
from dbt_gainsight.gainsight import client_for
from dbt_gainsight.project import DbtArgs, DbtProject
from dbt_gainsight.scaffold import Catalog, Column, Proposal, propose


@dataclass
class InitResult:
    """What init proposed and where the columns came from; ``written`` says what --write did."""

    proposal: Proposal
    yaml_path: str
    columns_from: str
    snippet: str
    written: str | None = None


def find_model(project: DbtProject, name: str):
    """The model node called ``name`` (or with that unique id); ProjectError with a hint."""
    models = [n for n in project.manifest.nodes.values() if n.resource_type == "model"]
    for node in models:
        if name in (node.name, node.unique_id):
            return node
    import difflib

    close = difflib.get_close_matches(name, [n.name for n in models], n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ProjectError(f"No model {name!r} in the project{hint}")


def unique_columns(manifest, unique_id: str) -> set[str]:
    """Columns of the model that carry dbt's ``unique`` test (good key candidates)."""
    out = set()
    for node in manifest.nodes.values():
        meta = getattr(node, "test_metadata", None)
        if node.resource_type != "test" or meta is None or meta.name != "unique":
            continue
        if getattr(node, "attached_node", None) == unique_id and node.column_name:
            out.add(node.column_name.casefold())
    return out


def model_columns(args: DbtArgs, project: DbtProject, node) -> tuple[list[Column], str]:
    """(columns, where from): the built relation's, else the YAML's declared columns."""
    from dbt_gainsight.warehouse import Warehouse

    unique = unique_columns(project.manifest, node.unique_id)
    try:
        wh = Warehouse(args, project.manifest)
        try:
            with wh.connection("gainsight-init"):
                pairs = wh.column_types(wh.model_relation(node))
        finally:
            wh.close()
        columns = [Column(n, t, n.casefold() in unique) for n, t in pairs]
        return columns, f"the built relation {node.relation_name}"
    except ModelNotBuiltError:  # a wrong target or profile is its own error, not this
        declared = node.columns or {}
        if not declared:
            raise ProjectError(
                f"{node.name} is not built and its YAML declares no columns: "
                f"run `dbt build -s {node.name}` (or list its columns in the YAML) first"
            ) from None
        columns = [
            Column(c.name, c.data_type or None, c.name.casefold() in unique)
            for c in declared.values()
        ]
        return columns, "the columns declared in the model's YAML (it is not built)"


def init(
    model: str,
    object_name: str,
    *,
    keys: Sequence[str] = (),
    connection: str | None = None,
    write: bool = False,
    force: bool = False,
    project_dir: str | os.PathLike | None = None,
    profiles_dir: str | os.PathLike | None = None,
    target: str | None = None,
    vars: str | dict | None = None,
) -> InitResult:
    """Propose ``meta.gainsight`` for one model; with ``write``, put it in the model's YAML."""
    from dbt_gainsight.config.model import normalise_object
    from dbt_gainsight.yaml_edit import snippet, write_block, yaml_files_beside

    if normalise_object(object_name) is None:
        raise ConfigError(
            f"--object: unknown object {object_name!r} (Company, Relationship, Person, "
            "CompanyPerson, RelationshipPerson, or a custom object <Name>__gc)"
        )
    args = DbtArgs.from_options(project_dir, profiles_dir, target, None, vars)
    project = DbtProject(args)
    node = find_model(project, model)
    settings = load_settings(args.project_dir, args.profiles_dir)
    conn = settings.connection(connection)
    columns, columns_from = model_columns(args, project, node)
    client = client_for(conn)
    try:
        catalog = Catalog(client.describe, lambda name: client.describe_entries.get(name, {}))
        proposal = propose(node.name, object_name, columns, catalog, keys)
        if conn.name != DEFAULT_CONNECTION:  # the block syncs to the tenant it was built from
            proposal.connection = conn.name
    except (AuthError, ConnectionFailed, RetryableError):
        raise
    except GainsightAPIError as exc:
        raise ConfigError(f"--object {object_name}: {exc}") from None
    finally:
        client.close()
    patch = getattr(node, "patch_path", None)
    if patch:
        path = args.project_dir / patch.split("://", 1)[-1]
    else:
        beside = yaml_files_beside(args.project_dir / node.original_file_path)
        path = (
            beside[0]
            if beside
            else (args.project_dir / node.original_file_path).with_name("schema.yml")
        )
    shown = os.path.relpath(path, args.project_dir)
    where = shown if patch else f"{shown} (as a new entry)"
    result = InitResult(proposal, shown, columns_from, snippet(proposal, where))
    if write:
        result.written = write_block(Path(path), proposal, replace=force)
    return result
