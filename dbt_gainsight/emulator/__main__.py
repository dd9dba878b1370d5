"""``python -m dbt_gainsight.emulator``: the emulator CLI without the main dbt-gainsight CLI."""

from __future__ import annotations

from dbt_gainsight.emulator.cli import emulator_command

if __name__ == "__main__":
    emulator_command(prog_name="python -m dbt_gainsight.emulator")
