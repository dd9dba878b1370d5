"""``dbt-gainsight emulator``: run the local Gainsight API until Ctrl-C or SIGTERM."""

from __future__ import annotations

import signal
import threading
from typing import Any

import click
from click.core import ParameterSource


def _limit(value: int) -> int | None:
    return value or None


@click.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8756, show_default=True, type=int, help="Port (0: a free one).")
@click.option(
    "--access-key",
    envvar="GAINSIGHT_ACCESS_KEY",
    default="emulator-key",
    show_default=True,
    help="The key clients must send [env: GAINSIGHT_ACCESS_KEY].",
)
@click.option(
    "--rate-limit-per-minute", default=100, show_default=True, type=int, help="0 turns it off."
)
@click.option("--daily-limit", default=50_000, show_default=True, type=int, help="0: off.")
@click.option("--latency-ms", default=0.0, show_default=True, type=float, help="Added per reply.")
@click.option(
    "--objects",
    "objects_file",
    type=click.Path(exists=True, dir_okay=False),
    help="YAML/JSON with custom objects and extra fields (describe's shape).",
)
@click.option(
    "--state-file",
    type=click.Path(dir_okay=False),
    help="sqlite file that keeps records across restarts (default: in memory).",
)
@click.pass_context
def emulator_command(
    ctx: click.Context,
    host: str,
    port: int,
    access_key: str,
    rate_limit_per_minute: int,
    daily_limit: int,
    latency_ms: float,
    objects_file: str | None,
    state_file: str | None,
) -> None:
    """Run a local Gainsight API emulator that enforces the real API's contract."""
    # Here, not at the top: every dbt-gainsight command loads this module to list the command.
    from dbt_gainsight.emulator.emulator import Emulator
    from dbt_gainsight.emulator.objects import ObjectsFileError

    try:
        gs = Emulator(
            access_key=access_key or "emulator-key",
            rate_limit_per_minute=_limit(rate_limit_per_minute),
            daily_limit=_limit(daily_limit),
            latency_ms=latency_ms,
            objects_file=objects_file,
            state_file=state_file,
            host=host,
            port=port,
        )
    except (ObjectsFileError, OSError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        gs.start()
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from exc
    done = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    # A key read from GAINSIGHT_ACCESS_KEY may be a real tenant's key: never print it.
    from_env = ctx.get_parameter_source("access_key") == ParameterSource.ENVIRONMENT
    shown = "$GAINSIGHT_ACCESS_KEY" if from_env and access_key else gs.access_key
    click.echo(f"Gainsight emulator on {gs.url} (access key: {shown})")
    limits = f"{rate_limit_per_minute or 'no'} calls/minute, {daily_limit or 'no'} calls/day"
    click.echo(f"Limits: {limits}. Inspect: {gs.url}/__emulator__/counters. Ctrl-C to stop.")
    try:
        while not done.wait(0.5):
            pass
    finally:
        gs.stop()
        click.echo("Gainsight emulator stopped.")
