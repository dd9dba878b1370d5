"""init's matching and YAML editing, without dbt: the emulator's describes, the sample's columns."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from dbt_gainsight.emulator.objects import builtin_objects, load_objects_file
from dbt_gainsight.errors import ConfigError
from dbt_gainsight.gainsight.objects import parse_describe
from dbt_gainsight.scaffold import Catalog, Column, propose
from dbt_gainsight.yaml_edit import render_block, snippet, write_block
from tests.conftest import SAMPLE_PROJECT

SCHEMA_YML = SAMPLE_PROJECT / "models" / "gainsight" / "schema.yml"
#: The sample models' columns as DuckDB reports them (order and types of the built tables).
SAMPLE_COLUMNS = {
    "gs_companies": [
        ("account_id", "INTEGER"),
        ("company_name", "VARCHAR"),
        ("arr", "DECIMAL(14,2)"),
        ("mrr", "DECIMAL(18,4)"),
        ("industry", "VARCHAR"),
        ("stage", "VARCHAR"),
        ("status", "VARCHAR"),
        ("renewal_date", "DATE"),
        ("contract_start_date", "DATE"),
        ("employees", "INTEGER"),
        ("active_users", "BIGINT"),
        ("csm_email", "VARCHAR"),
    ],
    "gs_relationships": [
        ("subscription_id", "INTEGER"),
        ("relationship_name", "VARCHAR"),
        ("arr", "DECIMAL"),
        ("renewal_date", "DATE"),
        ("status", "VARCHAR"),
        ("company_name", "VARCHAR"),
        ("relationship_type", "VARCHAR"),
        ("product_name", "VARCHAR"),
        ("seats", "INTEGER"),
    ],
    "gs_company_people": [
        ("contact_id", "INTEGER"),
        ("email", "VARCHAR"),
        ("first_name", "VARCHAR"),
        ("last_name", "VARCHAR"),
        ("company_name", "VARCHAR"),
        ("title", "VARCHAR"),
        ("role", "VARCHAR"),
        ("is_primary", "BOOLEAN"),
    ],
    "gs_relationship_people": [
        ("contact_id", "INTEGER"),
        ("subscription_id", "INTEGER"),
        ("email", "VARCHAR"),
        ("first_name", "VARCHAR"),
        ("last_name", "VARCHAR"),
        ("relationship_name", "VARCHAR"),
        ("title", "VARCHAR"),
    ],
    "gs_usage_summary": [
        ("usage_id", "VARCHAR"),
        ("company_name", "VARCHAR"),
        ("month", "DATE"),
        ("active_users", "INTEGER"),
        ("logins", "INTEGER"),
        ("feature_adoption", "DECIMAL(5,1)"),
        ("last_active_at", "TIMESTAMP"),
    ],
}
UNIQUE = {"account_id", "company_name", "subscription_id", "relationship_name", "usage_id"}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    objects = builtin_objects()
    load_objects_file(SAMPLE_PROJECT / "gainsight_objects.yml", objects)
    return Catalog(lambda n: parse_describe(objects[n].describe()), lambda n: objects[n].describe())


def _hand_written() -> dict[str, dict]:
    doc = yaml.safe_load(SCHEMA_YML.read_text())
    return {m["name"]: m["config"]["meta"]["gainsight"] for m in doc["models"]}


def _columns(model: str, **retype: str) -> list[Column]:
    return [
        Column(n, retype.get(n, t), n in UNIQUE and model != "gs_relationship_people")
        for n, t in SAMPLE_COLUMNS[model]
    ]


def test_init_proposes_the_hand_written_mapping_of_every_sample_model(catalog):
    """All five sample models, data and people objects: the same block as schema.yml, no doubt
    marked, and each column left out is one the hand-written block leaves out too."""
    for model, expected in _hand_written().items():
        proposal = propose(model, expected["object"], _columns(model), catalog)
        assert proposal.block() == expected, model
        assert proposal.mismatches == [] and proposal.missing_required == [], model
        mapped = set(expected["fields"]) | {
            c for lk in (expected.get("lookups") or {}).values() for c in lk["match"]
        }
        assert set(proposal.unmapped) == {n for n, _ in SAMPLE_COLUMNS[model]} - mapped, model


def test_type_mismatches_keys_and_required_fields_are_marked(catalog):
    cols = _columns("gs_companies", renewal_date="INTEGER", arr="DATE", csm_email="INTEGER")
    proposal = propose("gs_companies", "Company", cols, catalog, keys=["ExternalId"])
    assert sorted(proposal.mismatches) == ["arr", "csm_email", "renewal_date"]
    assert proposal.keys == ["ExternalId"] and proposal.notes  # not mapped from any column
    text = snippet(proposal, "models/x.yml")
    assert re.search(r"renewal_date: RenewalDate +# CHECK: column is INTEGER, field is DATE", text)
    assert "# CHECK: column is INTEGER, field is EMAIL" in text  # the lookup's match field
    assert "not mapped (no matching field): account_id" in text
    # Relationship requires its CompanyId and TypeId lookups: without the columns, say so.
    only = [Column("relationship_name", "VARCHAR", True), Column("arr", "DECIMAL")]
    proposal = propose("gs_relationships", "Relationship", only, catalog)
    assert proposal.missing_required == ["CompanyId", "TypeId"]
    assert proposal.keys == ["Name"]
    assert "Gainsight requires CompanyId, TypeId" in snippet(proposal, "x.yml")


ORIGINAL = """\
version: 2

# Our Gainsight models. Owner: CS data team.
models:
  - name: other
    description: "Not synced"   # keep this comment
    columns:
      - name: id
        description: >
          A folded
          description.

  - name: gs_usage_summary
    description: Usage.
    config:
      tags: [gainsight]
    columns:
      - name: usage_id   # the key
"""


def test_write_keeps_comments_and_formatting_and_refuses_to_overwrite(catalog, tmp_path: Path):
    proposal = propose(
        "gs_usage_summary", "Usage_Summary__gc", _columns("gs_usage_summary"), catalog
    )
    path = tmp_path / "schema.yml"
    path.write_text(ORIGINAL)
    write_block(path, proposal)
    text = path.read_text()
    lines = iter(text.splitlines())
    missing = [line for line in ORIGINAL.splitlines() if not any(line == got for got in lines)]
    assert missing == [], text  # every original line is still there, in order
    doc = yaml.safe_load(text)
    entry = doc["models"][1]
    assert entry["config"]["tags"] == ["gainsight"]
    assert entry["config"]["meta"]["gainsight"] == _hand_written()["gs_usage_summary"]
    with pytest.raises(ConfigError, match="already has a config.meta.gainsight block"):
        write_block(path, proposal)
    # A model without an entry gets one appended.
    proposal.model = "gs_new"
    write_block(path, proposal)
    assert yaml.safe_load(path.read_text())["models"][2]["name"] == "gs_new"
    assert render_block(proposal)["keys"] == ["Usage_Id__gc"]


def test_write_keeps_windows_line_ends_turns_a_flow_entry_to_block_and_refuses_a_non_list(
    catalog, tmp_path: Path
):
    """A CRLF file stays CRLF, its lines byte for byte (before: every line ending changed, so
    the diff was the whole file); an entry written in flow style (`- {name: x}`) becomes a
    block, as a nested block inside `{...}` is unreadable; `models:` that is not a list is a
    ConfigError naming the file (before: AttributeError)."""
    proposal = propose(
        "gs_usage_summary", "Usage_Summary__gc", _columns("gs_usage_summary"), catalog
    )
    path = tmp_path / "schema.yml"
    crlf = ORIGINAL.replace("\n", "\r\n")
    path.write_bytes(crlf.encode())
    write_block(path, proposal)
    written = path.read_bytes().decode()
    assert "\n" not in written.replace("\r\n", ""), repr(written)
    rest = iter(written.split("\r\n"))
    assert [line for line in ORIGINAL.splitlines() if line not in rest] == []
    assert yaml.safe_load(written)["models"][1]["config"]["meta"]["gainsight"]["object"] == (
        "Usage_Summary__gc"
    )

    path.write_text("version: 2\nmodels:\n  - {name: other}\n  - {name: gs_usage_summary}\n")
    write_block(path, proposal)
    written = path.read_text()
    assert "  - {name: other}\n" in written, written
    assert "  - name: gs_usage_summary\n    config:\n      meta:\n        gainsight:\n" in written
    assert yaml.safe_load(written)["models"][1]["config"]["meta"]["gainsight"]["keys"]

    path.write_text("version: 2\nmodels:\n  gs_usage_summary: {}\n")
    with pytest.raises(ConfigError, match=r"schema.yml: models: is not a list"):
        write_block(path, proposal)


SHARED_CONFIG = """\
version: 2
models:
  - name: other
    config: &shared
      tags: [gainsight]
  - name: gs_usage_summary
    config: *shared
"""
MERGED_META = """\
version: 2
models:
  - name: other
    config: &defaults
      meta: {owner: cs-data}
  - name: gs_usage_summary
    config:
      <<: *defaults
      tags: [gainsight]
"""
HEADER_AND_TEXT = """\
# Owned by the CS data team.
---
version: 2
models:
    -   name: gs_usage_summary
        description: |
            Usage. The query, for reference:
              sql:
               y: 1
"""


def test_write_refuses_shared_yaml_and_keeps_headers_and_block_text(catalog, tmp_path: Path):
    """Found by a review of `init --write`: an entry whose config is an anchor (`*shared`) or
    whose meta comes through a merge key got the block in the shared map, so every model
    using it gained the block (refused now, nothing written); a `---` and the comment above
    it were dropped; lines inside a block scalar (`sql:`) were read as the file's layout and
    the file was re-indented; a tab after a dash was a ruamel traceback."""
    proposal = propose(
        "gs_usage_summary", "Usage_Summary__gc", _columns("gs_usage_summary"), catalog
    )
    path = tmp_path / "schema.yml"
    for shared in (SHARED_CONFIG, MERGED_META):
        path.write_text(shared)
        with pytest.raises(ConfigError, match="YAML anchor or merge key"):
            write_block(path, proposal)
        assert path.read_text() == shared

    path.write_text(HEADER_AND_TEXT)
    write_block(path, proposal)
    written = path.read_text()
    rest = iter(written.splitlines())
    assert [line for line in HEADER_AND_TEXT.splitlines() if line not in rest] == [], written
    assert "        config:\n            meta:\n                gainsight:\n" in written, written
    block = yaml.safe_load(written)["models"][0]["config"]["meta"]["gainsight"]
    assert block["object"] == "Usage_Summary__gc"

    path.write_text("version: 2\nmodels:\n  -\tname: gs_usage_summary\n")
    with pytest.raises(ConfigError, match="schema.yml: not valid YAML"):
        write_block(path, proposal)


def test_keys_take_several_values_as_dbts_select_does():
    from dbt_gainsight.cli import spread_selectors

    argv = ["init", "gs_x", "--object", "Company", "--keys", "Name", "ExternalId", "--write"]
    assert spread_selectors(argv)[4:] == ["--keys", "Name", "--keys", "ExternalId", "--write"]
