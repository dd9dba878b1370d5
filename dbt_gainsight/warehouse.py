"""The warehouse through dbt's own adapter: one place that opens it, runs SQL and streams rows.

Everything here must work on any dbt adapter: SQL fragments come from dbt's cross-database
macros (``hash``, ``concat``, ``length``, ``type_string`` ...), identifiers are quoted by the
adapter, and rows are read with the driver's own cursor so memory stays flat.
"""

from __future__ import annotations

import os
import re
from argparse import Namespace
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from dbt_gainsight.errors import (
    LockHeld,
    ModelNotBuiltError,
    ProjectError,
    WarehouseError,
    raise_if_interrupted,
)
from dbt_gainsight.project import DbtArgs

FETCH_SIZE = 5_000


class Warehouse:
    """A live dbt adapter for the project's target, plus the macros we render SQL with.

    Create it only after selection is resolved: every dbtRunner invocation resets dbt's
    registered adapters.
    """

    def __init__(self, args: DbtArgs, manifest):
        from dbt.adapters.factory import get_adapter, register_adapter, reset_adapters
        from dbt.config.runtime import RuntimeConfig
        from dbt.context.providers import generate_runtime_macro_context
        from dbt.flags import set_from_args
        from dbt.mp_context import get_mp_context
        from dbt_common.context import set_invocation_context

        namespace = Namespace(
            project_dir=str(args.project_dir),
            profiles_dir=str(args.profiles_dir) if args.profiles_dir else None,
            target=args.target,
            profile=args.profile,
            vars=args.vars,
            threads=None,
        )
        try:
            # dbt renders env_var() from the environment its last invocation captured; a
            # long-lived process (an orchestrator, a test) may have changed it since.
            set_invocation_context(os.environ)
            set_from_args(namespace, None)
            self.config = RuntimeConfig.from_args(namespace)
            reset_adapters()
            register_adapter(self.config, get_mp_context())
        except Exception as exc:  # dbt raises many types for a bad profile
            raise ProjectError(
                f"dbt could not load the profile/target: {exc}. Check profiles.yml "
                "(--profiles-dir, DBT_PROFILES_DIR) and --target."
            ) from exc
        self.adapter = get_adapter(self.config)
        self.adapter.set_macro_resolver(manifest)
        self.adapter.set_macro_context_generator(generate_runtime_macro_context)
        self._macro_cache: dict[tuple, str] = {}
        self._lower: str | None = None  # the fold of email keys (``lower``)

    @property
    def adapter_type(self) -> str:
        """e.g. ``duckdb``, ``postgres``."""
        return self.adapter.type()

    @property
    def target_schema(self) -> str:
        """The schema of the active target (profiles.yml)."""
        return self.config.credentials.schema

    @property
    def target_database(self) -> str:
        """The database of the active target."""
        return self.config.credentials.database

    @contextmanager
    def connection(self, name: str):
        """A connection for the current thread; dbt keys connections by thread."""
        with self.adapter.connection_named(name):
            self.adapter.connections.get_thread_connection()
            try:
                self.adapter.execute("select 1")  # opens it, so environment-bound macros work
            except Exception as exc:
                _raise_if_file_locked(exc, self.config.credentials)
                raise
            yield self

    def close(self) -> None:
        """Release every connection dbt opened for us."""
        self.adapter.cleanup_connections()

    # SQL fragments -----------------------------------------------------------------------

    def macro(self, name: str, **kwargs: Any) -> str:
        """Render one of dbt's cross-database macros (cached: they are pure)."""
        key = (name, repr(sorted(kwargs.items())))
        if key not in self._macro_cache:
            rendered = self.adapter.execute_macro(name, kwargs=kwargs or None)
            self._macro_cache[key] = str(rendered).strip()
        return self._macro_cache[key]

    def lower(self, expr: str) -> str:
        """SQL that lower-cases a text the way Gainsight folds an email: every letter.

        Postgres's ``lower()`` follows the database's LC_CTYPE and folds only ASCII under
        ``C``; there ICU's root collation folds the rest, where the server has ICU (else
        plain ``lower()``: non-ASCII case then stays distinct). Asked once per warehouse.
        """
        if self._lower is None:
            self._lower = "lower({})"
            if self.adapter_type == "postgres":
                self._lower = self._postgres_lower()
        return self._lower.format(expr)

    def _postgres_lower(self) -> str:
        # Not guessed on failure: a wrong guess would change every email key's hash.
        [(plain, icu)] = self.fetch(
            "select lower('\u00c9') = '\u00e9', "
            "exists (select 1 from pg_collation where collname = 'und-x-icu')",
            [],
        )
        if plain or not icu:
            return "lower({})"
        return 'lower({} collate "und-x-icu")'

    def quote(self, identifier: str) -> str:
        """Quote an identifier the adapter's way; we never build SQL from bare names."""
        return self.adapter.quote(identifier)

    def literal(self, value: str) -> str:
        """A SQL string literal (dbt's ``string_literal`` after escaping quotes)."""
        escaped = self.macro("escape_single_quotes", expression=value)
        return f"'{escaped}'"

    def relation(self, schema: str, identifier: str):
        """A relation in this target's database."""
        return self.adapter.Relation.create(
            database=self.target_database, schema=schema, identifier=identifier
        )

    def table_names(self, schema: str) -> set[str]:
        """The lower-cased names of the relations in ``schema``, read now, not from dbt's cache.

        dbt caches a schema's relations on first listing; another process (a second sync, an
        audit) may have created one of ours since, and a create from the stale list fails.
        """
        schema_relation = self.relation(schema, "").without_identifier()
        found = self.adapter.list_relations_without_caching(schema_relation)
        return {r.identifier.lower() for r in found}

    # Reading -----------------------------------------------------------------------------

    def model_relation(self, node):
        """The model's relation, or ModelNotBuiltError when dbt has not built it yet."""
        relation = self.adapter.get_relation(node.database, node.schema, node.alias or node.name)
        if relation is None:
            raise ModelNotBuiltError(
                f"{node.relation_name} does not exist in the warehouse. "
                f"Build it first (`dbt build -s {node.name}`)."
            )
        return relation

    def column_types(self, relation) -> list[tuple[str, str]]:
        """The relation's (column name, warehouse data type) pairs, in table order."""
        return [(c.name, c.data_type) for c in self.adapter.get_columns_in_relation(relation)]

    def execute(self, sql: str, fetch: bool = False):
        """Run a statement; with ``fetch``, return rows as tuples (small results only)."""
        with self._failures():
            _, table = self.adapter.execute(sql, fetch=fetch)
        if not fetch:
            return None
        return [tuple(row.values()) for row in table.rows]

    def fetch(self, sql: str, bindings: Sequence[Any]) -> list[tuple]:
        """The rows of a statement with bound values, as tuples (small results only)."""
        with self._failures():
            _, cursor = self.adapter.connections.add_query(sql, bindings=bindings)
            return [tuple(row) for row in cursor.fetchall()]

    def stream(self, sql: str, fetch_size: int = FETCH_SIZE) -> Iterator[tuple[list[str], list]]:
        """Yield (column names, chunk of rows) with the driver's cursor, never the whole result.

        On Postgres a named (server-side) cursor; elsewhere ``fetchmany`` on the driver's
        cursor, which DuckDB, Snowflake, BigQuery and Redshift drivers serve incrementally.
        """
        handle = self.adapter.connections.get_thread_connection().handle
        with self._failures():  # its catalog query too: a Ctrl-C there is an interrupt
            cursor = _server_side_cursor(handle)
        failed = False
        try:
            with self._failures():
                cursor.execute(sql)
                rows = cursor.fetchmany(fetch_size)  # a named cursor describes after a fetch
            names = [d[0] for d in cursor.description]
            while rows:
                yield names, rows
                with self._failures():
                    rows = cursor.fetchmany(fetch_size)
        except BaseException:  # a failed query or a Ctrl-C: its transaction is rolled back
            failed = True
            raise
        finally:
            if cursor is not getattr(handle, "_cursor", None):  # dbt-duckdb shares one cursor
                try:
                    cursor.close()
                except Exception:  # noqa: BLE001 - gone with the rolled-back transaction
                    if not failed:
                        raise

    def run_in_transaction(self, statements: Sequence[tuple[str, Sequence[Any] | None]]) -> None:
        """Run statements (sql, bindings) atomically on this thread's connection."""
        conns = self.adapter.connections
        if conns.get_thread_connection().transaction_open:
            conns.commit()  # end the implicit transaction dbt opened for earlier reads
        conns.begin()
        try:
            for sql, bindings in statements:
                conns.add_query(sql, auto_begin=False, bindings=bindings)
            conns.commit()
        except BaseException:
            conns.rollback_if_open()
            raise

    @contextmanager
    def _failures(self) -> Iterator[None]:
        """A failed query is one line that says what to do, not the driver's traceback.

        The transaction is rolled back, so the next model's queries run (Postgres refuses
        every statement of an aborted transaction).
        """
        try:
            yield
        except (WarehouseError, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - dbt's and every driver's errors alike
            try:  # first, so what runs after a Ctrl-C (leases, run history) can still write
                self._roll_back()
            except Exception:  # noqa: BLE001 - the query's own error is the one to report
                pass
            raise_if_interrupted(exc)
            raise WarehouseError(_failure_text(exc)) from None

    def _roll_back(self) -> None:
        conns = self.adapter.connections
        connection = conns.get_thread_connection()
        if connection.transaction_open:
            conns.rollback_if_open()
        elif type(connection.handle).__module__.startswith("psycopg2"):
            connection.handle.rollback()  # the driver's implicit transaction, unknown to dbt

    def binding_char(self) -> str:
        """The driver's placeholder (``%s`` on Postgres, ``?`` on DuckDB)."""
        return self.macro("get_binding_char")


def _raise_if_file_locked(exc: Exception, credentials) -> None:
    """DuckDB lets one process open a file: say so in one line instead of dbt's traceback."""
    text = str(exc)
    if "Could not set lock" not in text:
        return
    holder = re.search(r"\(PID (\d+)\)", text)
    by = f"process {holder.group(1)}" if holder else "another process"
    raise LockHeld(
        f"The DuckDB file {getattr(credentials, 'path', '')} is in use by {by} (another sync "
        "or dbt command); nothing was sent. Run again when it has finished."
    ) from None


def cancel_postgres_queries_on_ctrl_c() -> None:
    """Let a Ctrl-C cancel a running Postgres query instead of waiting for its end.

    psycopg2 blocks in C for a whole query, so Python sees SIGINT only when the query has
    finished: a Ctrl-C during a long diff query waited for it. psycopg2's documented
    ``wait_select`` callback polls instead, and on KeyboardInterrupt sends the server a
    cancel; the query then fails with "canceling statement due to user request", which
    ``raise_if_interrupted`` turns back into the Ctrl-C.

    The callback is process-wide (psycopg2 has no other kind) and rules out COPY, so only
    the CLI sets it, in its own process; a host calling the Python API (Airflow, Dagster)
    keeps its psycopg2 as it was.
    """
    try:
        import psycopg2.extensions
        import psycopg2.extras
    except ImportError:  # no Postgres adapter installed: nothing to cancel
        return
    if psycopg2.extensions.get_wait_callback() is None:
        psycopg2.extensions.set_wait_callback(psycopg2.extras.wait_select)


def _failure_text(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    if text.startswith("Runtime Error "):
        text = text[len("Runtime Error ") :]
    hint = ""
    if "Out of Memory" in text:
        text = text.split(" Possible solutions")[0]
        hint = (
            " DuckDB runs in this process: in the profile's `settings:` set DuckDB's"
            " `threads: 1` (each thread needs its own memory) or raise `memory_limit`"
            " (README, 'Running against Postgres', says how)."
        )
    return f"The warehouse failed a query of the sync: {text}.{hint}"


def _server_side_cursor(handle):
    module = type(handle).__module__
    if module.startswith("psycopg2"):
        cursor = handle.cursor(name="dbt_gainsight_stream", withhold=True)
        cursor.itersize = FETCH_SIZE
        _read_dates_leniently(cursor)  # year 10000 rejects its record, not the read
        _read_text_arrays(handle, cursor)  # an enum array is a list, not '{a,b}'
        return cursor
    return handle.cursor()


def _read_text_arrays(handle: Any, cursor: Any) -> None:
    """Let a psycopg2 cursor read arrays of enums and other text-like types as lists.

    Text-like: Postgres's string and enum categories, domains over them included.

    psycopg2 parses only the arrays of types it knows and hands any other over as one text,
    ``'{Retail,Software}'``; ``array_agg`` of an enum column makes such an array, and a
    multiselect would send that text as one label. One catalog query per stream; scoped to
    ``cursor``.
    """
    from psycopg2 import extensions as ext

    with handle.cursor() as catalog:
        catalog.execute(
            "select typarray from pg_catalog.pg_type "
            "where typarray <> 0 and typcategory in ('S', 'E')"  # a domain takes its base's
        )
        oids = tuple(oid for (oid,) in catalog.fetchall())
    if oids:
        ext.register_type(ext.new_array_type(oids, "GS_TEXT_ARRAY", ext.UNICODE), cursor)


INFINITIES = frozenset({"infinity", "-infinity"})  # Postgres's unbounded dates, as text


def _read_dates_leniently(cursor: Any) -> None:
    """Let a psycopg2 cursor read dates and timestamps Python cannot hold (year 10000, BC).

    psycopg2 fails the whole fetch on one of them; with this, such a value arrives as its
    text, as DuckDB gives it, and only its record is rejected. So do ``infinity`` and
    ``-infinity``, which psycopg2 would turn into real dates (9999-12-31, 0001-01-01).
    Scoped to ``cursor``.
    """
    from psycopg2 import extensions as ext

    for base, array_oid in ((ext.PYDATE, 1182), (ext.PYDATETIME, 1115), (ext.PYDATETIMETZ, 1185)):

        def cast(value: str | None, cur: Any, base: Any = base) -> Any:
            if value in INFINITIES:
                return value
            try:
                return base(value, cur)
            except (ValueError, OverflowError):
                return value

        caster = ext.new_type(base.values, f"GS_{base.name}", cast)
        ext.register_type(caster, cursor)
        ext.register_type(ext.new_array_type((array_oid,), f"GS_{base.name}_ARRAY", caster), cursor)
