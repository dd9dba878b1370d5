"""The CLI reads dbt-style selector lists."""

from __future__ import annotations


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
