"""Mirror deletes and audit when a model's keys change form: found by a review, CLI level.

tests/projects/delete_keys syncs ``raw_acct`` (a NUMBER key, ``AcctNo__gc``) to a custom
object with mirror deletes on. Between syncs the tests rewrite the table the way models
change in practice, then check Gainsight's records (the emulator's), not what the CLI says:

- the key column turns from integers to zero-padded text (``7`` -> ``'0007'``): Gainsight
  still holds the same records, so none may be deleted, also when one record's update is
  rejected (its state row is then the only one for the record);
- every key is rewritten by a broken model: the share the guard measures is of the records
  the sync had before the run, so the dry run and the real run agree, and nothing is deleted;
- a record claimed under a new key hash keeps one state row, so a row that later leaves the
  model is one record, one DELETE;
- an empty text (``''``, which Gainsight reads back as null) is no drift for the audit.

Real dbt, real DuckDB (and Postgres for the key change), the CLI as a subprocess, the
emulator over HTTP.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import copy_project
from tests.e2e.support import (
    PROJECTS,
    dbt,
    duckdb_execute,
    duckdb_rows,
    gainsight,
    gainsight_env,
    postgres_execute,
    postgres_rows,
    results_by_model,
)

OBJECT = "Acct__gc"
STATE = "acct_gainsight.gainsight_sync_state"
DELETE_ROUTE = "DELETE /v1/data/objects/{object}/{gsid}"
PLAIN_LABEL = "'L' || cast(i as varchar)"
INTEGER_KEYS = f"select i as acct_no, {PLAIN_LABEL} as label, 'n' as note"
PADDED_KEYS = "select lpad(cast(i as varchar), 4, '0') as acct_no, {label} as label, 'n' as note"
TEN = "from generate_series(1, 10) as t(i)"


class Accounts:
    """The project on one backend: rewrite ``raw_acct``, run dbt, sync, read back."""

    def __init__(self, tmp_path: Path, backend: str, gs, pg: dict[str, str] | None):
        self.dir = copy_project(PROJECTS / "delete_keys", tmp_path / "delete_keys")
        self.backend, self.gs, self.pg = backend, gs, pg
        self.duckdb = self.dir / "target" / "delete_keys.duckdb"
        self.env = {**gainsight_env(gs), "DBT_DUCKDB_PATH": str(self.duckdb), **(pg or {})}
        self.execute("create schema if not exists acct")

    def execute(self, *statements: str) -> None:
        if self.backend == "postgres":
            postgres_execute(self.pg, *statements)
        else:
            self.duckdb.parent.mkdir(parents=True, exist_ok=True)
            duckdb_execute(self.duckdb, *statements)

    def rows(self, sql: str) -> list[dict]:
        if self.backend == "postgres":
            return postgres_rows(self.pg, sql)
        return duckdb_rows(self.duckdb, sql)

    def model(self, select: str) -> None:
        """``raw_acct`` becomes ``select``, and dbt builds the view over it again."""
        self.execute(
            "drop table if exists acct.raw_acct cascade", f"create table acct.raw_acct as {select}"
        )
        dbt("run", self.dir, self.env, target=self.backend)

    def cli(self, command: str, *args: str, expect: int | None = 0):
        proc = gainsight(command, self.dir, self.env, *args, target=self.backend)
        assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
        if expect is not None:
            assert proc.returncode == expect, proc.stdout + proc.stderr
        return proc

    def result(self) -> dict:
        return results_by_model(self.dir)["gs_acct"]

    def numbers(self) -> list[int]:
        """The key of every record Gainsight holds, sorted."""
        return sorted(r["AcctNo__gc"] for r in self.gs.records(OBJECT))

    def deletes(self) -> int:
        return self.gs.counters()["by_route"].get(DELETE_ROUTE, 0)

    def state_rows(self) -> list[tuple[str, str]]:
        rows = self.rows(f"select key_hash, gsid from {STATE} order by gsid, key_hash")
        return [(r["key_hash"], r["gsid"]) for r in rows]


@pytest.fixture
def accounts(request, tmp_path, gainsight_emulator_factory) -> Accounts:
    backend = getattr(request, "param", "duckdb")
    pg = request.getfixturevalue("pg_database") if backend == "postgres" else None
    gs = gainsight_emulator_factory(
        objects_file=str(PROJECTS / "delete_keys" / "gainsight_objects.yml")
    )
    project = Accounts(tmp_path, backend, gs, pg)
    project.model(f"{INTEGER_KEYS} {TEN}")
    project.cli("sync")
    assert project.numbers() == list(range(1, 11))
    return project


@pytest.mark.parametrize("accounts", ["duckdb", "postgres"], indirect=True)
def test_a_key_column_that_changes_type_deletes_nothing(accounts: Accounts):
    """Before: the key column became text ('0007') and record 7's update was rejected (its
    label too long); its only state row held the integer's hash, the read-back's 7 was hashed
    as the text '7', not '0007', and record 7 was deleted with its row still in the model."""
    long_label = (
        "case when i = 7 then 'this label is far too long' else 'L' || cast(i as varchar) end"
    )
    accounts.model(f"{PADDED_KEYS.format(label=long_label)} {TEN}")

    accounts.cli("sync", expect=1)  # record 7's update is rejected
    result = accounts.result()
    assert (result["rejected"], result["deleted"]) == (1, 0), result
    assert accounts.numbers() == list(range(1, 11))
    assert accounts.deletes() == 0

    # The label fixed: one update, still nothing deleted, ten records, ten state rows.
    accounts.model(f"{PADDED_KEYS.format(label=PLAIN_LABEL)} {TEN}")
    accounts.cli("sync")
    assert accounts.numbers() == list(range(1, 11))
    assert accounts.deletes() == 0
    assert len(accounts.state_rows()) == 10, accounts.state_rows()


def test_the_delete_guard_measures_the_records_before_the_run(accounts: Accounts):
    """A broken model rewrites every key (acct_no + 100). Before: the run inserted ten new
    records first, then measured the ten gone against twenty (50%, not over max_fraction
    0.5) and deleted the ten originals, while the dry run said "Blocked" (100%)."""
    accounts.model(
        f"select i + 100 as acct_no, 'L' || cast(i as varchar) as label, 'n' as note {TEN}"
    )

    dry = accounts.cli("sync", "--dry-run")
    assert "Blocked" in accounts.result()["message"], dry.stdout
    accounts.cli("sync", expect=1)
    result = accounts.result()
    assert result["status"] == "error" and result["deleted"] == 0, result
    assert "max_fraction" in result["message"] and "--allow-deletes 10" in result["message"]
    assert accounts.numbers() == [*range(1, 11), *range(101, 111)]
    assert accounts.deletes() == 0

    # --allow-deletes: the dry run and the real run agree again.
    accounts.cli("sync", "--dry-run", "--allow-deletes", "10")
    assert "Blocked" not in accounts.result()["message"]
    accounts.cli("sync", "--allow-deletes", "10")
    assert accounts.result()["deleted"] == 10
    assert accounts.numbers() == list(range(101, 111))


def test_a_record_claimed_under_a_new_key_hash_is_one_record(accounts: Accounts):
    """The key column turns to text: all ten rows are new to the diff, found in Gainsight and
    updated. Before: each record then had two state rows (the integer's hash and the text's),
    so when one row left the model, its record was planned and DELETEd twice, and "no longer
    in the model" counted the ten stale rows on every run after."""
    accounts.model(f"{PADDED_KEYS.format(label=PLAIN_LABEL)} {TEN}")
    accounts.cli("sync")
    assert accounts.numbers() == list(range(1, 11))
    assert len(accounts.state_rows()) == 10, accounts.state_rows()

    accounts.model(f"{PADDED_KEYS.format(label=PLAIN_LABEL)} {TEN} where i <> 3")
    accounts.cli("sync")
    result = accounts.result()
    assert (result["no_longer_in_model"], result["deleted"]) == (1, 1), result
    assert accounts.deletes() == 1
    assert accounts.numbers() == [1, 2, *range(4, 11)]
    assert len(accounts.state_rows()) == 9

    # Two live rows, one record ('0007' and '07' are both 7 to Gainsight): the second is sent
    # once, then the model is settled. (A first mend dropped every other state row of a found
    # Gsid, so each run resent one of the two and record 7's label flipped for ever.)
    other = "union all select '07' as acct_no, 'OTHER' as label, 'n' as note"
    accounts.model(f"{PADDED_KEYS.format(label=PLAIN_LABEL)} {TEN} where i <> 3 {other}")
    accounts.cli("sync")
    assert accounts.result()["accepted"] == 1
    labels = []
    for _ in range(2):
        accounts.cli("sync")
        assert (accounts.result()["new"], accounts.result()["accepted"]) == (0, 0)
        labels += [r["Label__gc"] for r in accounts.gs.records(OBJECT) if r["AcctNo__gc"] == 7]
    assert labels == ["OTHER", "OTHER"]
    assert accounts.numbers() == [1, 2, *range(4, 11)] and accounts.deletes() == 1


def test_an_empty_text_is_no_drift(accounts: Accounts):
    """Gainsight reads '' back as null. Before: the audit reported the model's '' against
    Gainsight's null as drift on every run (exit 1), and --repair resent the row for nothing."""
    accounts.model(f"select i as acct_no, 'L' || cast(i as varchar) as label, '' as note {TEN}")
    accounts.cli("sync")
    proc = accounts.cli("audit", "--output", "json")
    (model,) = json.loads(proc.stdout)["models"]
    assert (model["missing"], model["differs"], model["orphans"]) == (0, 0, 0), model


def test_a_key_change_to_a_field_never_synced_is_refused_before_it_duplicates(
    accounts: Accounts,
):
    """Keys changed from AcctNo__gc to Note__gc, a field this sync never wrote, in one edit.
    Before: "state reset (mapping changed)", none of the ten found under the new key, ten
    inserted again (twenty records, exit 0), and the audit was clean. Now the model stops
    with nothing sent, saying why and what to do; a key that was synced before is allowed."""
    schema = accounts.dir / "models" / "schema.yml"
    text = schema.read_text()
    without_note = text.replace("            note: Note__gc\n", "")
    schema.write_text(without_note)
    accounts.cli("sync")  # Note__gc unmapped: a mapping change, every record found again
    assert accounts.numbers() == list(range(1, 11))

    schema.write_text(text.replace("keys: [AcctNo__gc]", "keys: [Note__gc]"))
    accounts.execute("update acct.raw_acct set note = 'n' || cast(acct_no as varchar)")
    before = accounts.gs.counters()["calls"]
    dry = accounts.cli("sync", "--dry-run", expect=1)
    message = accounts.result()["message"]
    assert "keys changed from [AcctNo__gc] to [Note__gc]" in message, dry.stdout + dry.stderr
    assert "--full-refresh" in message
    accounts.cli("sync", expect=1)
    assert accounts.result()["status"] == "error"
    assert accounts.gs.counters()["calls"] == before
    assert accounts.numbers() == list(range(1, 11))

    # Synced under the old keys first, the new key is on every record: the change is allowed.
    schema.write_text(text)
    accounts.cli("sync")
    schema.write_text(text.replace("keys: [AcctNo__gc]", "keys: [Note__gc]"))
    accounts.cli("sync")
    assert accounts.numbers() == list(range(1, 11))
    assert accounts.result()["accepted"] == 10
