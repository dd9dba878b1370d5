"""The `dbt-gainsight` command line as a user meets it: a subprocess against the sample project
(real dbt, real DuckDB) and the emulator over HTTP.

Exit codes: 0 all accepted, 1 something rejected or a model failed, 2 config error (and then
nothing was sent).
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from jsonschema.validators import validator_for

from tests.conftest import SAMPLE_PROJECT
from tests.e2e.support import (
    duckdb_execute,
    gainsight,
    gainsight_env,
    results_by_model,
    run_results,
)

SCHEMA_YML = "models/gainsight/schema.yml"
GS_MODELS = {
    "gs_companies",
    "gs_relationships",
    "gs_usage_summary",
    "gs_company_people",
    "gs_relationship_people",
}
COUNTS = ("rows", "new", "changed", "unchanged", "retry", "duplicates", "null_keys")


def _edit_meta(project: Path, model: str, edit) -> None:
    """Change one model's meta.gainsight in the project's schema.yml."""
    path = project / SCHEMA_YML
    doc = yaml.safe_load(path.read_text())
    [node] = [m for m in doc["models"] if m["name"] == model]
    edit(node["config"]["meta"]["gainsight"])
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _counts(result: dict[str, Any]) -> dict[str, int]:
    return {k: result[k] for k in COUNTS}


# --- config errors: exit 2, nothing sent ------------------------------------------------


def _misspell_behavior(meta: dict) -> None:
    meta["behavior"] = "upsrt"


def _unknown_key(meta: dict) -> None:
    meta["batchsize"] = 10


def _missing_column(meta: dict) -> None:
    meta["fields"]["external_ref"] = "ExternalId"


@pytest.mark.parametrize(
    ("edit", "key_path", "detail"),
    [
        (_misspell_behavior, "meta.gainsight.behavior", "'upsrt'"),
        (_unknown_key, "meta.gainsight.batchsize", "unknown key"),
        (_missing_column, "meta.gainsight.fields.external_ref", "external_ref"),
    ],
    ids=["behavior-upsrt", "unknown-key", "missing-column"],
)
def test_bad_config_exits_2_naming_file_model_and_key(sample, edit, key_path, detail):
    project, gs, env = sample
    _edit_meta(project, "gs_companies", edit)

    proc = gainsight("sync", project, env, label=f"sync with a bad config ({key_path})")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if key_path in line]
    assert lines, f"no line names {key_path}:\n{proc.stderr}"
    line = next((x for x in lines if detail in x), None)
    assert line is not None, f"no line names {key_path} and {detail}:\n{proc.stderr}"
    assert SCHEMA_YML in line and "gs_companies" in line, line
    assert gs.counters()["calls"] == 0
    assert gs.records("Company") == []


# --- check ------------------------------------------------------------------------------


def test_check_with_a_wrong_key_fails_without_printing_it(gainsight_emulator_factory, tmp_path):
    from tests.conftest import copy_project

    project = copy_project(SAMPLE_PROJECT, tmp_path / "sample")
    good_key = "right-key-7f3a9c2e51"
    gs = gainsight_emulator_factory(access_key=good_key)
    wrong_key = "wrong-key-d41d8cd98f00b204"

    bad = gainsight("check", project, gainsight_env(gs, GAINSIGHT_ACCESS_KEY=wrong_key))
    assert bad.returncode != 0
    output = bad.stdout + bad.stderr
    assert "Traceback" not in output
    assert wrong_key not in output and good_key not in output
    assert "access key" in output.lower() or "unauthorized" in output.lower(), output
    assert "GAINSIGHT_ACCESS_KEY" in output or "401" in output, output

    good = gainsight("check", project, gainsight_env(gs))
    assert good.returncode == 0, good.stdout + good.stderr
    assert "access key accepted" in good.stdout
    assert gs.url in good.stdout
    assert good_key not in good.stdout + good.stderr
    assert gs.counters()["by_status"].get("401", 0) >= 1
    assert gs.counters()["by_status"].get("200", 0) >= 1


def test_an_unreachable_tenant_is_one_error_at_once_not_a_config_problem_a_key(sample):
    """A closed port: exit 1, one line that says so, no retries and no "config problem" per
    YAML key; before, every object's describe retried for 2.5 minutes and each failure was
    listed as a problem of the model's `meta.gainsight.object` (a new-user walkthrough)."""
    project, gs, env = sample
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    try:
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        proc = gainsight("sync", project, {**env, "GAINSIGHT_URL": url}, label="unreachable")
    finally:
        closed.close()
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [
        f"Error: cannot reach {url}: [Errno 111] Connection refused; check GAINSIGHT_URL "
        "(Gainsight has not answered yet in this run, so this is not retried)"
    ], output
    assert "Config error" not in output and "attempt 2" not in output
    assert gs.counters()["calls"] == 0


# --- schema and validate ----------------------------------------------------------------


def test_schema_prints_the_json_schema_of_meta_gainsight():
    proc = gainsight("schema", None, {}, label="schema")
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    validator_for(schema).check_schema(schema)
    assert schema["$schema"].startswith("https://json-schema.org/draft/2020-12/")
    validator = Draft202012Validator(schema)

    doc = yaml.safe_load((SAMPLE_PROJECT / SCHEMA_YML).read_text())
    metas = {m["name"]: m["config"]["meta"]["gainsight"] for m in doc["models"]}
    assert set(metas) == GS_MODELS
    for name, meta in metas.items():
        errors = [e.message for e in validator.iter_errors(meta)]
        assert not errors, f"{name}: {errors}"
    assert list(validator.iter_errors({**metas["gs_companies"], "behavior": "upsrt"}))
    assert list(validator.iter_errors({**metas["gs_companies"], "batchsize": 10}))
    assert list(validator.iter_errors({"object": "Company"}))  # fields are required


def test_validate_accepts_the_sample(tmp_path, gainsight_emulator):
    from tests.conftest import copy_project

    project = copy_project(SAMPLE_PROJECT, tmp_path / "sample")
    env = {"DBT_DUCKDB_PATH": str(tmp_path / "acme.duckdb"), **gainsight_env(gainsight_emulator)}
    proc = gainsight("validate", project, env, label="validate (never built)")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for model in GS_MODELS:
        assert f"OK  {model}:" in proc.stdout
    assert "5 model(s) valid" in proc.stdout
    assert gainsight_emulator.counters()["calls"] == 0  # offline: Gainsight is not asked


def test_validate_offline_needs_no_gainsight_credentials(tmp_path, monkeypatch):
    from tests.conftest import copy_project

    for name in ("GAINSIGHT_URL", "GAINSIGHT_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    project = copy_project(SAMPLE_PROJECT, tmp_path / "sample")
    env = {"DBT_DUCKDB_PATH": str(tmp_path / "acme.duckdb")}
    proc = gainsight("validate", project, env, label="validate without credentials")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "5 model(s) valid" in proc.stdout
    # A connection no gainsight.yml defines is a typo offline too (before: "valid", and the
    # sync failed later; a new-user walkthrough).
    schema = project / SCHEMA_YML
    text = schema.read_text()
    schema.write_text(
        text.replace("object: Company\n", "object: Company\n          connection: sandbx\n", 1)
    )
    proc = gainsight("validate", project, env, label="validate: undefined connection")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "gs_companies: meta.gainsight.connection: " in proc.stderr, proc.stderr
    assert "'sandbx'" in proc.stderr


# --- dry run ----------------------------------------------------------------------------


def test_dry_run_makes_no_call_and_counts_what_the_sync_then_does(sample):
    project, gs, env = sample

    plan = gainsight("sync", project, env, "--dry-run", label="dry run (fresh state)")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "dry run" in plan.stdout
    assert "gs_companies: would send 210 records to Company" in plan.stdout
    assert ": sending " not in plan.stdout  # a plan sends nothing (a new-user walkthrough)
    assert gs.counters()["calls"] == 0
    assert run_results(project)["metadata"]["dry_run"] is True
    planned = results_by_model(project)
    assert set(planned) == GS_MODELS
    assert {r["status"] for r in planned.values()} == {"planned"}
    assert planned["gs_companies"]["new"] == 210

    real = gainsight("sync", project, env, label="sync after the dry run")
    assert real.returncode == 0, real.stdout + real.stderr
    done = results_by_model(project)
    for model in GS_MODELS:
        assert _counts(planned[model]) == _counts(done[model]), model
        assert done[model]["api_calls"] <= planned[model]["planned_calls"], done[model]
    assert len(gs.records("Company")) == 210

    # Change 21 companies in the warehouse: the plan and the sync agree again.
    duckdb_execute(
        project / "target" / "acme.duckdb",
        "update main.gs_companies set arr = arr + 1 where account_id % 10 = 0",
    )
    calls = gs.counters()["calls"]
    plan = gainsight("sync", project, env, "--dry-run", label="dry run after 21 changes")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert gs.counters()["calls"] == calls
    planned = results_by_model(project)
    assert (planned["gs_companies"]["changed"], planned["gs_companies"]["unchanged"]) == (21, 189)

    real = gainsight("sync", project, env, label="sync of the 21 changes")
    assert real.returncode == 0, real.stdout + real.stderr
    done = results_by_model(project)
    for model in GS_MODELS:
        assert _counts(planned[model]) == _counts(done[model]), model
    assert done["gs_companies"]["accepted"] == 21
    assert gs.counters()["calls"] > calls


# --- selection --------------------------------------------------------------------------


def test_select_and_exclude_sync_just_those_models(sample):
    project, gs, env = sample

    proc = gainsight("sync", project, env, "-s", "gs_companies", label="sync -s gs_companies")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert set(results_by_model(project)) == {"gs_companies"}
    assert len(gs.records("Company")) == 210
    for obj in ("Relationship", "Usage_Summary__gc", "Person", "Company_Person"):
        assert gs.records(obj) == [], obj

    proc = gainsight(
        "sync",
        project,
        env,
        "-s",
        "tag:gainsight",
        "--exclude",
        "gs_company_people gs_relationship_people",
        label="sync -s tag:gainsight --exclude the people models",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = results_by_model(project)
    assert set(results) == {"gs_companies", "gs_relationships", "gs_usage_summary"}
    assert results["gs_companies"]["unchanged"] == 210
    assert results["gs_relationships"]["accepted"] == len(gs.records("Relationship")) > 0
    assert results["gs_usage_summary"]["accepted"] == len(gs.records("Usage_Summary__gc")) > 0
    assert gs.records("Person") == []

    # --full-refresh forgets the state: every row is sent again, nothing is duplicated.
    calls = gs.counters()["calls"]
    args = ("-s", "gs_companies", "--full-refresh")
    plan = gainsight("sync", project, env, *args, "--dry-run", label="dry run --full-refresh")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert gs.counters()["calls"] == calls
    assert results_by_model(project)["gs_companies"]["new"] == 210
    proc = gainsight("sync", project, env, *args, label="sync -s gs_companies --full-refresh")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = results_by_model(project)["gs_companies"]
    assert (result["new"], result["accepted"], result["state_reset"]) == (210, 210, "full refresh")
    names = [r["Name"] for r in gs.records("Company")]
    assert len(names) == len(set(names)) == 210


# --- a model not built ------------------------------------------------------------------


def test_model_not_built_is_a_clear_model_error(sample):
    project, gs, env = sample
    # As if gs_usage_summary were added after the last `dbt build`.
    duckdb_execute(project / "target" / "acme.duckdb", "drop table main.gs_usage_summary")

    proc = gainsight("sync", project, env, label="sync with gs_usage_summary not built")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output
    assert "gs_usage_summary" in output and "does not exist" in output, output
    assert "gs_usage_summary: gs_usage_summary" not in output  # named once per line
    results = results_by_model(project)
    assert results["gs_usage_summary"]["status"] == "error"
    message = results["gs_usage_summary"]["message"]
    assert '"main"."gs_usage_summary" does not exist' in message, message
    assert "dbt build -s gs_usage_summary" in message
    assert gs.records("Usage_Summary__gc") == []
    for model in GS_MODELS - {"gs_usage_summary"}:
        assert results[model]["status"] == "success", results[model]
    assert len(gs.records("Company")) == 210
