"""Round-trip YAML: render init's proposal with its comments, and insert it into a model's file.

ruamel.yaml keeps the file's comments, quoting, key order and indentation, so ``init --write``
changes only the lines of the new block.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import yaml as yaml_1_1  # PyYAML: how dbt reads the file back
from ruamel.yaml import YAML, YAMLError
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import SingleQuotedScalarString

from dbt_gainsight.errors import ConfigError
from dbt_gainsight.scaffold import Proposal


def _yaml(mapping: int = 2, sequence: int = 4, offset: int = 2) -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap the user's long descriptions
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


def _layout(text: str) -> tuple[int, int, int]:
    """The file's (mapping indent, sequence indent, dash offset), as ``YAML.indent`` takes them.

    Read from the first nested mapping and the first block sequence, so a file written with
    indentless sequences (``- name:`` under ``models:``) or four-space mappings is written
    back in its own layout. (ruamel's ``load_yaml_guess_indent`` gives only the sequence's.)
    """
    mapping = sequence = offset = None
    parent: int | None = None  # the indent of the last line that was a key alone
    scalar: int | None = None  # inside a block scalar (``|``, ``>``) opened at this indent
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if _MODELS.match(line)), 0)
    for line in lines[start:]:  # the models: section first: sources: may be laid out apart
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        column = len(line) - len(line.lstrip(" "))
        if scalar is not None:
            if column > scalar:
                continue  # text, not YAML structure
            scalar = None
        if _BLOCK_SCALAR.search(stripped):
            scalar, parent = column, None
            continue
        if parent is not None:
            if stripped.startswith("- ") and sequence is None:
                after = stripped[1:]
                offset = column - parent
                sequence = offset + 1 + len(after) - len(after.lstrip(" "))
            elif not stripped.startswith("-") and mapping is None and column > parent:
                mapping = column - parent
        if mapping is not None and sequence is not None:
            break
        content = stripped.lstrip("- ")
        key_alone = content.split(" #")[0].rstrip().endswith(":")
        parent = column + len(stripped) - len(content) if key_alone else None
    if sequence is None or sequence < offset + 2:
        mapping = mapping or 2
        sequence, offset = mapping + 2, 2
    elif mapping is None:  # an entry's own keys sit ``sequence - offset`` past its dash
        mapping = sequence - offset
    return mapping, sequence, offset


_MODELS = re.compile(r"^models:\s*(#.*)?$")
_BLOCK_SCALAR = re.compile(r":\s+[|>][-+0-9]*\s*(#.*)?$")


def _flow_seq(items: list[Any]) -> CommentedSeq:
    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq


def _flow_map(items: dict[str, Any]) -> CommentedMap:
    out = CommentedMap(items)
    out.fa.set_flow_style()
    return out


def _column(name: str) -> str:
    """The column name, quoted where dbt's YAML 1.1 loader would not read it back as itself.

    ruamel writes YAML 1.2, where ``on``, ``no`` and ``yes`` are plain strings; dbt reads them
    as booleans, so an unquoted ``on: On__gc`` would become ``true: On__gc``.
    """
    try:
        plain = yaml_1_1.safe_load(f"{name}: x")
    except yaml_1_1.YAMLError:
        plain = None
    if isinstance(plain, dict) and list(plain) == [name]:
        return name
    return SingleQuotedScalarString(name)


def render_block(proposal: Proposal) -> CommentedMap:
    """The ``gainsight`` mapping, each guess and each doubt as a comment beside its line."""
    block = CommentedMap()
    block["object"] = proposal.object
    object_notes = list(proposal.notes)
    if proposal.missing_required:
        object_notes.append(
            "Gainsight requires " + ", ".join(proposal.missing_required) + ": map a column to each"
        )
    if object_notes:
        block.yaml_add_eol_comment("; ".join(object_notes), "object")
    if proposal.connection:
        block["connection"] = proposal.connection
        block.yaml_add_eol_comment("the connection in gainsight.yml init described", "connection")
    block["behavior"] = "upsert"
    block.yaml_add_eol_comment("upsert | update_only", "behavior")
    if proposal.keys:
        block["keys"] = _flow_seq(list(proposal.keys))
        block.yaml_add_eol_comment(proposal.key_reason, "keys")
    fields = CommentedMap()
    for m in proposal.fields:
        column = _column(m.column)
        fields[column] = m.target
        note = f"CHECK: {m.mismatch}" if m.mismatch else ("" if m.reason == "by name" else m.reason)
        if note:
            fields.yaml_add_eol_comment(note, column)
    block["fields"] = fields
    if proposal.unmapped:
        block.yaml_add_eol_comment(
            "not mapped (no matching field): " + ", ".join(proposal.unmapped), "fields"
        )
    if proposal.lookups:
        lookups = CommentedMap()
        for lk in proposal.lookups:
            entry = CommentedMap()
            entry["object"] = lk.object
            entry["match"] = _flow_map({_column(lk.column): lk.match})
            lookups[lk.field] = entry
            note = f"CHECK: {lk.mismatch}" if lk.mismatch else lk.reason
            lookups.yaml_add_eol_comment(note, lk.field)
        block["lookups"] = lookups
    return block


def snippet(proposal: Proposal, where: str) -> str:
    """A ready-to-paste ``models:`` entry holding the proposed block."""
    doc = CommentedMap()
    entry = CommentedMap(name=proposal.model)
    entry["config"] = CommentedMap(meta=CommentedMap(gainsight=render_block(proposal)))
    doc["models"] = CommentedSeq([entry])
    out = io.StringIO()
    _yaml().dump(doc, out)
    header = (
        f"# {proposal.model} -> {proposal.object}: proposed by dbt-gainsight init from the\n"
        "# model's columns and Gainsight's describe. Review the comments, then put it under\n"
        f"# the model in {where} (or run again with --write).\n"
    )
    return header + out.getvalue()


def write_block(path: Path, proposal: Proposal, *, replace: bool = False) -> str:
    """Insert the block under the model's entry in ``path`` (appending the entry if missing).

    Returns what was done, for the user. An existing ``meta.gainsight`` is kept unless
    ``replace``: the user may have edited it.
    """
    crlf = False
    if path.exists():
        with path.open(encoding="utf-8", newline="") as f:
            text = f.read()
        crlf = "\r\n" in text  # written back as it came: a Windows team's diff is the block
        header, text = _document_start(text.replace("\r\n", "\n"))
        yaml = _yaml(*_layout(text))
        try:
            doc = yaml.load(text) or CommentedMap()
        except YAMLError as exc:
            problem = " ".join(str(exc).split())[:200]
            raise ConfigError(f"{path}: not valid YAML ({problem})") from None
    else:
        header, yaml, doc = "", _yaml(), CommentedMap()
    if not isinstance(doc, CommentedMap):
        raise ConfigError(f"{path}: expected a YAML mapping with a models: list")
    if "version" not in doc:
        doc.insert(0, "version", 2)
    models = doc.get("models")
    if models is None:
        models = doc["models"] = CommentedSeq()
    if not isinstance(models, CommentedSeq):
        raise ConfigError(f"{path}: models: is not a list of models")
    entry = next(
        (m for m in models if isinstance(m, CommentedMap) and m.get("name") == proposal.model),
        None,
    )
    action = "inserted into the entry of"
    if entry is None:
        entry = CommentedMap(name=proposal.model)
        models.append(entry)
        action = "added a new entry to"
    _refuse_shared(path, proposal.model, entry)
    meta = _meta_of(entry)
    for written in (models, entry, entry.get("config"), meta):
        if isinstance(written, (CommentedMap, CommentedSeq)):  # a block is unreadable in flow
            written.fa.set_block_style()
    if meta is entry.get("meta"):
        action += " (under its top-level meta:, as dbt refuses meta in both places)"
    if "gainsight" in meta and not replace:
        raise ConfigError(
            f"{path}: {proposal.model} already has a config.meta.gainsight block; "
            "pass --force to replace it (its comments are lost)"
        )
    meta["gainsight"] = render_block(proposal)
    out = io.StringIO()
    yaml.dump(doc, out)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = header + out.getvalue()
    path.write_text(written, encoding="utf-8", newline="\r\n" if crlf else "\n")
    return f"{action} {path}"


def _document_start(text: str) -> tuple[str, str]:
    """(the lines up to an explicit ``---``, the rest): ruamel drops both when dumping."""
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            if stripped == "---" or stripped.startswith("--- #"):
                return "".join(lines[: i + 1]), "".join(lines[i + 1 :])
            break
    return "", text


def _own(mapping: CommentedMap, key: str) -> bool:
    """Whether ``key`` is the mapping's own, not one a merge key (``<<: *x``) brings in."""
    return key in mapping and key in getattr(mapping, "_ok", mapping)


def _anchored(node: Any) -> bool:
    return getattr(getattr(node, "anchor", None), "value", None) is not None


def _refuse_shared(path: Path, model: str, entry: CommentedMap) -> None:
    """Refuse to write into YAML another entry shares (an anchor, or a merge key's map).

    Written there, the block would land in every model that uses the anchor.
    """
    shared = _anchored(entry)
    for keys in (("config", "meta"), ("meta",)):  # config.meta, or a top-level meta:
        node = entry
        for key in keys:
            if shared or not isinstance(node, CommentedMap) or key not in node:
                break
            shared = not _own(node, key) or _anchored(node[key])
            node = node[key]
    if shared:
        raise ConfigError(
            f"{path}: {model}'s entry shares its config through a YAML anchor or merge key "
            "(&name, *name, <<:); written there, the block would reach every model that uses "
            "it. Run init without --write and paste the block under the model by hand."
        )


def _meta_of(entry: CommentedMap) -> CommentedMap:
    """The mapping the block goes in: the entry's ``config.meta``, made if missing.

    An entry with a top-level ``meta:`` (dbt 1.11 still reads it) gets the block there, as
    dbt refuses a project with meta in both places.
    """
    config = entry.get("config")
    if not isinstance(config, CommentedMap) or "meta" not in config:
        if isinstance(entry.get("meta"), CommentedMap):
            return entry["meta"]
    if not isinstance(config, CommentedMap):
        config = CommentedMap()
        if "config" in entry:
            entry["config"] = config
        else:
            position = list(entry).index("description") + 1 if "description" in entry else 1
            entry.insert(position, "config", config)
    meta = config.get("meta")
    if not isinstance(meta, CommentedMap):
        meta = config["meta"] = CommentedMap()
    return meta


def yaml_files_beside(model_path: Path) -> list[Path]:
    """The YAML files in the model's folder that hold a ``models:`` list (schema.yml first)."""
    found = []
    for path in sorted(model_path.parent.glob("*.y*ml")):
        try:
            doc = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
        except Exception:  # noqa: BLE001 - an unreadable file is simply not a candidate
            continue
        if isinstance(doc, dict) and "models" in doc:
            found.append(path)
    found.sort(key=lambda p: p.name not in ("schema.yml", "schema.yaml"))
    return found
