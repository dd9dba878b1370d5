"""Fixtures the CLI tests share: the sample project built once per module, private copies."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SAMPLE_PROJECT, copy_project
from tests.e2e.support import clone_built, dbt, gainsight_env


@pytest.fixture(scope="module")
def built_sample(tmp_path_factory) -> Path:
    """The sample project, built once on DuckDB (each test works on a private copy)."""
    project = copy_project(SAMPLE_PROJECT, tmp_path_factory.mktemp("built") / "sample")
    dbt("build", project, {"DBT_DUCKDB_PATH": str(project / "target" / "acme.duckdb")})
    return project


@pytest.fixture
def sample(built_sample: Path, tmp_path: Path, gainsight_emulator_factory):
    """A private copy of the built sample, an emulator with its objects, and the env."""
    project = clone_built(built_sample, tmp_path / "sample")
    gs = gainsight_emulator_factory(objects_file=str(project / "gainsight_objects.yml"))
    env = {"DBT_DUCKDB_PATH": str(project / "target" / "acme.duckdb"), **gainsight_env(gs)}
    return project, gs, env
