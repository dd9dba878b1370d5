"""The dbt-native commands as a user meets them: `init`, `exposures` and `build` as subprocesses
against the sample project (real dbt, real DuckDB) and the emulator over HTTP.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from dbt_gainsight.config.model import parse_sync_config
from tests.conftest import SAMPLE_PROJECT, copy_project, run
from tests.e2e.support import (
    gainsight,
    gainsight_env,
    project_args,
    results_by_model,
)

SCHEMA_YML = "models/gainsight/schema.yml"


def _hand_written(project: Path) -> dict[str, dict]:
    doc = yaml.safe_load((project / SCHEMA_YML).read_text())
    return {m["name"]: m["config"]["meta"]["gainsight"] for m in doc["models"]}


def test_init_proposes_the_hand_written_mapping_and_write_keeps_the_file(sample):
    """From the built tables' columns and the emulator's describe, init proposes exactly the
    hand-written blocks of gs_companies (picklists, synonyms, a GsUser lookup by email) and
    gs_usage_summary (a custom object, __gc fields, a lookup); --write puts the block back
    into a schema.yml it was removed from, keeping every other line (comments included)."""
    project, gs, env = sample
    expected = _hand_written(project)
    outputs = {}
    for model, obj in (("gs_companies", "Company"), ("gs_usage_summary", "Usage_Summary__gc")):
        proc = outputs[model] = gainsight("init", project, env, model, "--object", obj)
        assert proc.returncode == 0, proc.stderr
        block = yaml.safe_load(proc.stdout)["models"][0]["config"]["meta"]["gainsight"]
        assert block == expected[model]
        assert "columns from the built relation" in proc.stderr
        assert "0 type mismatch(es)" in proc.stderr
    assert "# not mapped (no matching field): account_id" in outputs["gs_companies"].stdout

    # Remove gs_usage_summary's block (and its meta:) from the file, then --write it back.
    path = project / SCHEMA_YML
    original = path.read_text()
    block_re = (
        r"(  - name: gs_usage_summary\n.*?\n      tags: \[gainsight\]\n)"
        r"      meta:\n.*?(\n    columns:)"
    )
    stripped = re.sub(
        block_re,
        r"\1\2",
        original,
        count=1,
        flags=re.S,
    ).replace("\n\n    columns:", "\n    columns:")
    assert "object: Usage_Summary__gc" not in stripped and stripped.startswith(
        "version: 2\n\n# Models"
    )
    path.write_text(stripped)
    proc = gainsight(
        "init", project, env, "gs_usage_summary", "--object", "Usage_Summary__gc", "--write"
    )
    assert proc.returncode == 0, proc.stderr
    written = path.read_text()
    rest = iter(written.splitlines())
    assert [line for line in stripped.splitlines() if line not in rest] == []  # all kept, in order
    assert "# Models synced to Gainsight by" in written  # the file's header comment
    meta = _hand_written(project)["gs_usage_summary"]
    assert meta == expected["gs_usage_summary"]
    parse_sync_config(meta, model="gs_usage_summary", unique_id="x", yaml_path=SCHEMA_YML)
    # A bad object is a usage error (exit 2) before anything is parsed or asked.
    bad = gainsight("init", project, env, "gs_companies", "--object", "Compnay")
    assert bad.returncode == 2 and "unknown object 'Compnay'" in bad.stderr
    assert all(route.endswith("/describe") for route in gs.counters()["by_route"])  # reads only


def test_exposures_pass_dbt_parse_with_the_right_depends_on(sample):
    """`exposures --write` gives one application exposure per object, owner from gainsight.yml,
    the tenant URL and never the key; dbt parses it and lists each with its feeding model."""
    project, gs, env = sample
    settings = project / "gainsight.yml"
    settings.write_text(
        settings.read_text() + "exposure_owner: {name: CS Ops, email: csops@example.com}\n"
    )
    proc = gainsight("exposures", project, env, "--write", "models/gainsight_exposures.yml")
    assert proc.returncode == 0, proc.stderr
    text = (project / "models" / "gainsight_exposures.yml").read_text()
    assert gs.access_key not in text and "csops@example.com" in text
    listed = run(
        [
            "dbt",
            "ls",
            *project_args(project),
            "--resource-type",
            "exposure",
            "--output",
            "json",
            "--output-keys",
            "name",
            "depends_on",
            "url",
            "type",
            "--quiet",
        ],
        env=env,
        check=True,
    )
    found = {e["name"]: e for e in map(json.loads, listed.stdout.splitlines())}
    assert {n: e["depends_on"]["nodes"] for n, e in found.items()} == {
        "gainsight_company": ["model.acme_cs.gs_companies"],
        "gainsight_relationship": ["model.acme_cs.gs_relationships"],
        "gainsight_usage_summary": ["model.acme_cs.gs_usage_summary"],
        "gainsight_company_person": ["model.acme_cs.gs_company_people"],
        "gainsight_relationship_person": ["model.acme_cs.gs_relationship_people"],
    }
    assert {e["url"] for e in found.values()} == {gs.url}
    assert {e["type"] for e in found.values()} == {"application"}
    doc = yaml.safe_load(text)["exposures"][0]
    assert doc["owner"] == {"name": "CS Ops", "email": "csops@example.com"}
    assert (
        "upsert, keys [Name]" in doc["description"] and "csm_email -> Email" in doc["description"]
    )


def test_build_syncs_only_what_built_and_exits_with_dbts_failure(
    tmp_path, gainsight_emulator_factory
):
    """A fresh project with gs_relationships broken: `build -s +gs_companies +gs_relationships`
    shows dbt's log, then syncs gs_companies only (not the failed model, not the unselected
    gs_usage_summary), and exits 1 for dbt's error. A second build of one model exits 0 and
    syncs just that model."""
    project = copy_project(SAMPLE_PROJECT, tmp_path / "sample")
    gs = gainsight_emulator_factory(objects_file=str(project / "gainsight_objects.yml"))
    env = {"DBT_DUCKDB_PATH": str(project / "target" / "acme.duckdb"), **gainsight_env(gs)}
    sql = project / "models" / "gainsight" / "gs_relationships.sql"
    sql.write_text("select * from no_such_table union all\n" + sql.read_text())

    proc = gainsight(
        "build", project, env, "-s", "+gs_companies", "+gs_relationships", "--threads", "2"
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "gs_relationships: not synced: dbt build ended 'error'" in proc.stderr
    out = proc.stdout
    assert "Running with dbt=" in out and out.index("Done. PASS=") < out.index("Gainsight sync")
    assert set(results_by_model(project)) == {"gs_companies"}
    assert results_by_model(project)["gs_companies"]["accepted"] == 210
    assert len(gs.records("Company")) == 210
    assert gs.records("Relationship") == [] and gs.records("Usage_Summary__gc") == []

    proc = gainsight("build", project, env, "-s", "gs_usage_summary")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert set(results_by_model(project)) == {"gs_usage_summary"}
    assert len(gs.records("Usage_Summary__gc")) == 210
    assert gs.records("Relationship") == []
