"""The JSON Schemas ship in the package, equal what the CLI prints, and check the sample."""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator

from dbt_gainsight.schemas import properties_schema, render, shipped_path
from tests.conftest import REPO, SAMPLE_PROJECT, run


def test_shipped_files_equal_the_cli_output_and_are_package_data():
    meta = run(["dbt-gainsight", "schema"], check=True).stdout
    props = run(["dbt-gainsight", "schema", "--properties"], check=True).stdout
    path = Path(
        run(["dbt-gainsight", "schema", "--properties", "--path"], check=True).stdout.strip()
    )
    assert json.loads(meta) == json.loads(shipped_path().read_text())
    assert path == shipped_path(properties=True) and path.is_file()
    # The properties file is generated from schema.json: regenerate it when that changes.
    assert path.read_text() == render(properties_schema()) and json.loads(props) == json.loads(
        path.read_text()
    )
    pyproject = (REPO / "pyproject.toml").read_text()
    section = pyproject.split("[tool.setuptools.package-data]", 1)[1]
    globs = json.loads(re.search(r"^dbt_gainsight = (\[.*\])$", section, re.M).group(1))
    for shipped in (shipped_path(), path):
        relative = shipped.relative_to(REPO / "dbt_gainsight").as_posix()
        assert any(fnmatch.fnmatch(relative, g) for g in globs), relative
    assert "yaml-language-server: $schema=" in (REPO / "docs" / "editors.md").read_text()


def test_properties_schema_checks_blocks_in_place():
    validator = Draft202012Validator(properties_schema())
    doc = yaml.safe_load((SAMPLE_PROJECT / "models/gainsight/schema.yml").read_text())
    assert list(validator.iter_errors(doc)) == []
    doc["models"][1]["config"]["meta"]["gainsight"]["behavior"] = "upsrt"
    doc["models"][2]["meta"] = {"gainsight": {"object": "Company"}}  # fields missing
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    paths = [list(e.absolute_path) for e in errors]
    assert paths == [
        ["models", 1, "config", "meta", "gainsight", "behavior"],
        ["models", 2, "meta", "gainsight"],
    ]
