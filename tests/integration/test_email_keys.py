"""Email keys ignore case, as Gainsight does (issue 9 #4), through the CLI on DuckDB.

``carol@`` and ``CAROL@`` in one model are one Gainsight person, so both rows are
DUPLICATE_KEY rejects instead of two writes that overwrite each other; ``bob@EXAMPLE.com``
updates the ``Bob@example.com`` Gainsight already holds instead of creating a second person.
"""

from __future__ import annotations

from tests.conftest import copy_project
from tests.e2e.support import PROJECTS, dbt, duckdb_rows, gainsight, gainsight_env, results_by_model


def test_case_variants_of_an_email_key_are_one_record(tmp_path, gainsight_emulator):
    gs = gainsight_emulator
    [bob] = gs.seed_records("Person", [{"Email": "Bob@example.com", "FirstName": "Robert"}])
    project = copy_project(PROJECTS / "email_keys", tmp_path / "email_keys")
    env = {"DBT_DUCKDB_PATH": str(tmp_path / "email.duckdb"), **gainsight_env(gs)}
    dbt("build", project, env)

    proc = gainsight("sync", project, env)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # two rows rejected
    assert "Traceback" not in proc.stdout + proc.stderr
    result = results_by_model(project)["gs_people"]
    assert (result["duplicates"], result["rejected"], result["accepted"]) == (2, 2, 2)
    assert {r["error_code"] for r in result["first_rejects"]} == {"DUPLICATE_KEY"}

    people = {p["Email"].lower(): p for p in gs.records("Person")}
    assert sorted(people) == ["bob@example.com", "dave@example.com"]  # no carol, one bob
    assert people["bob@example.com"]["Gsid"] == bob
    assert people["bob@example.com"]["FirstName"] == "Bob"
    rejects = duckdb_rows(  # one key, so one row in the rejects table
        tmp_path / "email.duckdb",
        "select key_values, error_message from main_gainsight.gainsight_rejects",
    )
    assert [r["key_values"].lower() for r in rejects] == ['{"email": "carol@example.com"}']
    assert "2 rows of the model share this key" in rejects[0]["error_message"]
