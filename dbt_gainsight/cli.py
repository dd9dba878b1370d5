"""The ``dbt-gainsight`` command line: a thin layer over ``dbt_gainsight.api``.

Flags are spelt as dbt spells them and read the same environment variables. Exit codes:
0 everything accepted, 1 something rejected or a model failed, 2 usage or config error
(nothing sent), 130 interrupted.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from dbt_gainsight import __version__
from dbt_gainsight.errors import ConfigError, GainsightSyncError, LockHeld
from dbt_gainsight.sync.report import ModelResult, SyncResult

# In CI logs (not a terminal) rich would assume 80 columns and squeeze the summary table.
_WIDTH = None if sys.stdout.isatty() else 200
console = Console(highlight=False, width=_WIDTH)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)  # greppable lines


# One module-level option per flag, reused by every command (as dbt's own CLI does).
project_dir = click.option(
    "--project-dir",
    envvar="DBT_PROJECT_DIR",
    type=click.Path(file_okay=False),
    help="The dbt project (default: current directory). Env: DBT_PROJECT_DIR.",
)
profiles_dir = click.option(
    "--profiles-dir",
    envvar="DBT_PROFILES_DIR",
    type=click.Path(file_okay=False),
    help="Where profiles.yml (and gainsight.yml) live. Env: DBT_PROFILES_DIR.",
)
target = click.option("--target", "-t", envvar="DBT_TARGET", help="dbt target to read from.")
vars_ = click.option("--vars", help="dbt vars, as YAML/JSON: '{key: value}'.")
select = click.option(
    "--select",
    "-s",
    "--models",
    "-m",
    multiple=True,
    help="dbt selector (any of dbt's grammar), e.g. tag:gainsight. Repeatable.",
)
exclude = click.option("--exclude", multiple=True, help="dbt selector to exclude. Repeatable.")
selector = click.option("--selector", help="A named selector from selectors.yml.")


def _split(values: tuple[str, ...]) -> list[str]:
    """Split ``-s "a b"`` into two selectors, as dbt does."""
    return [part for value in values for part in value.split()]


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
def sync(**kwargs: Any) -> None:
    """Send new and changed rows of the selected models to Gainsight."""
    from dbt_gainsight import api

    options = api.SyncOptions(
        select=_split(kwargs["select"]),
        exclude=_split(kwargs["exclude"]),
        selector=kwargs["selector"],
        dry_run=kwargs["dry_run"],
        full_refresh=kwargs["full_refresh"],
        state_schema=kwargs["state_schema"],
        ignore_run_results=kwargs["ignore_run_results"],
        max_calls=kwargs["max_calls"],
        allow_deletes=kwargs["allow_deletes"],
    )
    progress = ProgressView(console)
    try:
        with progress:
            result = api.sync(
                project_dir=kwargs["project_dir"],
                profiles_dir=kwargs["profiles_dir"],
                target=kwargs["target"],
                vars=kwargs["vars"],
                options=options,
                on_progress=progress.update,
                on_event=_event,
            )
    except GainsightSyncError as exc:
        _fail(exc)
    except KeyboardInterrupt:  # a second Ctrl-C: run results are written; leave now
        err_console.print("Interrupted.")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)  # not sys.exit: it would wait for calls still in flight
    print_summary(result)
    sys.exit(result.exit_code)


@cli.command()
@project_dir
@profiles_dir
@target
@vars_
@select
@exclude
@selector
@click.option("--online", is_flag=True, help="Also check every mapping against Gainsight.")
def validate(**kwargs: Any) -> None:
    """Check the meta.gainsight config of the selected models (exit 2 on any problem)."""
    from dbt_gainsight import api

    try:
        configs = api.validate(
            project_dir=kwargs["project_dir"],
            profiles_dir=kwargs["profiles_dir"],
            target=kwargs["target"],
            vars=kwargs["vars"],
            select=_split(kwargs["select"]),
            exclude=_split(kwargs["exclude"]),
            selector=kwargs["selector"],
            online=kwargs["online"],
        )
    except GainsightSyncError as exc:
        _fail(exc)
    for config in configs:
        console.print(
            f"OK  {config.model}: {config.object} ({config.behavior}), "
            f"keys {list(config.keys)}, {len(config.fields)} fields  ({config.yaml_path})",
            markup=False,
        )
    console.print(
        f"{len(configs)} model(s) valid{' against Gainsight' if kwargs['online'] else ''}."
    )


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
        _fail(exc)
    console.print(f"OK  connection '{info['connection']}' at {info['url']}: access key accepted.")


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


def _event(level: str, message: str) -> None:
    style = {"warn": "yellow", "error": "red"}.get(level, "")
    err_console.print(f"[{style}]{message}[/]" if style else message, markup=bool(style))


def _fail(exc: GainsightSyncError) -> None:
    label = (
        "Config error"
        if isinstance(exc, ConfigError) and not isinstance(exc, LockHeld)
        else "Error"
    )
    err_console.print(f"{label}: {exc}", markup=False)
    sys.exit(exc.exit_code)


class ProgressView:
    """A rich progress bar per model on a terminal; a log line per update otherwise (CI)."""

    LOG_EVERY = 10.0

    def __init__(self, out: Console):
        self.out = out
        self.live = out.is_terminal
        self.progress = None
        self.tasks: dict[str, int] = {}
        self.last_log: dict[str, float] = {}

    def __enter__(self) -> ProgressView:
        if self.live:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[stats]}"),
                TimeElapsedColumn(),
                console=self.out,
                transient=False,
            )
            self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.progress is not None:
            self.progress.stop()

    def update(self, model: ModelResult, read: int) -> None:
        """Called by the engine as batches are answered."""
        stats = (
            f"read {read:,}  sent {model.sent:,}  accepted {model.accepted:,}  "
            f"rejected {model.rejected:,}"
        )
        if self.progress is not None:
            task = self.tasks.get(model.unique_id)
            if task is None:
                task = self.progress.add_task(model.model, total=max(model.to_send, 1), stats="")
                self.tasks[model.unique_id] = task
            self.progress.update(task, completed=read, stats=stats)
            return
        now = time.monotonic()
        # CI logs: one line every LOG_EVERY seconds of a long model; the table has the totals.
        if now - self.last_log.setdefault(model.unique_id, now) >= self.LOG_EVERY:
            self.last_log[model.unique_id] = now
            self.out.print(f"{model.model}: {stats}", markup=False)


def print_summary(result: SyncResult) -> None:
    """The table at the end of a run."""
    title = (
        "Gainsight sync plan (dry run: no API call made)" if result.dry_run else "Gainsight sync"
    )
    table = Table(title=title, title_justify="left")
    columns: list[tuple[str, Callable[[ModelResult], Any]]] = [
        ("model", lambda m: m.model),
        ("object", lambda m: m.object),
        ("status", lambda m: m.status),
        ("rows", lambda m: m.rows),
        ("new", lambda m: m.new),
        ("changed", lambda m: m.changed),
        ("unchanged", lambda m: m.unchanged),
        ("retry", lambda m: m.retry),
        ("dup/null keys", lambda m: m.duplicates + m.null_keys),
    ]
    if result.dry_run:
        columns.append(("calls (max)", lambda m: m.planned_calls))
    else:
        columns += [
            ("sent", lambda m: m.sent),
            ("accepted", lambda m: m.accepted),
            ("rejected", lambda m: m.rejected),
            ("calls", lambda m: m.api_calls),
            ("429s", lambda m: m.rate_limited),
            ("secs", lambda m: f"{m.seconds:.1f}"),
        ]
    for name, _ in columns:
        table.add_column(name, justify="left" if name in ("model", "object", "status") else "right")
    for model in result.models:
        table.add_row(*[str(get(model)) for _, get in columns])
    console.print(table)
    for model in result.models:
        if model.message:
            console.print(f"{model.model}: {model.message}", markup=False)
        if model.no_longer_in_model:
            fate = f"{model.deleted} deleted" if model.deleted else "not deleted"
            console.print(
                f"{model.model}: {model.no_longer_in_model} records no longer in the model "
                f"({fate} in Gainsight)",
                markup=False,
            )
        for sample in model.first_rejects[:5]:
            console.print(
                f"{model.model}: rejected {sample.key}: "
                f"{sample.error_code}: {sample.error_message}",
                markup=False,
            )
    console.print(f"Run results: target/gainsight_run_results.json ({result.seconds:.1f}s)")


_register_emulator()
cli.add_command(__import__("dbt_gainsight.audit_cli", fromlist=["audit"]).audit)


def _register_native() -> None:
    from dbt_gainsight.native_cli import COMMANDS

    for command in COMMANDS:
        cli.add_command(command)


_register_native()


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
    cli(args=spread_selectors(sys.argv[1:]), prog_name="dbt-gainsight")


if __name__ == "__main__":
    main()
