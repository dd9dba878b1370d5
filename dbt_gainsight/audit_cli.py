"""The ``dbt-gainsight audit`` command (registered on the main group by cli.py)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from dbt_gainsight.cli_common import (
    console,
    err_console,
    event,
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
from dbt_gainsight.errors import GainsightSyncError, SyncInterrupted
from dbt_gainsight.sync.audit import AuditResult


@click.command()
@project_dir
@profiles_dir
@target
@vars_
@select
@exclude
@selector
@click.option("--state-schema", help="Schema of the state tables (default <target>_gainsight).")
@click.option(
    "--max-calls",
    type=click.IntRange(min=0),
    help="Refuse (exit 2) when the read is estimated over N calls; stop reading at N.",
)
@click.option(
    "--repair",
    is_flag=True,
    help="Mark drifted and missing rows in the sync state so the next sync resends them.",
)
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def audit(**kwargs: Any) -> None:
    """Read Gainsight back and report drift from the models (exit 1 when there is any)."""
    from dbt_gainsight.sync.audit import audit as run_audit

    as_json = kwargs["output"] == "json"
    try:
        result = run_audit(
            **project_args(kwargs),
            **selection_args(kwargs),
            state_schema=kwargs["state_schema"],
            max_calls=kwargs["max_calls"],
            repair=kwargs["repair"],
            on_event=event,
        )
    except (KeyboardInterrupt, SyncInterrupted):
        err_console.print("Interrupted.")
        sys.exit(130)
    except GainsightSyncError as exc:
        fail(exc)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        print_audit(result)
    sys.exit(result.exit_code)


def print_audit(result: AuditResult) -> None:
    """One line per model, then the first findings."""
    for m in result.models:
        if m.status in ("skipped", "error") and not m.read:  # say why, not a line of zeros
            reason = (m.message or "").removeprefix(f"{m.model}: ")
            console.print(f"{m.model} ({m.object}): {m.status}: {reason}", markup=False)
            continue
        line = (
            f"{m.model} ({m.object}): {m.status}; {m.rows:,} rows, {m.read:,} records read in "
            f"{m.calls} calls; missing {m.missing:,}, differing {m.differs:,} "
            f"({m.differing_values:,} values), orphans {m.orphans:,}"
        )
        if m.unsendable:
            line += f", {m.unsendable:,} rows the sync cannot send"
        console.print(line, markup=False)
        for d in m.samples:
            what = f"{d.kind} {d.key}"
            if d.field:
                what += f" {d.field}: model {d.model_value!r}, Gainsight {d.gainsight_value!r}"
            elif d.gsid:
                what += f" (Gsid {d.gsid})"
            console.print(f"  {what}", markup=False)
        if m.repaired:
            console.print(
                f"  repaired: {m.repaired:,} rows marked in the state; the next "
                "`dbt-gainsight sync` resends them",
                markup=False,
            )
    console.print(
        f"Drift rows: {result.state_schema or '<state schema>'}.gainsight_audit; "
        "results: target/gainsight_audit_results.json "
        f"({result.seconds:.1f}s)",
        markup=False,
    )
