"""The ``dbt-gainsight`` command line: a thin layer over ``dbt_gainsight.api``.

Flags are spelt as dbt spells them and read the same environment variables. Exit codes:
0 everything accepted, 1 something rejected or a model failed, 2 usage or config error
(nothing sent), 130 interrupted.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from dbt_gainsight import __version__, interrupts
from dbt_gainsight.audit_cli import audit
from dbt_gainsight.cli_common import (
    console,
    err_console,
    exclude,
    fail,
    log_format,
    parse_flag,
    profiles_dir,
    project_args,
    project_dir,
    select,
    selection_args,
    selector,
    show_values,
    target,
    vars_,
)
from dbt_gainsight.errors import GainsightSyncError
from dbt_gainsight.events import ApiLog, JsonLogObserver, RunObserver
from dbt_gainsight.native_cli import COMMANDS as NATIVE_COMMANDS
from dbt_gainsight.render import ConsoleObserver, print_summary


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dbt-gainsight")
def cli() -> None:
    """Sync dbt models to Gainsight, configured in each model's config.meta.gainsight."""


@cli.command()
@project_dir
@profiles_dir
@target
@vars_
@select
@exclude
@selector
@click.option("--dry-run", is_flag=True, help="Plan only: counts per model, no API call.")
@click.option("--full-refresh", is_flag=True, help="Forget the sync state: resend every row.")
@click.option("--state-schema", help="Schema for state tables (default <target schema>_gainsight).")
@click.option(
    "--ignore-run-results",
    is_flag=True,
    help="Sync models even if their last dbt run failed or was skipped.",
)
@click.option(
    "--max-calls",
    type=click.IntRange(min=0),
    help="Refuse (exit 2, no call made) a run estimated over N API calls.",
)
@click.option(
    "--allow-deletes",
    type=click.IntRange(min=0),
    help="Allow up to N mirror deletes this run, past a model's deletes limits.",
)
@log_format
@show_values
@parse_flag
@click.option(
    "--api-log",
    type=click.Path(dir_okay=False, writable=True),
    help="Write every HTTP call to FILE as one JSON line (never the access key).",
)
@click.option(
    "--api-log-bodies",
    is_flag=True,
    help="With --api-log: also write request and response bodies (record values).",
)
def sync(**kwargs: Any) -> None:
    """Send new and changed rows of the selected models to Gainsight."""
    from dbt_gainsight import api

    options = api.SyncOptions(
        **selection_args(kwargs),
        dry_run=kwargs["dry_run"],
        full_refresh=kwargs["full_refresh"],
        state_schema=kwargs["state_schema"],
        ignore_run_results=kwargs["ignore_run_results"],
        max_calls=kwargs["max_calls"],
        allow_deletes=kwargs["allow_deletes"],
    )
    observer = _observer(kwargs)
    api_log = None
    if kwargs["api_log"]:
        try:
            api_log = ApiLog(kwargs["api_log"], bodies=kwargs["api_log_bodies"], observer=observer)
        except OSError as exc:
            raise click.UsageError(f"--api-log {kwargs['api_log']}: {exc.strerror}") from None
        observer.on_call = api_log.call
    try:
        with observer:
            result = api.sync(
                **project_args(kwargs),
                options=options,
                on_progress=observer.progress,
                on_event=observer.message,
                observer=observer,
                parse=kwargs["parse"],
            )
    except GainsightSyncError as exc:
        fail(exc, observer)
    except KeyboardInterrupt:  # a second Ctrl-C: run results are written; leave now
        err_console.print("Interrupted.")
        if api_log is not None:
            api_log.close()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)  # not sys.exit: it would wait for calls still in flight
    finally:
        if api_log is not None:
            api_log.close()
    where = _results_path(result, kwargs["project_dir"])
    observer.run_end(result, where)
    if isinstance(observer, ConsoleObserver):
        print_summary(console, result, show_values=kwargs["show_values"], results_path=where)
    sys.exit(result.exit_code)


def _observer(kwargs: dict[str, Any]) -> RunObserver:
    """Text (terminal or CI log) or JSON lines, per --log-format."""
    if kwargs.get("log_format", "text").lower() == "json":
        return JsonLogObserver(sys.stdout, show_values=kwargs.get("show_values", False))
    return ConsoleObserver(console, err_console, show_values=kwargs.get("show_values", False))


def _results_path(result: Any, project_dir: str | None) -> str | None:
    """Run results' path as the user would type it from the project directory."""
    import os
    from pathlib import Path

    from dbt_gainsight.project import relative_to_project

    if result.results_path is None:
        return None
    project = Path(project_dir or os.environ.get("DBT_PROJECT_DIR") or ".")
    return relative_to_project(result.results_path, project)


@cli.command()
@project_dir
@profiles_dir
@target
@vars_
@select
@exclude
@selector
@parse_flag
@log_format
@click.option("--online", is_flag=True, help="Also check every mapping against Gainsight.")
def validate(**kwargs: Any) -> None:
    """Check the meta.gainsight config of the selected models (exit 2 on any problem)."""
    from dbt_gainsight import api

    observer = _observer(kwargs)
    try:
        configs = api.validate(
            **project_args(kwargs),
            **selection_args(kwargs),
            online=kwargs["online"],
            on_event=observer.message,
            parse=kwargs["parse"],
        )
    except GainsightSyncError as exc:
        fail(exc, observer)
    against = " against Gainsight" if kwargs["online"] else ""
    if isinstance(observer, JsonLogObserver):
        for config in configs:
            observer.emit("valid", {"model": config.model, "object": config.object})
        observer.emit("validate_end", {"models": len(configs), "online": kwargs["online"]})
        return
    for config in configs:
        console.print(
            f"OK  {config.model}: {config.object} ({config.behavior}), "
            f"keys {list(config.keys)}, {len(config.fields)} fields  ({config.yaml_path})",
            markup=False,
        )
    console.print(f"{len(configs)} model(s) valid{against}.")


@cli.command()
@project_dir
@profiles_dir
@click.option("--connection", help="A connection name from gainsight.yml (default: default).")
def check(**kwargs: Any) -> None:
    """Test the Gainsight URL and access key with one cheap call."""
    from dbt_gainsight import api

    try:
        info = api.check(
            project_dir=kwargs["project_dir"],
            profiles_dir=kwargs["profiles_dir"],
            connection=kwargs["connection"],
        )
    except GainsightSyncError as exc:
        fail(exc)
    console.print(f"OK  connection '{info['connection']}' at {info['url']}: access key accepted.")


@cli.command()
@project_dir
@profiles_dir
@target
@vars_
@select
@exclude
@selector
@parse_flag
@click.option("--state-schema", help="Schema of the state tables (default as for sync).")
@click.option(
    "--output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one JSON document on stdout.",
)
def status(**kwargs: Any) -> None:
    """Last runs per model, open rejects by code, and when each model last synced."""
    from dbt_gainsight.status import status as read_status

    try:
        report = read_status(
            **project_args(kwargs),
            **selection_args(kwargs),
            state_schema=kwargs["state_schema"],
            parse=kwargs["parse"],
            on_event=ConsoleObserver(console, err_console).message,
        )
    except GainsightSyncError as exc:
        fail(exc)
    if kwargs["output"] == "json":
        click.echo(json.dumps(report, indent=2, default=str))
        return
    from dbt_gainsight.render import print_status

    print_status(console, report)


@cli.command()
@click.option("--properties", is_flag=True, help="The schema of a whole dbt properties file.")
@click.option("--path", "show_path", is_flag=True, help="Print the shipped file's path instead.")
def schema(properties: bool, show_path: bool) -> None:
    """Print the JSON Schema of config.meta.gainsight (for editors and CI)."""
    from dbt_gainsight.config.model import load_schema
    from dbt_gainsight.schemas import properties_schema, shipped_path

    if show_path:
        click.echo(shipped_path(properties))
    elif properties:
        click.echo(json.dumps(properties_schema(), indent=2))
    else:
        click.echo(json.dumps(load_schema(), indent=2))


def _register_emulator() -> None:
    from dbt_gainsight.emulator.cli import emulator_command

    cli.add_command(emulator_command, name="emulator")


_register_emulator()
cli.add_command(audit)


for command in NATIVE_COMMANDS:
    cli.add_command(command)


_MULTI_VALUE_FLAGS = frozenset({"-s", "--select", "-m", "--models", "--exclude", "--keys"})


def spread_selectors(argv: list[str]) -> list[str]:
    """Let ``-s a b c`` mean ``-s a -s b -s c``, as dbt's own CLI accepts it."""
    out: list[str] = []
    flag = None
    for token in argv:
        if token.startswith("-"):
            flag = token if token in _MULTI_VALUE_FLAGS else None
            out.append(token)
        elif flag and out[-1] != flag:
            out += [flag, token]
        else:
            out.append(token)
    return out


def main() -> None:
    """Console-script entry point."""
    interrupts.install()  # Ctrl-C and SIGTERM: exit 130 (the emulator sets its own)
    try:
        from dbt_gainsight.warehouse import cancel_postgres_queries_on_ctrl_c

        cancel_postgres_queries_on_ctrl_c()  # a Ctrl-C cancels a running Postgres query
        # Not standalone: click would turn a Ctrl-C that lands while it parses or a command
        # starts into "Aborted!" and exit 1; every Ctrl-C here is exit 130.
        code = cli.main(
            args=spread_selectors(sys.argv[1:]), prog_name="dbt-gainsight", standalone_mode=False
        )
    except (click.exceptions.Abort, KeyboardInterrupt):
        _exit_interrupted()
    except click.ClickException as exc:  # usage errors: click's own message and exit code
        exc.show()
        sys.exit(exc.exit_code)
    except Exception:
        if interrupts.tripped():  # a library wrapped the Ctrl-C in its own error
            _exit_interrupted()
        raise
    sys.exit(code if isinstance(code, int) else 0)


def _exit_interrupted() -> None:
    """Ctrl-C before or between a command's own handlers: one line, exit 130, no waiting."""
    try:
        err_console.print("Interrupted.")
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(130)


if __name__ == "__main__":
    main()
