"""What learning which dbt wrote a large project's manifest.json costs before every command.

    .venv/bin/python benchmarks/manifest_bench.py             # 20,000 models (~110 MB)
    .venv/bin/python benchmarks/manifest_bench.py --models 5000

Every ``sync``, ``audit`` and ``status`` first checks that target/manifest.json is current,
which needs the ``metadata`` object (the dbt version). It writes a manifest of ``--models``
models shaped as dbt writes them (metadata first) to a temporary folder and prints the CPU of
reading that object by loading the whole file against ``manifest_metadata`` (the file's head).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from dbt_gainsight.dbt_files import manifest_metadata

METADATA = {
    "dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json",
    "dbt_version": "1.11.2",
    "generated_at": "2026-12-01T00:00:00.000000Z",
    "invocation_id": "00000000-0000-0000-0000-000000000000",
    "env": {},
    "adapter_type": "duckdb",
}


def _node(i: int) -> dict:
    """A model node about the size dbt writes for a model with a few columns and tests."""
    name = f"model_{i}"
    return {
        "database": "analytics",
        "schema": "marts",
        "name": name,
        "resource_type": "model",
        "package_name": "big",
        "path": f"marts/{name}.sql",
        "original_file_path": f"models/marts/{name}.sql",
        "unique_id": f"model.big.{name}",
        "fqn": ["big", "marts", name],
        "alias": name,
        "checksum": {"name": "sha256", "checksum": f"{i:064x}"},
        "config": {"enabled": True, "materialized": "table", "tags": [], "meta": {}},
        "tags": [],
        "description": f"The {name} model. " * 5,
        "columns": {
            f"col_{c}": {"name": f"col_{c}", "description": "A column.", "meta": {}, "tags": []}
            for c in range(8)
        },
        "raw_code": "select id, name, amount from {{ ref('upstream') }} where x > 1\n" * 20,
        "depends_on": {"macros": [], "nodes": [f"model.big.model_{max(i - 1, 0)}"]},
        "refs": [{"name": f"model_{max(i - 1, 0)}", "package": None, "version": None}],
    }


def _cpu_ms(read: Callable[[], dict], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        assert read()["dbt_version"] == METADATA["dbt_version"]
        best = min(best, time.process_time() - started)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=20_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="gainsight-manifest-bench-"))
    try:
        path = folder / "manifest.json"
        nodes = {f"model.big.model_{i}": _node(i) for i in range(args.models)}
        path.write_text(json.dumps({"metadata": METADATA, "nodes": nodes, "sources": {}}))
        whole = _cpu_ms(lambda: json.loads(path.read_text())["metadata"])
        head = _cpu_ms(lambda: manifest_metadata(path))
        print(f"manifest.json of {args.models:,} models: {path.stat().st_size / 1e6:.0f} MB")
        print(f"  loading the whole file:            {whole:9.2f} ms CPU (best of 3)")
        print(f"  manifest_metadata (the file head): {head:9.2f} ms CPU (best of 3)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
