"""The dbt side: load the manifest, resolve selection with dbt's own grammar, read meta.

dbt owns the project, its selectors and its connections; this module only asks dbt.
Nodes travel as dbt's own ``ModelNode`` objects, never copied into a parallel model.

The manifest that ``dbt run``/``dbt build`` left in target/ is read when no project file is
newer than it (a parse costs seconds on a big project and rewrites dbt's artifacts);
otherwise the project is parsed, without writing target/ and without usage events.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbt_gainsight.dbt_files import manifest_metadata, newest_file_after, project_target_path
from dbt_gainsight.errors import ProjectError, raise_if_interrupted

META_KEY = "gainsight"
#: dbt flags for every invocation we make: no usage events, no colour codes in messages.
QUIET_FLAGS = ("--no-send-anonymous-usage-stats", "--no-use-colors")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


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
    """A dbt project: the manifest, selection, and the last run's results.

    ``parse``: None reads target/manifest.json when it is current and parses otherwise;
    True always parses; False always reads it (an error when it is missing).
    """

    def __init__(
        self,
        args: DbtArgs,
        manifest=None,
        *,
        parse: bool | None = None,
        on_event: Callable[[str, str], None] | None = None,
    ):
        self.args = args
        self.parse = parse
        self.emit = on_event or (lambda level, message: None)
        # Models whose block dbt will not hand us (misspelt, or directly under ``config:``),
        # with why, from the last ``select``; warned about unless ``validate`` reports them.
        self.misplaced: list[tuple[Any, str]] = []
        self.warn_misplaced = True
        self.manifest_source: str | None = None  # "target/manifest.json" or "dbt parse"
        self.dbt_invocation_id: str | None = None  # of the dbt run in target/run_results.json
        self._manifest = manifest  # one the caller already parsed (dbt-gainsight build)
        os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")

    @property
    def manifest(self):  # -> dbt.contracts.graph.manifest.Manifest
        """Load once per process: dbt's own manifest when current, else a parse."""
        if self._manifest is None:
            stale = None if self.parse is not None else self.manifest_staleness()
            if self.parse is False or (self.parse is None and stale is None):
                self._manifest = self._read_manifest()
                self.manifest_source = f"{self._manifest_path_text()} (left by dbt)"
            else:
                self._manifest = self._parse()
                why = "--parse" if self.parse else stale
                self.manifest_source = f"dbt parse ({why})"
            self.emit("info", f"Manifest: {self.manifest_source}")
        return self._manifest

    def _manifest_path(self) -> Path:
        target = os.environ.get("DBT_TARGET_PATH") or project_target_path(self.args.project_dir)
        return (self.args.project_dir / target / "manifest.json").resolve()

    def _manifest_path_text(self) -> str:
        return relative_to_project(self._manifest_path(), self.args.project_dir)

    def manifest_staleness(self) -> str | None:
        """Why target/manifest.json cannot stand for a parse now, or None when it is current.

        Current means: it exists, this dbt wrote it, no file of the project (or profiles.yml)
        is newer, and the last dbt run used the same --target and --vars as this one.
        """
        path = self._manifest_path()
        if not path.is_file():
            return f"no {self._manifest_path_text()}"
        built = path.stat().st_mtime
        newer = newest_file_after(self.args.project_dir, built)
        if newer is None and self.args.profiles_dir:
            profile = self.args.profiles_dir / "profiles.yml"
            if profile.is_file() and profile.stat().st_mtime > built:
                newer = profile
        if newer is not None:
            shown = relative_to_project(newer, self.args.project_dir)
            return f"{shown} is newer than {self._manifest_path_text()}"
        try:
            head = manifest_metadata(path)
        except (OSError, ValueError, KeyError, TypeError):
            return f"{self._manifest_path_text()} is unreadable"
        from dbt.version import __version__ as dbt_version

        if head.get("dbt_version") != dbt_version:
            return f"it was written by dbt {head.get('dbt_version')}, this is dbt {dbt_version}"
        args = self._last_run_args(path.parent)
        if self.args.target and args.get("target") not in (None, self.args.target):
            return f"the last dbt run used --target {args.get('target')}"
        if self.args.vars and (args.get("vars") or {}) != self.args.vars:
            return "the last dbt run used other --vars"
        return None

    @staticmethod
    def _last_run_args(target_dir: Path) -> dict[str, Any]:
        try:
            return json.loads((target_dir / "run_results.json").read_text()).get("args") or {}
        except (OSError, ValueError, AttributeError):
            return {}

    def _read_manifest(self):
        from dbt.contracts.graph.manifest import Manifest, WritableManifest
        from dbt_common.context import set_invocation_context
        from dbt_common.events.event_manager_client import cleanup_event_logger

        # A dbtRunner invocation would set these up: profiles' env_var() needs the
        # context, and dbt's default logger would print adapter events with colour codes.
        set_invocation_context(os.environ)
        cleanup_event_logger()
        path = self._manifest_path()
        if not path.is_file():
            raise ProjectError(
                f"--no-parse: there is no {self._manifest_path_text()}; run `dbt parse` (or "
                "`dbt build`) first, or leave out --no-parse"
            )
        try:
            return Manifest.from_writable_manifest(
                WritableManifest.read_and_check_versions(str(path))
            )
        except Exception as exc:  # dbt raises several types for an incompatible artifact
            raise_if_interrupted(exc)
            raise ProjectError(
                f"cannot read {self._manifest_path_text()} ({one_line(exc)}); "
                "run `dbt parse`, or pass --parse"
            ) from exc

    def _parse(self):
        from dbt.cli.main import dbtRunner

        args = ["parse", "--log-level", "none", "--no-write-json", *QUIET_FLAGS]
        result = dbtRunner().invoke([*args, *self.args.cli_args()])
        if not result.success or result.result is None:
            if result.exception is not None:
                raise_if_interrupted(result.exception)
            reason = one_line(result.exception) if result.exception else "unknown error"
            raise ProjectError(
                f"dbt could not parse the project in {self.args.project_dir}: {reason}"
                + ("" if reason.endswith(".") else ".")
                + " Fix it so `dbt parse` succeeds."
            )
        return result.result

    @property
    def target_path(self) -> Path:
        """The project's target/ folder, where dbt writes its artifacts and we write ours."""
        target = os.environ.get("DBT_TARGET_PATH") or project_target_path(self.args.project_dir)
        return (self.args.project_dir / target).resolve()

    def select(
        self,
        select: Sequence[str] = (),
        exclude: Sequence[str] = (),
        selector: str | None = None,
    ) -> list[str]:
        """Unique ids of the selected models that carry ``meta.gainsight``, in DAG order.

        Selection is dbt's: ``dbt ls`` on the manifest. Without any selector, every model
        with a gainsight block is selected. A ``--select`` that matches no model is a usage
        error naming it; a block dbt will not hand us (misspelt, or directly under
        ``config:``) is warned about, since the model would silently not sync.
        """
        with_meta = {uid for uid, node in self._models() if META_KEY in (node.config.meta or {})}
        if not (select or exclude or selector):
            chosen = with_meta
            listed = set(with_meta)
            listed.update(uid for uid, node in self._models() if misplaced_block(node))
        else:
            listed = self.resolve(select, exclude, selector)
            chosen = listed & with_meta
        self.misplaced = []
        for uid in sorted(listed - with_meta):
            hint = misplaced_block(self.node(uid))
            if hint:
                self.misplaced.append((self.node(uid), hint))
                if self.warn_misplaced:
                    node = self.node(uid)
                    self.emit("warn", f"{yaml_path_of(node)}: {node.name}: {hint}")
        if listed and not chosen:
            names = sorted(self.node(uid).name for uid in listed)
            shown = ", ".join(names[:10]) + (
                f" and {len(names) - 10} more" if len(names) > 10 else ""
            )
            self.emit(
                "warn",
                f"{_show_selection(select, exclude, selector)} matches {len(names)} model(s), none "
                f"with a config.meta.gainsight block ({shown}); nothing to sync.",
            )
        elif not chosen:
            self.emit(
                "warn",
                "No model in the project has a config.meta.gainsight block; nothing to sync.",
            )
        return [uid for uid in self.dag_order() if uid in chosen]

    def resolve(
        self,
        select: Sequence[str] = (),
        exclude: Sequence[str] = (),
        selector: str | None = None,
        *,
        resource_type: str | None = "model",
    ) -> set[str]:
        """Unique ids the selection matches (models only, unless ``resource_type`` is None).

        The one home of the selection's usage errors, for sync and for build before its
        ``dbt build``: an expression that matches nothing is named (a misspelt ``--exclude``
        would send what it meant to hold back), and ``--selector`` beside ``-s``/``--exclude``
        is refused, since dbt ignores them there without a word.
        """
        if selector and (select or exclude):
            raise SelectionError(
                "--selector cannot be combined with --select or --exclude (dbt ignores them "
                "beside a selector); put them in the selector's definition in selectors.yml."
            )
        what = "model" if resource_type == "model" else "node"
        for expr in select if len(select) > 1 else ():
            if not self._ls([expr], (), None, resource_type):
                raise SelectionError(f"--select {expr} matches no {what}.")
        for expr in exclude:
            if not self._ls([expr], (), None, resource_type):
                raise SelectionError(f"--exclude {expr} matches no {what}.")
        listed = self._ls(select, exclude, selector, resource_type)
        if not listed:
            raise SelectionError(f"{_show_selection(select, exclude, selector)} matches no {what}.")
        return listed

    def _ls(
        self,
        select: Sequence[str],
        exclude: Sequence[str],
        selector: str | None,
        resource_type: str | None = "model",
    ) -> set[str]:
        from dbt.cli.main import dbtRunner

        args = ["ls", "--log-level", "none", *QUIET_FLAGS]
        if resource_type:
            args += ["--resource-type", resource_type]
        args += ["--output", "json", "--output-keys", "unique_id", *self.args.cli_args()]
        for expr in select:
            args += ["--select", expr]
        for expr in exclude:
            args += ["--exclude", expr]
        if selector:
            args += ["--selector", selector]
        result = dbtRunner(manifest=self.manifest).invoke(args)
        if not result.success:
            reason = one_line(result.exception) if result.exception else "unknown error"
            raise SelectionError(f"dbt could not resolve the selection: {reason}")
        return {json.loads(line)["unique_id"] for line in (result.result or [])}

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
        if not isinstance(payload, dict):  # not dbt's: as if unreadable
            return {}
        metadata, args, results = (payload.get(k) for k in ("metadata", "args", "results"))
        metadata = metadata if isinstance(metadata, dict) else {}
        self.dbt_invocation_id = metadata.get("invocation_id")
        command = args.get("which") if isinstance(args, dict) else None
        return {
            entry["unique_id"]: LastRun(status=str(entry.get("status")), command=command)
            for entry in (results if isinstance(results, list) else [])
            if isinstance(entry, dict) and "unique_id" in entry
        }


def misplaced_block(node) -> str | None:
    """Why a model looks meant for Gainsight but has no ``config.meta.gainsight``, or None."""
    right = "it belongs under config: meta: gainsight:"
    extra = getattr(node.config, "_extra", None) or {}
    if META_KEY in extra:
        return f"'gainsight:' sits directly under 'config:' and is not read; {right}"
    for where, keys in (("config.meta", node.config.meta or {}), ("config", extra)):
        for key in keys:
            if key == META_KEY:
                continue
            folded = re.sub(r"[^a-z]", "", str(key).lower())
            close = difflib.get_close_matches(folded, [META_KEY], n=1, cutoff=0.75)
            if close:
                return (
                    f"'{where}.{key}' is not read; did you mean 'config.meta.gainsight'? ({right})"
                )
    return None


class SelectionError(ProjectError):
    """A selector matches no model, or dbt cannot resolve it (exit 2)."""


def _show_selection(select: Sequence[str], exclude: Sequence[str], selector: str | None) -> str:
    parts = [*(f"--select {s}" for s in select), *(f"--exclude {e}" for e in exclude)]
    if selector:
        parts.append(f"--selector {selector}")
    return "The selection " + " ".join(parts) if parts else "The project"


def one_line(exc: BaseException | str) -> str:
    """An exception's text on one line, without ANSI colour codes or a trailing '..'."""
    text = _ANSI.sub("", str(exc))
    text = " ".join(line.strip() for line in text.splitlines() if line.strip())
    while text.endswith(".."):
        text = text[:-1]
    return text


def relative_to_project(path: Path, project_dir: Path) -> str:
    """A path as the user would type it from the project directory."""
    try:
        return str(Path(path).resolve().relative_to(project_dir.resolve()))
    except ValueError:
        return str(path)


def yaml_path_of(node) -> str:
    """The YAML file that holds a model's config (the schema.yml patch), relative to the project."""
    patch = getattr(node, "patch_path", None)
    if patch:
        return patch.split("://", 1)[-1]
    return node.original_file_path


def declared_columns(node) -> list[str]:
    """Columns documented in the model's YAML (may be empty)."""
    return list((node.columns or {}).keys())
