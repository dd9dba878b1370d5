"""Which files of a dbt project dbt reads when it parses, and where its artifacts go.

They tell whether the target/manifest.json that ``dbt run``/``dbt build`` left is current:
it is when no file dbt parses is newer (a DuckDB file or logs beside the models do not count).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

#: Files dbt reads when it parses (models, macros, yml, seeds, docs); a warehouse file is not.
_PARSED_SUFFIXES = frozenset({".sql", ".py", ".yml", ".yaml", ".csv", ".md", ".jinja"})


#: How much of manifest.json is read for its metadata (dbt writes that object first).
MANIFEST_HEAD_BYTES = 64 * 1024
_METADATA_FIRST = re.compile(r'\A\s*\{\s*"metadata"\s*:\s*')


def manifest_metadata(path: Path) -> dict[str, Any]:
    """The ``metadata`` object of a manifest.json (dbt version, invocation id, ...).

    Read from the file's head: a large project's manifest is tens of MB, and loading all of
    it to learn which dbt wrote it cost as much as dbt's own read that follows. A file that
    does not start with the object is read whole. Raises OSError or ValueError as ``json``.
    """
    with path.open("rb") as f:
        head = f.read(MANIFEST_HEAD_BYTES)
    text = head.decode("utf-8", errors="ignore")  # a character cut at the end is not needed
    first = _METADATA_FIRST.match(text)
    if first:
        try:
            metadata, _ = json.JSONDecoder().raw_decode(text, first.end())
        except ValueError:  # longer than the head: read it whole
            pass
        else:
            if isinstance(metadata, dict):
                return metadata
    with path.open("rb") as f:
        metadata = json.load(f)["metadata"]
    if not isinstance(metadata, dict):
        raise ValueError("manifest.json: metadata is not an object")
    return metadata


def _project_yml(project_dir: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load((project_dir / "dbt_project.yml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def project_target_path(project_dir: Path) -> str:
    """dbt_project.yml's target-path (dbt's default: target)."""
    value = _project_yml(project_dir).get("target-path")
    return value if isinstance(value, str) and "{{" not in value else "target"


#: dbt_project.yml keys of the folders dbt parses, with dbt's defaults.
_RESOURCE_PATHS = {
    "model-paths": ["models"],
    "seed-paths": ["seeds"],
    "macro-paths": ["macros"],
    "test-paths": ["tests"],
    "snapshot-paths": ["snapshots"],
    "analysis-paths": ["analyses"],
    "docs-paths": [],
}
_ROOT_FILES = ("dbt_project.yml", "packages.yml", "dependencies.yml", "selectors.yml")


def newest_file_after(project_dir: Path, after: float) -> Path | None:
    """A file dbt parses (resource folders, installed packages, root yml) newer than ``after``."""
    data = _project_yml(project_dir)
    folders = [data.get("packages-install-path") or "dbt_packages"]
    for key, default in _RESOURCE_PATHS.items():
        value = data.get(key, default)
        folders += [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
    candidates = [project_dir / name for name in _ROOT_FILES]
    for folder in dict.fromkeys(folders):
        for root, dirs, files in os.walk(project_dir / folder):
            dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
            candidates += [
                Path(root) / f
                for f in files
                if not f.startswith(".") and Path(f).suffix in _PARSED_SUFFIXES
            ]
    for path in candidates:
        try:
            if path.stat().st_mtime > after:
                return path
        except OSError:
            continue
    return None
