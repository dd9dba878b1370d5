"""Operability attacks: the commands a new user runs (init, exposures, build, audit, status,
check, sync's flags) fed the inputs a new user gets wrong.

The promise under attack: every bad input is a clear, short error naming what is wrong (the
model, the YAML file and the key where relevant) with exit 2 for usage/config errors and 1 for
failures, never a Python traceback, never the access key printed, nothing half-sent; and what
`init --write` / `exposures --write` change in the project keeps it parseable and the user's
own files intact.

Each test is one problem found by hand, as the CLI (a subprocess) meets it: real dbt, real
DuckDB, the emulator over HTTP. The sample project is built once per module. A test marked
``xfail(strict=True)`` is a problem found and not fixed yet (issue 12's note): it turns red
the day it is fixed, so its mark goes with the fix.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import BIN, reaped, run, signal_and_wait, wait_until
from tests.e2e.support import (
    duckdb_execute,
    gainsight,
    gainsight_env,
    project_args,
    run_results,
)

SCHEMA_YML = "models/gainsight/schema.yml"


def _output(proc) -> str:
    return proc.stdout + proc.stderr


def _no_traceback(proc) -> None:
    assert "Traceback" not in _output(proc), _output(proc)


def _new_model(project: Path, yml_text: str) -> Path:
    """A model gs_new (not built) whose YAML, in ``models/gainsight/new.yml``, is ``yml_text``."""
    (project / "models" / "gainsight" / "gs_new.sql").write_text(
        "select 'Acme' as company_name, 10 as employees\n"
    )
    path = project / "models" / "gainsight" / "new.yml"
    path.write_text(yml_text)
    return path


# --- init --write: the file it edits stays valid YAML, in the user's layout ----------------

# dbt's docs and many projects write sequences without indenting the dash.
INDENTLESS_YML = """\
version: 2
models:
- name: gs_new
  description: A new model.  # the user's comment
  config:
    tags: [gainsight]
  columns:
  - name: company_name
    data_tests:
    - not_null
  - name: employees
"""

# Four-space mappings, dashes at the parent's column.
FOUR_SPACE_YML = """\
version: 2
models:
-   name: gs_new
    description: >
        A folded
        description.
    config:
        tags: [gainsight]
    columns:
    -   name: company_name
    -   name: employees
"""


@pytest.mark.parametrize(
    "original", [INDENTLESS_YML, FOUR_SPACE_YML], ids=["indentless-sequences", "four-space-maps"]
)
def test_init_write_keeps_the_yaml_file_valid_and_in_its_layout(sample, original):
    """`init --write` into a properties file that does not use init's own indentation. Before:
    with indentless sequences (`- name:` at the column of `models:`) it wrote `  - name:` for
    the entry but left its other keys where they were, so the file was not YAML any more and
    every dbt command failed ("did not find expected '-' indicator"); with four-space mappings
    it re-indented the whole file (README: "keeping its comments and layout")."""
    project, gs, env = sample
    path = _new_model(project, original)

    proc = gainsight("init", project, env, "gs_new", "--object", "Company", "--write")
    assert proc.returncode == 0, _output(proc)
    written = path.read_text()
    try:
        doc = yaml.safe_load(written)
    except yaml.YAMLError as exc:
        pytest.fail(f"init --write left {path.name} not valid YAML ({exc}):\n{written}")
    [entry] = doc["models"]
    assert entry["config"]["meta"]["gainsight"]["object"] == "Company"
    rest = iter(written.splitlines())
    lost = [line for line in original.splitlines() if line not in rest]
    assert lost == [], f"lines of the user's file changed or moved:\n{written}"


def test_init_write_beside_a_top_level_meta_keeps_the_project_parseable(sample):
    """A model whose YAML still has a top-level `meta:` (dbt 1.11 reads it, with a deprecation
    warning) gets `config: meta: gainsight:` written beside it; before, dbt then refused the
    whole project: "found meta dictionary in 'config' dictionary and as top-level key"."""
    project, gs, env = sample
    staging = project / "models" / "staging" / "_staging.yml"
    text = staging.read_text()
    anchor = "  - name: stg_accounts\n    description: Customer companies, cleaned.\n"
    assert anchor in text
    staging.write_text(text.replace(anchor, anchor + "    meta:\n      owner: cs-data\n", 1))

    proc = gainsight("init", project, env, "stg_accounts", "--object", "Company", "--write")
    assert proc.returncode == 0, _output(proc)
    parsed = run(["dbt", "parse", *project_args(project), "--no-partial-parse"], env=env)
    assert parsed.returncode == 0, (
        f"init --write broke the project:\n{parsed.stdout[-1500:]}\n{staging.read_text()[:1200]}"
    )


def test_init_with_another_connection_writes_that_connection_into_the_block(sample):
    """`init --connection sandbox` reads the sandbox tenant's describe, so the block it proposes
    is for the sandbox; before, the block had no `connection:` and would sync to `default`."""
    project, gs, env = sample
    settings = project / "gainsight.yml"
    settings.write_text(
        settings.read_text()
        + "  sandbox:\n"
        + "    url: \"{{ env_var('GAINSIGHT_SANDBOX_URL') }}\"\n"
        + "    access_key: \"{{ env_var('GAINSIGHT_ACCESS_KEY') }}\"\n"
    )
    env = {**env, "GAINSIGHT_SANDBOX_URL": gs.url}
    proc = gainsight(
        "init",
        project,
        env,
        "gs_usage_summary",
        "--object",
        "Usage_Summary__gc",
        "--connection",
        "sandbox",
    )
    assert proc.returncode == 0, _output(proc)
    block = yaml.safe_load(proc.stdout)["models"][0]["config"]["meta"]["gainsight"]
    assert block.get("connection") == "sandbox", proc.stdout


def test_init_with_an_unknown_target_is_a_usage_error(sample):
    """`init --target nope`: before, the profile error was taken for "the model is not built",
    init fell back to the YAML's columns (no types, so no CHECK marks) and exited 0."""
    project, gs, env = sample
    proc = gainsight(
        "init", project, env, "gs_companies", "--object", "Company", "--target", "nope"
    )
    _no_traceback(proc)
    assert proc.returncode == 2, _output(proc)
    assert "nope" in proc.stderr, proc.stderr
    assert "not built" not in _output(proc), _output(proc)


FLAG_OBJECTS = """\
objects:
  - objectName: Flags__gc
    label: Flags
    fields:
      - {fieldName: Code__gc, label: Code, dataType: STRING}
      - {fieldName: On__gc, label: "On", dataType: BOOLEAN}
      - {fieldName: No__gc, label: "No", dataType: STRING}
"""


def test_init_quotes_column_names_that_dbt_reads_as_booleans(
    sample, tmp_path, gainsight_emulator_factory
):
    """Columns named `on` and `no` were written unquoted (`on: On__gc`); dbt's YAML loader
    reads those keys as true/false, so the block init wrote failed validate ("key true is not
    a string")."""
    project, _, env = sample
    objects = tmp_path / "flags.yml"
    objects.write_text(FLAG_OBJECTS)
    gs = gainsight_emulator_factory(objects_file=str(objects))
    env = {**env, **gainsight_env(gs)}
    (project / "models" / "gainsight" / "gs_flags.sql").write_text(
        "select 'a' as code, true as \"on\", 'x' as \"no\"\n"
    )
    duckdb_execute(
        Path(env["DBT_DUCKDB_PATH"]),
        "create table main.gs_flags as select 'a' as code, true as \"on\", 'x' as \"no\"",
    )
    proc = gainsight(
        "init", project, env, "gs_flags", "--object", "Flags__gc", "--keys", "Code__gc"
    )
    assert proc.returncode == 0, _output(proc)
    fields = yaml.safe_load(proc.stdout)["models"][0]["config"]["meta"]["gainsight"]["fields"]
    assert fields == {"code": "Code__gc", "on": "On__gc", "no": "No__gc"}, proc.stdout


def test_sync_to_a_misspelt_object_says_which_object_was_meant(sample):
    """`object: Usage_Sumary__gc` passes the schema (any `__gc` name may exist); sync stopped
    at Gainsight's "no such object" with no hint, where `validate --online` suggests the
    tenant's object. Now sync says the same, and nothing is written."""
    project, gs, env = sample
    path = project / SCHEMA_YML
    text = path.read_text()
    assert "object: Usage_Summary__gc" in text
    path.write_text(text.replace("object: Usage_Summary__gc", "object: Usage_Sumary__gc", 1))

    proc = gainsight("sync", project, env, "-s", "gs_usage_summary")
    _no_traceback(proc)
    assert proc.returncode == 2, _output(proc)
    assert "did you mean 'Usage_Summary__gc'?" in proc.stderr, proc.stderr
    assert SCHEMA_YML in proc.stderr and "gs_usage_summary" in proc.stderr, proc.stderr
    assert gs.counters()["records_written"] == 0


# --- exposures --write -----------------------------------------------------------------


def test_exposures_write_to_a_folder_is_a_one_line_usage_error(sample):
    """`exposures --write models` (a folder): before, IsADirectoryError with a traceback, exit 1."""
    project, gs, env = sample
    proc = gainsight("exposures", project, env, "--write", "models", "--owner-name", "CS Ops")
    _no_traceback(proc)
    assert proc.returncode == 2, _output(proc)
    assert "models" in proc.stderr, proc.stderr


def test_exposures_without_a_url_warn_once_a_connection(sample):
    """Without GAINSIGHT_URL the exposures are written without a url: one warning saying so,
    not one for every object the connection feeds (before: one per object, the same text)."""
    project, gs, env = sample
    env = {k: v for k, v in env.items() if k != "GAINSIGHT_URL"}
    proc = gainsight("exposures", project, env, "--owner-name", "CS Ops")
    _no_traceback(proc)
    assert proc.returncode == 0, _output(proc)
    objects = {e["name"] for e in yaml.safe_load(proc.stdout)["exposures"]}
    assert len(objects) > 1, proc.stdout
    assert _output(proc).count("no url in the exposure") == 1, _output(proc)


def test_exposures_write_never_overwrites_the_models_own_yaml(sample):
    """`exposures --write models/gainsight/schema.yml` replaced the hand-written properties file
    (every model's meta.gainsight block, tests and docs) with the generated exposures, exit 0.
    A file the command did not generate is refused, and kept."""
    project, gs, env = sample
    path = project / SCHEMA_YML
    before = path.read_text()
    proc = gainsight("exposures", project, env, "--write", SCHEMA_YML, "--owner-name", "CS Ops")
    _no_traceback(proc)
    assert path.read_text() == before, "exposures --write overwrote the models' schema.yml"
    assert proc.returncode == 2, _output(proc)


# --- credentials and flags -------------------------------------------------------------


def test_an_access_key_with_a_line_break_is_a_config_error_that_never_shows_it(sample):
    """A key pasted across two lines: before, http.client's ValueError with a traceback that
    printed the key (`Invalid header value b'...'`), exit 1."""
    project, gs, env = sample
    key = "opsSecretHalfOne\nopsSecretHalfTwo"
    proc = gainsight("check", project, {**env, "GAINSIGHT_ACCESS_KEY": key})
    output = _output(proc)
    assert "opsSecretHalf" not in output, output
    _no_traceback(proc)
    assert proc.returncode == 2, output
    assert "access_key" in proc.stderr or "GAINSIGHT_ACCESS_KEY" in proc.stderr, proc.stderr
    assert gs.counters()["calls"] == 0


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:99999", "http://127.0.0.1:notaport", "http://[::1"],
    ids=["port-out-of-range", "port-not-a-number", "unclosed-bracket"],
)
def test_a_malformed_url_is_a_config_error_not_a_traceback(sample, url):
    """Before: `ValueError: Port out of range 0-65535` (or `Invalid IPv6 URL`, `Port could not
    be cast to integer`) with a traceback, exit 1."""
    project, gs, env = sample
    proc = gainsight("check", project, {**env, "GAINSIGHT_URL": url}, label=f"check {url}")
    _no_traceback(proc)
    assert proc.returncode == 2, _output(proc)
    assert "url" in proc.stderr.lower(), proc.stderr


def test_an_api_log_in_a_missing_folder_is_a_usage_error(sample, tmp_path):
    """`sync --api-log missing/api.jsonl`: before, FileNotFoundError with a traceback, exit 1."""
    project, gs, env = sample
    log = tmp_path / "no" / "such" / "folder" / "api.jsonl"
    proc = gainsight("sync", project, env, "-s", "gs_companies", "--api-log", str(log))
    _no_traceback(proc)
    assert proc.returncode == 2, _output(proc)
    assert "api-log" in proc.stderr or str(log.parent) in proc.stderr, proc.stderr
    assert gs.counters()["calls"] == 0


# --- selection ---------------------------------------------------------------------------


def test_an_exclude_that_matches_no_model_is_a_usage_error(sample):
    """`--exclude gs_compnies` (a typo): a --select typo is exit 2, but the --exclude typo was
    ignored and the model the user meant to hold back was planned (and, without --dry-run,
    sent)."""
    project, gs, env = sample
    proc = gainsight("sync", project, env, "--exclude", "gs_compnies", "--dry-run")
    _no_traceback(proc)
    assert proc.returncode == 2, _output(proc)
    assert "--exclude gs_compnies matches no model" in proc.stderr, proc.stderr


def test_a_selector_with_an_exclude_does_not_drop_the_exclude(sample):
    """`--selector gs --exclude gs_companies`: dbt ignores --select/--exclude beside --selector,
    so gs_companies was planned (and, without --dry-run, sent) with exit 0. Either the
    exclude holds, or the combination is refused (exit 2)."""
    project, gs, env = sample
    (project / "selectors.yml").write_text(
        "selectors:\n  - name: gs\n    definition: {method: tag, value: gainsight}\n"
    )
    proc = gainsight(
        "sync", project, env, "--selector", "gs", "--exclude", "gs_companies", "--dry-run"
    )
    _no_traceback(proc)
    if proc.returncode == 2:
        assert "--selector" in proc.stderr, proc.stderr
        return
    assert proc.returncode == 0, _output(proc)
    planned = {m["model"] for m in run_results(project)["results"]}
    assert "gs_companies" not in planned, planned


def test_build_with_a_selection_that_matches_nothing_is_a_usage_error(sample):
    """`build -s tag:gainsigth`: `sync` with the same typo exits 2 ("matches no model"); build
    said "No selected model with a gainsight block built successfully" and exited 0."""
    project, gs, env = sample
    proc = gainsight("build", project, env, "-s", "tag:gainsigth")
    _no_traceback(proc)
    assert proc.returncode == 2, _output(proc)
    assert "tag:gainsigth matches no node" in proc.stderr, proc.stderr
    assert gs.counters()["calls"] == 0


def test_ctrl_c_while_build_runs_dbt_exits_130_without_a_traceback(sample, tmp_path):
    """Ctrl-C while `build`'s dbt phase runs a query: dbt cancels it and says so, then dbt's
    own error handler printed a 40-line KeyboardInterrupt traceback under "Encountered an
    error:" before our "Interrupted.". One clear stop, exit 130, nothing sent."""
    project, gs, env = sample
    (project / "models" / "slow.sql").write_text(
        '{{ config(materialized="table") }}\n'
        "select sum(hash(a.x * b.x)) as n from range(400000) a(x), range(400000) b(x)\n"
    )
    log = tmp_path / "build.log"
    command = [str(BIN / "dbt-gainsight"), "build", *project_args(project)]
    full_env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", **env}
    with open(log, "w") as out:
        proc = subprocess.Popen(command, env=full_env, stdout=out, stderr=subprocess.STDOUT)
    with reaped(proc):
        wait_until(lambda: "START sql table model main.slow" in log.read_text(), proc, log)
        time.sleep(1)  # the query is running
        code, seconds = signal_and_wait(proc)
    output = log.read_text()
    assert code == 130, output
    assert seconds < 15, f"{seconds:.1f} s from Ctrl-C to exit:\n{output}"
    assert "Traceback" not in output, output
    assert "Interrupted" in output, output
    assert gs.counters()["records_written"] == 0


def test_build_leaves_a_slim_ci_selection_to_dbt(sample, tmp_path):
    """`build -s state:modified+ --state prod/` (slim CI). The first typo check resolved
    every expression with `dbt ls` without build's --state: "no comparison manifest", exit 2,
    nothing built. State expressions are dbt's to resolve; the others are still checked."""
    project, gs, env = sample
    prod = tmp_path / "prod"
    prod.mkdir()
    (prod / "manifest.json").write_text((project / "target" / "manifest.json").read_text())
    model = project / "models" / "gainsight" / "gs_companies.sql"
    model.write_text(model.read_text() + "\n-- changed in this pull request\n")

    proc = gainsight("build", project, env, "-s", "state:modified", "--state", str(prod))
    assert proc.returncode == 0, _output(proc)
    synced = {m["model"] for m in run_results(project)["results"]}
    assert synced == {"gs_companies"}, synced

    typo = ("-s", "state:modified", "tag:gainsigth", "--state", str(prod))
    proc = gainsight("build", project, env, *typo)
    _no_traceback(proc)
    assert proc.returncode == 2, _output(proc)
    assert "tag:gainsigth matches no node" in proc.stderr, proc.stderr


# --- audit and status of a model that could not be synced --------------------------------


def test_audit_of_a_model_never_built_is_not_clean(sample):
    """A selected model whose table does not exist cannot be audited: before, its line said
    "skipped" and the audit exited 0, as if Gainsight matched it (the CI drift gate passed)."""
    project, gs, env = sample
    duckdb_execute(Path(env["DBT_DUCKDB_PATH"]), "drop table main.gs_usage_summary")
    proc = gainsight("audit", project, env, "-s", "gs_usage_summary")
    _no_traceback(proc)
    assert "does not exist" in proc.stdout, proc.stdout
    assert proc.returncode == 1, _output(proc)


def test_status_after_a_failed_sync_says_why(sample):
    """After a sync whose model failed, `status` showed "error" and the counts, but not the
    reason, which only `--output json` carried."""
    project, gs, env = sample
    duckdb_execute(Path(env["DBT_DUCKDB_PATH"]), "drop table main.gs_usage_summary")
    failed = gainsight("sync", project, env, "-s", "gs_usage_summary")
    assert failed.returncode == 1, _output(failed)
    proc = gainsight("status", project, env, "-s", "gs_usage_summary")
    assert proc.returncode == 0, _output(proc)
    assert "error" in proc.stdout, proc.stdout
    assert "does not exist" in proc.stdout, proc.stdout


# --- dbt's artifacts ---------------------------------------------------------------------


def test_a_run_results_json_of_another_shape_is_not_a_traceback(sample):
    """target/run_results.json holding a list (another tool's, or a hand-edited one): before,
    `AttributeError: 'list' object has no attribute 'get'` with a traceback."""
    project, gs, env = sample
    results = project / "target" / "run_results.json"
    results.write_text(json.dumps([]))
    old = time.time() - 3600  # older than the manifest, so the manifest stays current
    os.utime(results, (old, old))
    proc = gainsight("sync", project, env, "-s", "gs_companies", "--dry-run")
    _no_traceback(proc)
    assert proc.returncode in (0, 2), _output(proc)
    assert gs.counters()["calls"] == 0
