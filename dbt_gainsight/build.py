"""`dbt-gainsight build`: ``dbt build`` in-process, then sync exactly what built.

The project is parsed once; dbt's runner builds with that manifest, and the sync reuses it.
A selected model with a gainsight block is synced only if it built successfully in this
invocation and none of its own tests failed (as ``dbt build`` itself would not build its
children). The exit code is dbt's when dbt failed, else the sync's.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from dbt_gainsight import interrupts
from dbt_gainsight.errors import ProjectError
from dbt_gainsight.project import META_KEY, DbtArgs, DbtProject
from dbt_gainsight.sync.report import SyncResult
from dbt_gainsight.sync.runner import EventCallback, ProgressCallback

#: dbt node statuses of a test that mean "do not trust this model's rows".
FAILED_TEST = {"fail", "error"}


@dataclass
class BuildResult:
    """dbt's outcome, what was synced and why the rest was not; ``exit_code`` as the CLI's."""

    dbt_success: bool
    dbt_exit_code: int
    built: list[str] = field(default_factory=list)
    not_synced: dict[str, str] = field(default_factory=dict)
    sync: SyncResult | None = None

    @property
    def exit_code(self) -> int:
        """The exit code: dbt's failure first, else the sync's (0 when nothing was synced)."""
        if not self.dbt_success:
            return self.dbt_exit_code
        return self.sync.exit_code if self.sync is not None else 0

    @property
    def success(self) -> bool:
        """True when dbt and the sync both succeeded."""
        return self.exit_code == 0


def _status(result) -> str:
    return str(getattr(result.status, "value", result.status)).lower()


def outcome(results: Sequence[Any], manifest) -> tuple[list[str], dict[str, str]]:
    """From dbt's run results: the gainsight models that built cleanly, and why others did not."""
    failed_tests: dict[str, list[str]] = {}
    statuses: dict[str, str] = {}
    for result in results:
        node = result.node
        status = _status(result)
        if node.resource_type == "test" and status in FAILED_TEST:
            owners = [node.attached_node] if getattr(node, "attached_node", None) else []
            for owner in owners or list(node.depends_on.nodes):
                failed_tests.setdefault(owner, []).append(node.name)
        elif node.resource_type == "model":
            statuses[node.unique_id] = status
    built: list[str] = []
    not_synced: dict[str, str] = {}
    for uid, status in statuses.items():
        if META_KEY not in (manifest.nodes[uid].config.meta or {}):
            continue
        if status != "success":
            not_synced[uid] = f"dbt build ended '{status}'"
        elif uid in failed_tests:
            not_synced[uid] = "its tests failed: " + ", ".join(sorted(failed_tests[uid]))
        else:
            built.append(uid)
    return built, not_synced


#: Selector methods that read a saved manifest or a previous run (``--state``): ``dbt ls``
#: cannot resolve them without build's own flags, and matching nothing is an answer there.
STATEFUL_METHODS = ("state:", "result:", "source_status:")


def _stateful(expression: str) -> bool:
    return any(method in expression for method in STATEFUL_METHODS)


def _check_selection(
    project: DbtProject,
    select: Sequence[str],
    exclude: Sequence[str],
    selector: str | None,
    dbt_args: Sequence[str],
) -> None:
    """A typo in the selection is a usage error before anything is built, as for sync.

    Expressions that read dbt's state (slim CI: ``-s state:modified+ --state prod/``) are
    left to dbt: with nothing modified they rightly select nothing. The others are checked
    one by one.
    """
    if selector and any(arg.startswith(("--state", "--defer")) for arg in dbt_args):
        if select or exclude:  # the combination is refused whatever the selector reads
            project.resolve(select, exclude, selector, resource_type=None)
        return
    if not any(map(_stateful, (*select, *exclude))):
        if select or exclude or selector:
            project.resolve(select, exclude, selector, resource_type=None)
        return
    for expr in select:
        if not _stateful(expr):
            project.resolve([expr], resource_type=None)
    for expr in exclude:
        if not _stateful(expr):
            project.resolve((), [expr], resource_type=None)


class _InterruptTraceback(logging.Filter):
    """Drops dbt's "Encountered an error:" and stack trace for a Ctrl-C.

    dbt says the run was interrupted and cancels its queries; its error handler then logs the
    KeyboardInterrupt's traceback to stdout, 40 lines above our one-line "Interrupted.".
    dbt.log keeps the trace.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not interrupts.tripped():
            return True
        text = record.getMessage()
        return "Encountered an error:" not in text and "Traceback (most recent call" not in text


@contextmanager
def _no_interrupt_traceback() -> Iterator[None]:
    # dbt's console logger (dbt_common's get_stdout_config); dbt clears its handlers, not filters.
    console = logging.getLogger("stdout_log")
    quiet = _InterruptTraceback()
    console.addFilter(quiet)
    try:
        yield
    finally:
        console.removeFilter(quiet)


def build(
    dbt_args: Sequence[str] = (),
    *,
    project_dir: str | os.PathLike | None = None,
    profiles_dir: str | os.PathLike | None = None,
    target: str | None = None,
    vars: str | dict | None = None,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    selector: str | None = None,
    state_schema: str | None = None,
    on_progress: ProgressCallback | None = None,
    on_event: EventCallback | None = None,
) -> BuildResult:
    """Run ``dbt build`` with the selection (plus ``dbt_args``), then sync what it built."""
    from dbt.cli.main import dbtRunner

    from dbt_gainsight import api

    emit = on_event or (lambda level, message: None)
    args = DbtArgs.from_options(project_dir, profiles_dir, target, None, vars)
    # dbt build compiles every node: it needs a parsed manifest, never one read from JSON.
    project = DbtProject(args, parse=True)
    manifest = project.manifest  # the one parse of this invocation
    _check_selection(project, select, exclude, selector, dbt_args)
    argv = ["build", *args.cli_args()]
    for flag, values in (("--select", select), ("--exclude", exclude)):
        for value in values:
            argv += [flag, value]
    if selector:
        argv += ["--selector", selector]
    with _no_interrupt_traceback():
        run = dbtRunner(manifest=manifest).invoke([*argv, *dbt_args])
    if run.exception is not None and run.result is None:
        raise ProjectError(f"dbt build could not run: {run.exception}")
    results = list(getattr(run.result, "results", None) or [])
    built, not_synced = outcome(results, manifest)
    result = BuildResult(
        dbt_success=bool(run.success),
        dbt_exit_code=1 if run.exception is None else 2,
        built=built,
        not_synced=not_synced,
    )
    for uid, reason in not_synced.items():
        emit("warn", f"{manifest.nodes[uid].name}: not synced: {reason}")
    if not built:
        emit("warn", "No selected model with a gainsight block built successfully; nothing synced.")
        return result
    fqns = [f"fqn:{'.'.join(manifest.nodes[uid].fqn)}" for uid in built]
    result.sync = api.sync(
        project_dir=args.project_dir,
        profiles_dir=args.profiles_dir,
        target=target,
        vars=vars,
        manifest=manifest,
        select=fqns,
        state_schema=state_schema,
        on_progress=on_progress,
        on_event=on_event,
    )
    return result
