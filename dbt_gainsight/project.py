"""The dbt side: parse the project, resolve selection with dbt's own grammar, read meta.

dbt owns the project, its selectors and its connections; this module only asks dbt.
Nodes travel as dbt's own ``ModelNode`` objects, never copied into a parallel model.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbt_gainsight.errors import ProjectError

META_KEY = "gainsight"


@dataclass(frozen=True)
class DbtArgs:
    """The dbt flags dbt-gainsight passes through, spelt as dbt spells them."""

    project_dir: Path
    profiles_dir: Path | None = None
    target: str | None = None
    profile: str | None = None
    vars: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_options(
        cls,
        project_dir: str | os.PathLike | None = None,
        profiles_dir: str | os.PathLike | None = None,
        target: str | None = None,
        profile: str | None = None,
        vars: str | dict | None = None,
    ) -> DbtArgs:
        """Resolve dirs the way dbt does: flag, then DBT_* env var, then the default."""
        project = Path(project_dir or os.environ.get("DBT_PROJECT_DIR") or ".").resolve()
        profiles = profiles_dir or os.environ.get("DBT_PROFILES_DIR")
        if profiles is None and (project / "profiles.yml").exists():
            profiles = project
        if profiles is None:
            profiles = Path.home() / ".dbt"
        if isinstance(vars, str):
            vars = _parse_vars(vars)
        if not (project / "dbt_project.yml").exists():
            raise ProjectError(
                f"No dbt_project.yml in {project}. Run from your dbt project or pass "
                "--project-dir (or set DBT_PROJECT_DIR)."
            )
        return cls(
            project_dir=project,
            profiles_dir=Path(profiles).resolve(),
            target=target,
            profile=profile,
            vars=dict(vars or {}),
        )

    def cli_args(self) -> list[str]:
        """The arguments every dbtRunner invocation needs."""
        args = ["--project-dir", str(self.project_dir)]
        if self.profiles_dir:
            args += ["--profiles-dir", str(self.profiles_dir)]
        if self.target:
            args += ["--target", self.target]
        if self.profile:
            args += ["--profile", self.profile]
        if self.vars:
            args += ["--vars", json.dumps(self.vars)]
        return args


def _parse_vars(text: str) -> dict[str, Any]:
    import yaml

    try:
        value = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise ProjectError(f"--vars is not valid YAML: {exc}") from exc
    if not isinstance(value, dict):
        raise ProjectError("--vars must be a YAML or JSON dictionary, e.g. '{key: value}'.")
    return value


@dataclass(frozen=True)
class LastRun:
    """What target/run_results.json says about one node."""

    status: str
    command: str | None


class DbtProject:
    """A parsed dbt project: the manifest, selection, and the last run's results."""

    def __init__(self, args: DbtArgs, manifest=None):
        self.args = args
        self._manifest = manifest  # a manifest the caller already parsed (dbt-gainsight build)

    @property
    def manifest(self):  # -> dbt.contracts.graph.manifest.Manifest
        """Parse once per process with dbt's runner (dbt reuses its partial-parse cache)."""
        if self._manifest is None:
            self._manifest = self._parse()
        return self._manifest

    def _parse(self):
        from dbt.cli.main import dbtRunner

        result = dbtRunner().invoke(["parse", "--quiet", *self.args.cli_args()])
        if not result.success or result.result is None:
            raise ProjectError(
                f"dbt could not parse the project in {self.args.project_dir}: "
                f"{result.exception or 'see the dbt log above'}. Fix it so `dbt parse` succeeds."
            )
        return result.result

    @property
    def target_path(self) -> Path:
        """The project's target/ folder, where dbt writes its artifacts and we write ours."""
        target = getattr(self.manifest.metadata, "target_path", None) or os.environ.get(
            "DBT_TARGET_PATH", "target"
        )
        return (self.args.project_dir / target).resolve()

    def select(
        self,
        select: Sequence[str] = (),
        exclude: Sequence[str] = (),
        selector: str | None = None,
    ) -> list[str]:
        """Unique ids of the selected models that carry ``meta.gainsight``, in DAG order.

        Selection is dbt's: ``dbt ls`` on the parsed manifest. Without any selector, every
        model with a gainsight block is selected.
        """
        from dbt.cli.main import dbtRunner

        with_meta = {uid for uid, node in self._models() if META_KEY in (node.config.meta or {})}
        if not (select or exclude or selector):
            chosen = with_meta
        else:
            args = ["ls", "--log-level", "none", "--resource-type", "model", "--output", "json"]
            args += ["--output-keys", "unique_id", *self.args.cli_args()]
            for expr in select:
                args += ["--select", expr]
            for expr in exclude:
                args += ["--exclude", expr]
            if selector:
                args += ["--selector", selector]
            result = dbtRunner(manifest=self.manifest).invoke(args)
            if not result.success:
                raise ProjectError(f"dbt could not resolve the selection: {result.exception}")
            listed = {json.loads(line)["unique_id"] for line in (result.result or [])}
            chosen = listed & with_meta
        return [uid for uid in self.dag_order() if uid in chosen]

    def _models(self) -> Iterable[tuple[str, Any]]:
        for uid, node in self.manifest.nodes.items():
            if node.resource_type == "model":
                yield uid, node

    def node(self, unique_id: str):
        """The manifest node of a model."""
        return self.manifest.nodes[unique_id]

    def dag_order(self) -> list[str]:
        """Every model, parents before children (ties broken by name, so runs repeat)."""
        import networkx as nx

        graph = nx.DiGraph()
        for uid, node in self._models():
            graph.add_node(uid)
            for parent in node.depends_on.nodes:
                if parent.startswith("model."):
                    graph.add_edge(parent, uid)
        return list(nx.lexicographical_topological_sort(graph))

    def last_run(self) -> dict[str, LastRun]:
        """Per node, its status in the last dbt invocation recorded in run_results.json."""
        path = self.target_path / "run_results.json"
        if not path.exists():
            return {}
        try:
            payload = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        command = (payload.get("args") or {}).get("which")
        return {
            entry["unique_id"]: LastRun(status=str(entry.get("status")), command=command)
            for entry in payload.get("results", [])
            if "unique_id" in entry
        }


def yaml_path_of(node) -> str:
    """The YAML file that holds a model's config (the schema.yml patch), relative to the project."""
    patch = getattr(node, "patch_path", None)
    if patch:
        return patch.split("://", 1)[-1]
    return node.original_file_path


def declared_columns(node) -> list[str]:
    """Columns documented in the model's YAML (may be empty)."""
    return list((node.columns or {}).keys())
