"""The CLI reads dbt-style selector lists, and its modules import in any order."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_cli_spreads_several_selectors_after_one_flag():
    from dbt_gainsight.cli import spread_selectors

    argv = ["sync", "-s", "a", "b", "--exclude", "c", "d", "--dry-run", "--target", "pg"]
    assert spread_selectors(argv) == [
        "sync",
        "-s",
        "a",
        "-s",
        "b",
        "--exclude",
        "c",
        "--exclude",
        "d",
        "--dry-run",
        "--target",
        "pg",
    ]


def test_the_audit_summary_says_why_a_model_was_skipped_and_counts_the_others():
    from dbt_gainsight import audit_cli
    from dbt_gainsight.sync.audit import AuditModel, AuditResult

    people = AuditModel("gs_people", "CompanyPerson", status="skipped")
    people.message = "gs_people: disabled (enabled: false)"
    stale = AuditModel("gs_stale", "Company", status="skipped", message="its last dbt run failed")
    clean = AuditModel("gs_companies", "Company", rows=3, read=3, calls=1)
    with audit_cli.console.capture() as shown:
        audit_cli.print_audit(AuditResult("a1", models=[people, stale, clean]))
    lines = shown.get().splitlines()
    assert lines[:2] == [
        "gs_people (CompanyPerson): skipped: disabled (enabled: false)",
        "gs_stale (Company): skipped: its last dbt run failed",
    ]
    assert lines[2].startswith("gs_companies (Company): clean; 3 rows, 3 records read in 1 calls")


@pytest.mark.parametrize("module", ["audit_cli", "native_cli", "cli_common", "cli"])
def test_every_command_module_can_be_imported_first(module):
    """Each in a fresh interpreter: the command modules share cli_common, not each other, so
    none is half-initialised when another imports it (audit_cli imported first once failed)."""
    done = subprocess.run(
        [sys.executable, "-c", f"import dbt_gainsight.{module}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
