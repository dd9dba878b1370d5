"""What every ``dbt-gainsight`` command shares: the consoles, dbt's flags, and how one ends.

A module of its own so the command modules (``cli.py``, ``audit_cli.py``, ``native_cli.py``)
import it and ``cli.py`` imports them, with no cycle: any of them can be imported first.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from dbt_gainsight import interrupts
from dbt_gainsight.errors import ConfigError, GainsightSyncError, LockHeld, SyncInterrupted
from dbt_gainsight.events import JsonLogObserver, RunObserver
from dbt_gainsight.render import ConsoleObserver, make_consoles

console, err_console = make_consoles()


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
log_format = click.option(
    "--log-format",
    envvar="DBT_LOG_FORMAT",
    type=click.Choice(["text", "json", "default", "debug"], case_sensitive=False),
    default="text",
    show_default=True,
    help="json: one JSON event per line on stdout (docs/events.md). Env: DBT_LOG_FORMAT.",
)
show_values = click.option(
    "--show-values",
    is_flag=True,
    help="Print rejected records' key values and Gainsight's messages (else codes and counts).",
)
parse_flag = click.option(
    "--parse/--no-parse",
    "parse",
    default=None,
    help="Force (or skip) `dbt parse`; default: reuse target/manifest.json when current.",
)


def _split(values: tuple[str, ...]) -> list[str]:
    """Split ``-s "a b"`` into two selectors, as dbt does."""
    return [part for value in values for part in value.split()]


def project_args(kwargs: dict[str, Any]) -> dict[str, Any]:
    """--project-dir, --profiles-dir, --target and --vars as the Python API's keywords."""
    return {name: kwargs[name] for name in ("project_dir", "profiles_dir", "target", "vars")}


def selection_args(kwargs: dict[str, Any]) -> dict[str, Any]:
    """--select and --exclude (split as dbt does), and --selector where the command has it."""
    args: dict[str, Any] = {
        "select": _split(kwargs["select"]),
        "exclude": _split(kwargs["exclude"]),
    }
    if "selector" in kwargs:
        args["selector"] = kwargs["selector"]
    return args


def event(level: str, message: str) -> None:
    """A warning or note on stderr, for commands without a run observer (audit, ...)."""
    ConsoleObserver(console, err_console).message(level, message)


def fail(exc: GainsightSyncError, observer: RunObserver | None = None) -> None:
    """Print a command's error once (text or a JSON event) and exit with its code."""
    if interrupts.tripped() and not isinstance(exc, SyncInterrupted):
        exc = SyncInterrupted("Interrupted.")  # a library wrapped the Ctrl-C in its own error
    if isinstance(observer, JsonLogObserver):
        problems = [vars(p) for p in getattr(exc, "problems", [])]
        observer.failed(exc.exit_code, str(exc).split("\n", 1)[0], problems)
        sys.exit(exc.exit_code)
    is_config = isinstance(exc, ConfigError) and not isinstance(exc, LockHeld)
    label = "Config error" if is_config else "Error"
    err_console.print(f"{label}: {exc}", markup=False)
    sys.exit(exc.exit_code)
