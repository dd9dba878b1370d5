"""build_diff_query, rendered by a real dbt adapter and run on real DuckDB and Postgres.

The rows of a source table are classified against the state and rejects tables (created by
``StateStore.ensure``): new, changed, unchanged, retry, duplicate, null_key, and gone. The
hashes come from the query itself (as in a sync), so only the classification is asserted.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from dbt_gainsight.config.model import parse_sync_config
from dbt_gainsight.errors import ValueConversionError, WarehouseError
from dbt_gainsight.gainsight.numbers import number_converter
from dbt_gainsight.gainsight.objects import FieldSchema, ObjectSchema
from dbt_gainsight.project import DbtArgs, DbtProject
from dbt_gainsight.sync import diff
from dbt_gainsight.sync.fetch import fetch_casts
from dbt_gainsight.sync.plan import ModelPlan
from dbt_gainsight.sync.state import StateStore
from dbt_gainsight.sync.writer import StateWriter
from dbt_gainsight.warehouse import Warehouse
from tests.conftest import REPO, copy_project, new_pg_database

PROJECT = REPO / "tests" / "projects" / "diff_sql"
SYNC = "sync-under-test"
# A reserved word and mixed case: identifiers must be quoted the adapter's way.
COLUMNS = ("Key", "group", "b", "n")
KEYS = ("Key",)

FIRST = [
    ("k1", "x", "y", 1),
    ("k2", "x", "y", 2),
    ("k3", "a,b", "c", 3),  # later ('a', 'b,c'): the same text joined, must still differ
    ("k4", "", None, 4),  # later (None, ''): '' and NULL must differ
    ("k5", "same", "same", 5),
    ("k6", "r", "r", 6),  # rejected last time: retried even though unchanged
    ("k7", "g", "g", 7),  # removed from the model later: gone
    ("kd", "p", "q", 8),  # duplicate key
    ("kd", "p", "r", 9),
    (None, "z", "z", 10),  # null key
]
SECOND = [
    ("k1", "x", "y", 1),
    ("k2", "x", "y", 20),
    ("k3", "a", "b,c", 3),
    ("k4", None, "", 4),
    ("k5", "same", "same", 5),
    ("k6", "r", "r", 6),
    ("kd", "p", "q", 8),
    ("kd", "p", "r", 9),
    (None, "z", "z", 10),
    ("k8", "new", "new", 11),
]


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def wh(request, tmp_path: Path, monkeypatch) -> Iterator[Warehouse]:
    """A live Warehouse (dbt's adapter) on a fresh DuckDB file or Postgres database."""
    pg = request.getfixturevalue("pg_database") if request.param == "postgres" else None
    with _warehouse(tmp_path, monkeypatch, pg) as warehouse:
        yield warehouse


@contextmanager
def _warehouse(tmp_path: Path, monkeypatch, pg: dict[str, str] | None) -> Iterator[Warehouse]:
    """A connected Warehouse on the Postgres database of ``pg`` (PG* variables) or DuckDB."""
    project = copy_project(PROJECT, tmp_path / "diff_sql")
    if pg is None:
        monkeypatch.setenv("DBT_DUCKDB_PATH", str(tmp_path / "diff.duckdb"))
    for name, value in (pg or {}).items():
        monkeypatch.setenv(name, value)
    args = DbtArgs.from_options(project, project, "postgres" if pg else None)
    warehouse = Warehouse(args, DbtProject(args).manifest)
    try:
        with warehouse.connection("diff-test"):
            yield warehouse
    finally:
        warehouse.close()


def _load(wh: Warehouse, relation, rows: list[tuple]) -> None:
    """(Re)create the source table with ``rows``."""
    text, b = wh.macro("type_string"), wh.binding_char()
    cols = ", ".join(f"{wh.quote(c)} {text}" for c in COLUMNS[:-1]) + f", {wh.quote('n')} integer"
    marks = ", ".join([b] * len(COLUMNS))
    statements: list[tuple[str, Any]] = [
        (f"drop table if exists {relation}", None),
        (f"create table {relation} ({cols})", None),
    ]
    statements += [(f"insert into {relation} values ({marks})", list(row)) for row in rows]
    wh.run_in_transaction(statements)


def _query(wh: Warehouse, store: StateStore, relation, **overrides: Any) -> diff.DiffQuery:
    """The diff of ``relation`` against ``store``: COLUMNS keyed by KEYS unless overridden."""
    arguments: dict[str, Any] = {"columns": COLUMNS, "key_columns": KEYS, "sync_id": SYNC}
    arguments.update(overrides)
    return diff.build_diff_query(
        wh,
        relation=relation,
        state_relation=store.state,
        rejects_relation=store.rejects,
        **arguments,
    )


def _counts(wh: Warehouse, query: diff.DiffQuery) -> dict[str, int]:
    return {action: int(n) for action, n in wh.execute(query.counts_sql, fetch=True) if int(n)}


def _stream(wh: Warehouse, query: diff.DiffQuery) -> list[dict[str, Any]]:
    out = []
    for names, chunk in wh.stream(query.stream_sql, fetch_size=3):
        assert [n.lower() for n in names[: len(COLUMNS)]] == [c.lower() for c in COLUMNS]
        out += [dict(zip(names, row, strict=True)) for row in chunk]
    return out


def test_diff_classifies_rows_against_state_and_rejects(wh: Warehouse):
    schema = wh.target_schema
    wh.adapter.create_schema(wh.relation(schema, "x").without_identifier())
    source = wh.relation(schema, "gs_source")
    store = StateStore(wh, f"{schema}_gainsight")
    store.ensure()
    _load(wh, source, FIRST)

    # No state yet: every identifiable row is new.
    query = _query(wh, store, source)
    assert _counts(wh, query) == {diff.NEW: 7, diff.DUPLICATE: 2, diff.NULL_KEY: 1}
    first = _stream(wh, query)
    assert len(first) == 10  # the stream holds every row that is not unchanged
    by_key = {r["Key"]: r for r in first if r["Key"] != "kd"}
    assert {r[diff.ACTION] for r in first if r["Key"] == "kd"} == {diff.DUPLICATE}
    assert [r[diff.KEY_ROWS] for r in first if r["Key"] == "kd"] == [2, 2]
    assert by_key[None][diff.ACTION] == diff.NULL_KEY
    assert {by_key[f"k{i}"][diff.ACTION] for i in range(1, 8)} == {diff.NEW}
    assert all(by_key[f"k{i}"][diff.GSID] is None for i in range(1, 8))
    key_hashes = {by_key[f"k{i}"][diff.KEY_HASH] for i in range(1, 8)}
    assert len(key_hashes) == 7
    assert len({by_key[f"k{i}"][diff.ROW_HASH] for i in range(1, 8)}) == 7

    # Gainsight accepted k1..k7 (k6 rejected); another sync's state must not count.
    b = wh.binding_char()
    statements: list[tuple[str, Any]] = []
    for i in range(1, 8):
        row = by_key[f"k{i}"]
        if i != 6:
            statements.append(
                (
                    f"insert into {store.state} (sync_id, key_hash, row_hash, gsid) "
                    f"values ({b}, {b}, {b}, {b})",
                    [SYNC, row[diff.KEY_HASH], row[diff.ROW_HASH], f"G-k{i}"],
                )
            )
    statements.append(
        (
            f"insert into {store.state} (sync_id, key_hash, row_hash, gsid) "
            f"values ({b}, {b}, {b}, {b})",
            ["another-sync", by_key["k6"][diff.KEY_HASH], "stale", "G-other"],
        )
    )
    statements.append(
        (
            f"insert into {store.rejects} (sync_id, key_hash, error_code) values ({b}, {b}, {b})",
            [SYNC, by_key["k6"][diff.KEY_HASH], "GSOBJ_1002"],
        )
    )
    wh.run_in_transaction(statements)

    # Unchanged input: only the reject is retried (plus the unsendable rows, again).
    query = _query(wh, store, source)
    assert _counts(wh, query) == {
        diff.UNCHANGED: 6,
        diff.RETRY: 1,
        diff.DUPLICATE: 2,
        diff.NULL_KEY: 1,
    }

    # The model changes.
    _load(wh, source, SECOND)
    counts = _counts(wh, query)
    assert counts == {
        diff.UNCHANGED: 2,  # k1, k5
        diff.CHANGED: 3,  # k2 (n), k3 ('a,b','c' -> 'a','b,c'), k4 ('',NULL -> NULL,'')
        diff.RETRY: 1,  # k6
        diff.NEW: 1,  # k8
        diff.DUPLICATE: 2,
        diff.NULL_KEY: 1,
        diff.GONE: 1,  # k7
    }
    second = {r["Key"]: r for r in _stream(wh, query) if r["Key"] != "kd"}
    assert set(second) == {"k2", "k3", "k4", "k6", "k8", None}
    for key in ("k2", "k3", "k4"):
        assert second[key][diff.ACTION] == diff.CHANGED
        assert second[key][diff.GSID] == f"G-{key}"
        assert second[key][diff.KEY_HASH] == by_key[key][diff.KEY_HASH]  # keys only
        assert second[key][diff.ROW_HASH] != by_key[key][diff.ROW_HASH]
    assert second["k6"][diff.ACTION] == diff.RETRY
    assert second["k8"][diff.ACTION] == diff.NEW
    assert (second["k4"]["group"], second["k4"]["b"]) == (None, "")

    # Another sync id sees none of this state.
    other = _query(wh, store, source, sync_id="never-synced")
    assert _counts(wh, other) == {diff.NEW: 7, diff.DUPLICATE: 2, diff.NULL_KEY: 1}


@pytest.mark.postgres
def test_the_planner_knows_the_state_the_writer_just_wrote(tmp_path, monkeypatch, pg_database):
    """A state table written seconds ago had no statistics on Postgres (autovacuum gets to it
    within a minute or so): the planner guessed 27 of a sync's 5,000 rows and ran the next
    diff as a nested loop, 25 million md5 comparisons, 35 s for 50 changed rows
    (test_incremental.py at 5,000 rows). The state writer updates the statistics when it
    closes, so the next diff plans with the real row count and hash-joins."""
    with _warehouse(tmp_path, monkeypatch, pg_database) as wh:
        store = StateStore(wh, f"{wh.target_schema}_gainsight")
        store.ensure()
        writer = StateWriter(store, sync_id=SYNC, run_id="r1", model_name="gs_source")
        writer.accepted(
            [f"k{i}" for i in range(5000)],
            [f"h{i}" for i in range(5000)],
            [f"G{i}" for i in range(5000)],
            [False] * 5000,
        )
        writer.close()
        sql = f"explain select * from {store.state} where sync_id = '{SYNC}'"
        plan = " ".join(line for (line,) in wh.execute(sql, fetch=True))
    estimate = int(re.search(r"rows=(\d+)", plan).group(1))
    assert estimate > 4000, plan


def test_email_keys_are_hashed_case_folded(wh: Warehouse):
    """Gainsight matches EMAIL keys ignoring case (issue 9 #4): ``carol@x.com`` and
    ``CAROL@x.com`` in one model are one record, so both rows are duplicate-key rejects
    instead of two records that a later full refresh overwrites with each other."""
    schema = wh.target_schema
    wh.adapter.create_schema(wh.relation(schema, "x").without_identifier())
    source = wh.relation(schema, "gs_people")
    store = StateStore(wh, f"{schema}_gainsight")
    store.ensure()
    rows = [("carol@x.com", "a", "b", 1), ("CAROL@x.com", "a", "b", 2), ("bob@x.com", "", "", 3)]
    _load(wh, source, rows)
    plain = _query(wh, store, source)
    assert _counts(wh, plain) == {diff.NEW: 3}  # a text key: case matters
    folded = _query(wh, store, source, folded_keys=KEYS)
    assert _counts(wh, folded) == {diff.NEW: 1, diff.DUPLICATE: 2}
    streamed = {r["Key"]: r[diff.ACTION] for r in _stream(wh, folded)}
    assert streamed == {
        "carol@x.com": diff.DUPLICATE,
        "CAROL@x.com": diff.DUPLICATE,
        "bob@x.com": diff.NEW,
    }


@pytest.mark.postgres
def test_email_keys_fold_non_ascii_case_in_a_c_locale_postgres(tmp_path, monkeypatch, pg_server):
    """Postgres's lower() folds only ASCII in a database whose LC_CTYPE is C, so
    ``ÉLODIE@x.com`` and ``élodie@x.com`` were two records where Gainsight holds one (found
    by an attack). The fold uses ICU's Unicode rules there, as DuckDB's lower() does."""
    c_locale = 'template template0 lc_ctype "C" lc_collate "C"'
    with new_pg_database(pg_server, c_locale) as pg, _warehouse(tmp_path, monkeypatch, pg) as wh:
        schema = wh.target_schema
        wh.adapter.create_schema(wh.relation(schema, "x").without_identifier())
        source = wh.relation(schema, "gs_people")
        store = StateStore(wh, f"{schema}_gainsight")
        store.ensure()
        _load(wh, source, [("ÉLODIE@x.com", "a", "b", 1), ("élodie@x.com", "a", "b", 2)])
        folded = _query(wh, store, source, folded_keys=KEYS)
        assert _counts(wh, folded) == {diff.DUPLICATE: 2}
        hashes = diff.key_hashes(wh, [["ÉLODIE@x.com"], ["élodie@x.com"]], [None], [True])
        assert hashes[0] == hashes[1]


def test_a_key_the_column_type_refuses_is_an_error_for_deletes(wh: Warehouse):
    """A key read back that the column's type refuses ('abc' for an integer column) hashes
    as text for the audit (it can only fail to match), but raises for the deletes, where a
    failed match would read as "gone" and delete a live record (a review finding)."""
    keys = [["7"], ["abc"]]
    loose = diff.key_hashes(wh, keys, ["integer"], [False])
    assert len(loose) == 2 and loose[0] != loose[1]
    with pytest.raises(WarehouseError):
        diff.key_hashes(wh, keys, ["integer"], [False], strict=True)
    assert diff.key_hashes(wh, [["7"]], ["integer"], [False], strict=True) == loose[:1]


def test_a_blank_key_is_a_null_key(wh: Warehouse):
    """A key of '' or spaces identifies nothing, as a null does: a NULL_KEY reject, never
    sent (before, a Company named '' was created and read back as null; a new-user
    walkthrough). Two blank rows are not a duplicate key either."""
    schema = wh.target_schema
    wh.adapter.create_schema(wh.relation(schema, "x").without_identifier())
    source = wh.relation(schema, "gs_blank")
    store = StateStore(wh, f"{schema}_gainsight")
    store.ensure()
    _load(wh, source, [("", "a", "b", 1), ("   ", "a", "b", 2), ("k1", "a", "b", 3)])
    query = _query(wh, store, source)
    assert _counts(wh, query) == {diff.NEW: 1, diff.NULL_KEY: 2}
    assert {r["n"]: r[diff.ACTION] for r in _stream(wh, query)} == {
        1: diff.NULL_KEY,
        2: diff.NULL_KEY,
        3: diff.NEW,
    }


def test_a_record_read_back_hashes_as_the_diff_hashes_its_row(wh: Warehouse):
    """The audit recognises a people record read back by its key's hash (audit._orphans_by_key):
    its values, in the sync's form, go through ``KeyMaker.texts_of`` and ``diff.key_hashes``
    and must give the diff's own hash of the row: an email folded the warehouse's way
    (``Straße``, where Python's casefold says ``strasse``), a double and a numeric(12,2) key
    written out as the warehouse writes them, and text with separators and quotes."""
    from dbt_gainsight.sync.compare import Compared, KeyMaker

    schema = wh.target_schema
    wh.adapter.create_schema(wh.relation(schema, "x").without_identifier())
    source = wh.relation(schema, "gs_keys")
    store = StateStore(wh, f"{schema}_gainsight")
    store.ensure()
    text = wh.macro("type_string")
    columns = {"email": text, "ext": "double precision", "amount": "numeric(12,2)", "tag": text}
    rows = [
        ("Straße@X.de", 1001.0, Decimal("42.00"), "a,b"),
        ("o'Neil@x.com", 2.5, Decimal("0.10"), ""),
        ("ZOË@x.com", -3.0, Decimal("7.05"), "1:2,3"),
    ]
    marks = ", ".join([wh.binding_char()] * len(columns))
    wh.run_in_transaction(
        [(f"create table {source} ({', '.join(f'{c} {t}' for c, t in columns.items())})", None)]
        + [(f"insert into {source} values ({marks})", list(row)) for row in rows]
    )
    names = list(columns)
    query = _query(wh, store, source, columns=names, key_columns=names, folded_keys=("email",))
    by_tag = {}
    for got, chunk in wh.stream(query.stream_sql):
        at = {name.lower(): i for i, name in enumerate(got)}
        by_tag.update({row[at["tag"]]: row[at[diff.KEY_HASH]] for row in chunk})
    keys = KeyMaker(
        tuple(names),
        {n: Compared(n, n, n, lambda v: v, folded=n == "email") for n in names},
    )
    # As the audit reads them back: numbers as floats (42, not 42.00), emails as stored.
    read_back = [dict(zip(names, (e, x, float(a), t), strict=True)) for e, x, a, t in rows]
    texts = [keys.texts_of(values) for values in read_back]
    types = [None, "double precision", "numeric(12,2)", None]
    hashed = diff.key_hashes(wh, texts, types, [True, False, False, False])
    assert hashed == [by_tag[row[3]] for row in rows]
    assert len(set(hashed)) == len(rows)


def test_a_failed_query_is_one_warehouse_error_not_the_drivers_traceback(wh: Warehouse):
    """Out of memory, a lost connection, a dropped table: the sync's model ends with one line
    that says so, whichever way the query was read."""
    from dbt_gainsight.errors import WarehouseError

    missing = "select * from gs_no_such_table_anywhere"
    with pytest.raises(WarehouseError) as executed:
        wh.execute(missing, fetch=True)
    with pytest.raises(WarehouseError) as streamed:
        list(wh.stream(missing))
    for exc in (executed.value, streamed.value):
        text = str(exc)
        assert text.startswith("The warehouse failed a query of the sync: ")
        assert "gs_no_such_table_anywhere" in text and "\n" not in text
        assert exc.__cause__ is None and exc.__suppress_context__


@pytest.mark.parametrize("wh", ["duckdb"], indirect=True)  # Postgres runs out of process
def test_duckdb_out_of_memory_says_which_settings_fix_it(wh: Warehouse):
    """DuckDB's out-of-memory names the two profile settings that fix it (threads, limit)."""
    from dbt_gainsight.errors import WarehouseError

    assert wh.adapter_type == "duckdb"
    wh.execute("set memory_limit = '2MB'")
    wh.execute("set threads = 2")
    with pytest.raises(WarehouseError) as oom:
        wh.execute(
            "select i % 100000 as k, count(*), string_agg(i::varchar, ',') "
            "from range(2000000) t(i) group by 1",
            fetch=True,
        )
    text = str(oom.value)
    assert "Out of Memory" in text and "\n" not in text
    assert "`threads: 1`" in text and "`memory_limit`" in text


def test_a_ctrl_c_during_a_query_stays_a_ctrl_c(wh: Warehouse):
    """SIGINT while the warehouse runs a query is KeyboardInterrupt (exit 130 in the CLI), not
    a WarehouseError, and the connection still works after it. DuckDB's client swallows the
    signal into RuntimeError('Query interrupted'), which a sync once reported as a failed
    model (exit 1); psycopg2 used to sit out the whole query before Python saw the signal."""
    import os
    import signal
    import threading
    import time

    from dbt_gainsight.warehouse import cancel_postgres_queries_on_ctrl_c

    cancel_postgres_queries_on_ctrl_c()  # as the CLI's main() does
    slow = (  # bounded: DuckDB checks for the signal on most runs, not every one (~3 s)
        "select count(*) from range(1000000000) t(i) where i % 7 = 3"
        if wh.adapter_type == "duckdb"
        else "select pg_sleep(30)"
    )
    for run in (lambda: wh.execute(slow, fetch=True), lambda: list(wh.stream(slow))):
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
        started = time.monotonic()
        timer.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                run()
        finally:
            timer.cancel()
        if wh.adapter_type == "postgres":  # cancelled on the server, not slept out
            assert time.monotonic() - started < 10
        assert wh.execute("select 1", fetch=True) == [(1,)]  # rolled back, usable


def test_a_drivers_ctrl_c_is_told_from_its_other_errors():
    """The errors a Ctrl-C comes back as, wrapped the way dbt wraps them; and look-alikes that
    are real failures (a statement timeout, a query that failed) stay errors."""
    import psycopg2.errors
    from dbt_common.exceptions import DbtDatabaseError, DbtRuntimeError

    from dbt_gainsight.errors import raise_if_interrupted

    def wrapped(cause: BaseException, outer: type = DbtRuntimeError) -> BaseException:
        try:
            raise outer(str(cause)) from cause
        except Exception as exc:  # noqa: BLE001
            return exc

    for ctrl_c in (
        wrapped(RuntimeError("Query interrupted")),  # DuckDB, SIGINT during a query
        wrapped(
            psycopg2.errors.QueryCanceled("canceling statement due to user request"),
            DbtDatabaseError,
        ),
    ):
        with pytest.raises(KeyboardInterrupt):
            raise_if_interrupted(ctrl_c)
    for error in (
        wrapped(psycopg2.errors.QueryCanceled("canceling statement due to statement timeout")),
        wrapped(RuntimeError("Query interrupted by a bad plan")),
        wrapped(RuntimeError("Catalog Error: Table with name x does not exist")),
    ):
        raise_if_interrupted(error)  # returns: the caller reports it as a warehouse error


def test_the_cli_and_only_the_cli_lets_a_ctrl_c_cancel_postgres_queries():
    """The CLI's process polls psycopg2 (a Ctrl-C cancels the running query); importing the
    Python API leaves a host's psycopg2 as it was (its COPY keeps working)."""
    import subprocess
    import sys

    probe = (
        "import sys, psycopg2.extensions as ext\n"
        "from dbt_gainsight import api, cli\n"
        "before = ext.get_wait_callback()\n"
        "sys.argv = ['dbt-gainsight', '--version']\n"
        "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
        "print(before is None, getattr(ext.get_wait_callback(), '__name__', None))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == ["True", "wait_select"], done.stdout


# Decimal columns fetched as doubles (fetch.py) --------------------------------------------

DECIMALS = {  # column -> (type, precision, scale); all but the last two fit 15 digits
    "d15_0": ("decimal(15, 0)", 15, 0),
    "d15_2": ("decimal(15, 2)", 15, 2),
    "d15_7": ("decimal(15, 7)", 15, 7),
    "d15_15": ("decimal(15, 15)", 15, 15),
    "d9_4": ("decimal(9, 4)", 9, 4),
    "d4_1": ("decimal(4, 1)", 4, 1),
    "d16_2": ("decimal(16, 2)", 16, 2),  # 16 digits: not every one survives a double
    "d_free": ("numeric", 15, 2),  # Postgres: no declared precision (DuckDB: 18, 3)
}


def _decimal_values(precision: int, scale: int, n: int, seed: int) -> list[Decimal]:
    """The type's edges, then ``n`` random values of every length it holds."""
    rng = random.Random(seed)
    top = 10**precision - 1
    units = [top, -top, 1, -1, 0, 5, 10 ** (precision - 1), 3 * 10 ** max(0, scale - 1)]
    for _ in range(n):
        units.append(rng.choice((1, -1)) * rng.randrange(10 ** rng.randint(1, precision)))
    return [Decimal(u).scaleb(-scale) for u in units]


@pytest.mark.parametrize("wh", ["postgres"], indirect=True)
def test_json_numbers_reach_the_converter_as_written(wh: Warehouse):
    """psycopg2 decodes a jsonb number into a double, so 12345678901234567890.5, 1E-400 and
    0.10000000000000000001 were sent as 1.2345678901234567e+19, 0 and 0.1 where a numeric
    column of the same values is rejected (found by an attack). A JSON column mapped to a
    number field is fetched as its scalar's text: the converter rejects what it cannot send
    exactly, and a JSON string of digits still converts."""
    schema = wh.target_schema
    wh.adapter.create_schema(wh.relation(schema, "x").without_identifier())
    source = wh.relation(schema, "gs_json")
    store = StateStore(wh, f"{schema}_gainsight")
    store.ensure()
    payloads = ["12345678901234567890.5", "1E-400", "0.10000000000000000001", "42", '"12"']
    literals = ", ".join(f"({i}, '{p}'::jsonb)" for i, p in enumerate(payloads))
    wh.run_in_transaction(
        [
            (f"create table {source} (id integer, arr jsonb)", None),
            (f"insert into {source} values {literals}, ({len(payloads)}, null)", None),
        ]
    )
    meta = {"object": "Odd__gc", "keys": ["Id__gc"], "fields": {"id": "Id__gc", "arr": "N__gc"}}
    config = parse_sync_config(
        meta, model="gs_json", unique_id="model.t.gs_json", yaml_path="m.yml"
    )
    fields = {n: FieldSchema(n, "NUMBER") for n in ("Id__gc", "N__gc")}
    plan = ModelPlan(
        config, None, SYNC, relation=source, columns=("id", "arr"), key_columns=("id",)
    )
    plan.column_types = dict(wh.column_types(source))
    plan.schemas = {"Odd__gc": ObjectSchema("Odd__gc", "Odd", None, fields)}
    cast = fetch_casts(plan, wh.adapter_type)
    assert set(cast) == {"arr"}
    query = _by_id_query(wh, store, source, ["id", "arr"], fetch_as=cast)
    fetched = {r["id"]: r["arr"] for r in _rows(wh, query.stream_sql)}
    convert = number_converter(FieldSchema("N__gc", "NUMBER"))
    for i in range(3):
        with pytest.raises(ValueConversionError, match="N__gc"):
            convert(fetched[i])
    assert (convert(fetched[3]), convert(fetched[4]), fetched[5]) == (42, 12, None)


def test_decimals_of_up_to_15_digits_are_fetched_as_the_doubles_they_convert_to(wh: Warehouse):
    """A DECIMAL column of at most 15 digits mapped to a NUMBER field is cast to a double in
    the warehouse (a Python Decimal a value costs about 1 us). Over each type's edges and
    random values of every length, the warehouse's double is exactly ``float(Decimal)``, so
    Gainsight gets the same number; wider, unconstrained, key, STRING-mapped and twice-mapped
    columns are fetched as before; and the row hash is the stored value's either way."""
    schema = wh.target_schema
    wh.adapter.create_schema(wh.relation(schema, "x").without_identifier())
    source = wh.relation(schema, "gs_amounts")
    store = StateStore(wh, f"{schema}_gainsight")
    store.ensure()
    columns = ["id", *DECIMALS, "as_text", "twice"]
    types = ["integer", *(t for t, _, _ in DECIMALS.values()), "decimal(15, 2)", "decimal(15, 2)"]
    values = {
        c: _decimal_values(p, s, 400, seed=i) for i, (c, (_, p, s)) in enumerate(DECIMALS.items())
    }
    rows = [
        [Decimal(i), *(values[c][i] for c in DECIMALS), values["d15_2"][i], values["d15_2"][i]]
        for i in range(len(values["d15_0"]))
    ]
    cols = ", ".join(f"{wh.quote(c)} {t}" for c, t in zip(columns, types, strict=True))
    literals = ",\n".join("(" + ", ".join(f"'{v:f}'" for v in row) + ")" for row in rows)

    wh.run_in_transaction(
        [
            (f"create table {source} ({cols})", None),
            (f"insert into {source} values {literals}", None),
        ]
    )
    fields = {c: f"{c.capitalize()}__gc" for c in columns if c != "twice"}
    meta = {
        "object": "Amount__gc",
        "keys": ["Id__gc"],
        "fields": {**fields, "twice": "Twice__gc"},
    }
    config = parse_sync_config(
        meta, model="gs_amounts", unique_id="model.t.gs_amounts", yaml_path="m.yml"
    )
    number = {"Id__gc", "Twice__gc", *(f"{c.capitalize()}__gc" for c in DECIMALS)}
    schemas = {
        "Amount__gc": ObjectSchema(
            "Amount__gc",
            "Amount",
            None,
            {
                name: FieldSchema(name, "NUMBER" if name in number else "STRING")
                for name in [*fields.values(), "Twice__gc"]
            },
        )
    }
    plan = ModelPlan(
        config, None, SYNC, relation=source, columns=tuple(columns), key_columns=("id",)
    )
    plan.column_types = dict(wh.column_types(source))
    plan.schemas = schemas

    cast = fetch_casts(plan, wh.adapter_type)

    expected = {"d15_0", "d15_2", "d15_7", "d15_15", "d9_4", "d4_1", "twice"}
    assert set(cast) == expected  # not the key, not 16 digits, not numeric, not as_text
    typed = _by_id_query(wh, store, source, columns, fetch_as=cast)
    plain = _by_id_query(wh, store, source, columns)
    fetched = {r["id"]: r for r in _rows(wh, typed.stream_sql)}
    stored = {r["id"]: r for r in _rows(wh, plain.stream_sql)}
    assert len(fetched) == len(rows)
    convert = number_converter(FieldSchema("X__gc", "NUMBER"))
    for key, row in fetched.items():
        before = stored[key]
        assert row[diff.ROW_HASH] == before[diff.ROW_HASH]  # the state is unchanged
        for column in columns[1:]:
            if column in expected:
                assert type(row[column]) is float, (column, row[column])
                assert row[column] == float(before[column]), (column, before[column])
                assert convert(row[column]) == convert(before[column])
                assert type(convert(row[column])) is type(convert(before[column]))
            else:
                assert isinstance(row[column], Decimal), (column, row[column])
                assert row[column] == before[column]


def _by_id_query(
    wh: Warehouse, store: StateStore, relation, columns, fetch_as=None
) -> diff.DiffQuery:
    return _query(wh, store, relation, columns=columns, key_columns=["id"], fetch_as=fetch_as)


def _rows(wh: Warehouse, sql: str) -> list[dict[str, Any]]:
    out = []
    for names, chunk in wh.stream(sql):
        out += [dict(zip([n.lower() for n in names], row, strict=True)) for row in chunk]
    return out


def test_the_state_writer_stores_every_gsid_exactly_as_answered(wh: Warehouse):
    """A flush binds each column as one separated text where that is unambiguous (the
    driver's per-element conversion was a third of the writer's CPU); a flush holding a
    missing Gsid, an empty one or one with the separator falls back to lists. Either way
    the state holds exactly what Gainsight answered."""
    schema = wh.target_schema
    wh.adapter.create_schema(wh.relation(schema, "x").without_identifier())
    store = StateStore(wh, f"{schema}_gainsight")
    store.ensure()
    plain = {f"{i:032x}": (f"{i + 1:032x}", f"1P02{i:016d}") for i in range(300)}
    cases = {"plain": plain}
    for name, gsid in (("none", None), ("comma", "1P,02"), ("empty", "")):
        cases[name] = {"a" * 32: ("b" * 32, gsid), "c" * 32: ("d" * 32, "1P0299")}
    cases["alone"] = {"e" * 32: ("f" * 32, "")}
    for sync_id, records in cases.items():
        writer = StateWriter(store, sync_id=sync_id, run_id="r1", model_name="m")
        writer.accepted(
            list(records),
            [r for r, _ in records.values()],
            [g for _, g in records.values()],
            [False] * len(records),
        )
        writer.close()
        stored = wh.execute(
            f"select key_hash, row_hash, gsid from {store.state} "
            f"where sync_id = {wh.literal(sync_id)}",
            fetch=True,
        )
        assert {k: (r, g) for k, r, g in stored} == records
        assert len(stored) == len(records)


def test_duckdb_link_fields_of_people_are_fetched_like_the_persons_own():
    """A person's link fields (``Company_Person.X``) were left as the driver gave them, so on
    DuckDB a link DATE of 'infinity' went out as 9999-12-31 and a REAL 0.1 as
    0.10000000149011612 (found by reading fetch.py); the link object's describe types them
    like the Person's own fields. A key and the parent's match value stay as stored."""
    meta = {
        "object": "CompanyPerson",
        "fields": {
            "email": "Email",
            "company_name": "Company.Name",
            "since": "Company_Person.Since__gc",
            "score": "Company_Person.Score__gc",
            "born": "Birthday__gc",
        },
    }
    config = parse_sync_config(meta, model="people", unique_id="model.t.people", yaml_path="m.yml")
    schemas = {
        "Person": ObjectSchema(
            "Person",
            "Person",
            None,
            {n: FieldSchema(n, t) for n, t in (("Email", "EMAIL"), ("Birthday__gc", "DATE"))},
        ),
        "Company_Person": ObjectSchema(
            "Company_Person",
            "Company Person",
            None,
            {n: FieldSchema(n, t) for n, t in (("Since__gc", "DATE"), ("Score__gc", "NUMBER"))},
        ),
    }
    columns = ("email", "company_name", "since", "score", "born")
    plan = ModelPlan(config, None, SYNC, columns=columns, key_columns=("email",))
    types = ("VARCHAR", "DATE", "DATE", "FLOAT", "DATE")
    plan.column_types = dict(zip(columns, types, strict=True))
    cast = fetch_casts(plan, "duckdb", schemas)
    assert set(cast) == {"since", "score", "born"}  # not the key, not the parent's name
