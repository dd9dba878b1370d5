"""The dbt-native commands: ``init``, ``build`` and ``exposures`` (registered by cli.py)."""

from __future__ import annotations

import sys
from typing import Any

import click

from dbt_gainsight.cli_common import (
    console,
    err_console,
    exclude,
    fail,
    profiles_dir,
    project_args,
    project_dir,
    select,
    selection_args,
    selector,
    target,
    vars_,
)
from dbt_gainsight.errors import GainsightSyncError
from dbt_gainsight.render import ConsoleObserver, print_summary


def _words(values: tuple[str, ...]) -> list[str]:
    """``--keys "A B"`` / ``--keys A,B`` / ``--keys A --keys B`` -> [A, B]."""
    return [part for value in values for part in value.replace(",", " ").split()]


@click.command("init")
@click.argument("model")
@click.option("--object", "object_name", required=True, help="The Gainsight object it feeds.")
@click.option("--keys", multiple=True, help="Gainsight fields that identify a record.")
@click.option("--connection", help="A connection from gainsight.yml (default: default).")
@click.option("--write", is_flag=True, help="Insert the block into the model's YAML file.")
@click.option("--force", is_flag=True, help="With --write: replace an existing gainsight block.")
@project_dir
@profiles_dir
@target
@vars_
def init_command(**kwargs: Any) -> None:
    """Propose a model's meta.gainsight block from its columns and Gainsight's describe."""
    from dbt_gainsight.init import init

    try:
        result = init(
            kwargs["model"],
            kwargs["object_name"],
            keys=_words(kwargs["keys"]),
            connection=kwargs["connection"],
            write=kwargs["write"],
            force=kwargs["force"],
            **project_args(kwargs),
        )
    except GainsightSyncError as exc:
        fail(exc)
    proposal = result.proposal
    click.echo(result.snippet, nl=False)
    mapped = len(proposal.fields) + len(proposal.lookups)
    total = mapped + len(proposal.unmapped)
    err_console.print(
        f"{proposal.model}: {mapped} of {total} columns mapped (columns from "
        f"{result.columns_from}); {len(proposal.mismatches)} type mismatch(es) marked CHECK.",
        markup=False,
    )
    if result.written:
        err_console.print(f"Wrote the block: {result.written}.", markup=False)
    sys.exit(0)


@click.command(
    "build",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@project_dir
@profiles_dir
@target
@vars_
@select
@exclude
@selector
@click.option("--state-schema", help="Schema for state tables (default <target schema>_gainsight).")
@click.argument("dbt_args", nargs=-1, type=click.UNPROCESSED)
def build_command(**kwargs: Any) -> None:
    """Run dbt build on the selection, then sync the models with a gainsight block that built.

    Any other flag goes to dbt build as is (--threads 4, --fail-fast, --full-refresh ...).
    Exit code: dbt's when dbt failed, else the sync's.
    """
    from dbt_gainsight.build import build

    progress = ConsoleObserver(console, err_console)
    try:
        with progress:
            result = build(
                kwargs["dbt_args"],
                **project_args(kwargs),
                **selection_args(kwargs),
                state_schema=kwargs["state_schema"],
                on_progress=progress.progress,
                on_event=progress.message,
            )
    except GainsightSyncError as exc:
        fail(exc)
    except KeyboardInterrupt:
        err_console.print("Interrupted.")
        sys.exit(130)
    if result.sync is not None:
        print_summary(console, result.sync)
    if not result.dbt_success:
        err_console.print(f"dbt build failed: exit {result.dbt_exit_code}.", markup=False)
    sys.exit(result.exit_code)


@click.command("exposures")
@project_dir
@profiles_dir
@target
@vars_
@select
@exclude
@click.option(
    "--write", "write_path", help="Write the YAML here (e.g. models/gainsight_exposures.yml)."
)
@click.option(
    "--owner-name", help="Exposure owner's name (default: exposure_owner in gainsight.yml)."
)
@click.option("--owner-email", help="Exposure owner's email.")
def exposures_command(**kwargs: Any) -> None:
    """Print (or write) dbt exposures: one per Gainsight object the models feed."""
    from dbt_gainsight.exposures import exposures

    try:
        text, found, warnings = exposures(
            **project_args(kwargs),
            **selection_args(kwargs),
            owner_name=kwargs["owner_name"],
            owner_email=kwargs["owner_email"],
            write=kwargs["write_path"],
        )
    except GainsightSyncError as exc:
        fail(exc)
    for warning in warnings:
        err_console.print(f"warning: {warning}", markup=False)
    if kwargs["write_path"]:
        names = ", ".join(e.name for e in found) or "none"
        console.print(f"Wrote {len(found)} exposure(s) to {kwargs['write_path']}: {names}.")
    else:
        click.echo(text, nl=False)


COMMANDS = [init_command, build_command, exposures_command]
