"""How a run looks in a terminal or a CI log: progress, retry lines, the summary table.

Readable at 80 columns: the table keeps the columns that matter most and adds detail only
while it fits (every count is in target/gainsight_run_results.json). Key values and
Gainsight's messages about rejected records stay off the console (CI logs are widely read)
unless ``--show-values``; they are kept in the rejects table and the run results.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from dbt_gainsight.events import RunObserver
from dbt_gainsight.sync.report import ModelResult, SyncResult

#: Width of a log that is not a terminal and did not say (COLUMNS): CI logs are wide-ish.
LOG_WIDTH = 120
#: Reject samples printed per model with --show-values.
SHOWN_REJECTS = 5


def console_width() -> int | None:
    """COLUMNS when set (as dbt and every CLI honour it), the terminal's, else LOG_WIDTH."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return None if sys.stdout.isatty() else LOG_WIDTH


def make_consoles() -> tuple[Console, Console]:
    """Consoles for stdout (progress, table) and stderr (warnings, errors: greppable, unwrapped)."""
    width = console_width()
    out = Console(highlight=False, width=width)
    err = Console(stderr=True, highlight=False, soft_wrap=True, width=width)
    return out, err


class ConsoleObserver(RunObserver):
    """Text output: a progress bar per model on a terminal, throttled lines in a log."""

    def __init__(self, out: Console, err: Console, **kwargs: Any):
        super().__init__(**kwargs)
        self.out = out
        self.err = err
        self.live = out.is_terminal
        self.progress_bar = None
        self.tasks: dict[str, int] = {}
        self.dry_run = False  # from run_start: a plan says what it would send

    def __enter__(self) -> ConsoleObserver:
        if self.live:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress_bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[stats]}"),
                TimeElapsedColumn(),
                console=self.out,
            )
            self.progress_bar.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.progress_bar is not None:
            self.progress_bar.stop()
            self.progress_bar = None

    def progress(self, model: ModelResult, read: int) -> None:
        """A bar on a terminal; a line per PROGRESS_SECONDS in a log."""
        stats = (
            f"read {read:,}  accepted {model.accepted:,}  rejected {model.rejected:,}"
            f"  failed {model.failed:,}"
        )
        if self.progress_bar is None:
            with self.lock:
                show, _ = self.progress_throttle.allow(model.unique_id, first=False)
            if show and read:
                self.out.print(f"{model.model}: {stats}", markup=False)
            return
        task = self.tasks.get(model.unique_id)
        if task is None:
            task = self.progress_bar.add_task(model.model, total=max(model.to_send, 1), stats="")
            self.tasks[model.unique_id] = task
        self.progress_bar.update(task, completed=read, stats=stats)

    def emit(self, event: str, payload: dict[str, Any]) -> None:
        """Text lines for what needs one now: retries, waits and messages."""
        if event in ("retry", "rate_limit_wait", "outcome_unknown"):
            self.out.print(retry_line(event, payload), markup=False)
        elif event == "run_start":
            self.dry_run = bool(payload.get("dry_run"))
        elif event == "model_start" and not self.live and payload["to_send"]:
            verb = "would send" if self.dry_run else "sending"
            self.out.print(
                f"{payload['model']}: {verb} {payload['to_send']:,} records to {payload['object']}",
                markup=False,
            )
        elif event == "message":
            style = {"warn": "yellow", "error": "red"}.get(payload["level"], "")
            text = payload["text"]
            self.err.print(text, style=style or None, markup=False)


def retry_line(event: str, p: dict[str, Any]) -> str:
    """``gs_companies: POST /data/objects/Company: HTTP 503, attempt 1 of 8; next in 0.6s``."""
    who = f"{p['model']}: " if p.get("model") else ""
    path = p.get("path") or ""
    path = path[3:] if path.startswith("/v1/") else path  # every path starts so: save width
    what = " ".join(str(x) for x in (p.get("method"), path) if x)
    if p.get("status") is not None:
        why = " ".join(str(x) for x in (f"HTTP {p['status']}", p.get("error_code")) if x)
    else:
        why = p.get("reason") or "no reply"
    wait = p.get("wait_seconds")
    wait_text = f"{wait:.1f}s" if isinstance(wait, int | float) else "a while"
    held = f" ({p['held_back']} more since the last line)" if p.get("held_back") else ""
    if event == "rate_limit_wait":
        line = f"{who}Gainsight rate limit (429): waiting {wait_text} before calling again"
    elif event == "outcome_unknown":
        line = f"{who}{what}: {why}; the outcome is unknown, so it is checked, not resent blindly"
    else:
        attempt, total = p.get("attempt"), p.get("max_attempts")
        n_of_m = f"attempt {attempt} of {total}" if total else f"attempt {attempt}"
        line = f"{who}{what}: {why}, {n_of_m}; next in {wait_text}"
    return line + held


# --- the summary ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Column:
    name: str
    get: Callable[[ModelResult], Any]
    priority: int  # lower = kept first when the width is short


def _columns(dry_run: bool) -> list[_Column]:
    """Every column in display order; ``priority`` says which survive at 80 columns."""
    cols = [
        _Column("model", lambda m: m.model, 0),
        _Column("object", lambda m: m.object, 9),
        _Column("status", lambda m: m.status, 1),
        _Column("rows", lambda m: m.rows, 2),
        _Column("new", lambda m: m.new, 10),
        _Column("changed", lambda m: m.changed, 11),
        _Column("unchanged", lambda m: m.unchanged, 12),
        _Column("retry", lambda m: m.retry, 13),
        _Column("dup/null keys", lambda m: m.duplicates + m.null_keys, 14),
        _Column("to send", lambda m: m.to_send, 3),
    ]
    if dry_run:
        return [*cols, _Column("calls (max)", lambda m: m.planned_calls, 4)]
    return [
        *cols,
        _Column("accepted", lambda m: m.accepted, 4),
        _Column("rejected", lambda m: m.rejected, 5),
        _Column("failed", lambda m: m.failed, 6),
        _Column("calls", lambda m: m.api_calls, 7),
        _Column("429s", lambda m: m.rate_limited, 15),
        _Column("secs", lambda m: f"{m.seconds:.1f}", 8),
    ]


def _cell(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def summary_table(result: SyncResult, width: int) -> Table:
    """The table at the end of a run, with as many columns as ``width`` allows."""
    title = (
        "Gainsight sync plan (dry run: no API call made)" if result.dry_run else "Gainsight sync"
    )
    columns = _columns(result.dry_run)
    cells = {c.name: [_cell(c.get(m)) for m in result.models] for c in columns}
    need = {c.name: max([len(c.name), *map(len, cells[c.name])]) for c in columns}
    kept: set[str] = set()
    used = 0
    for col in sorted(columns, key=lambda c: c.priority):
        # The model column may fold onto two lines: count at most 24 characters for it.
        cost = min(need[col.name], 24) + (2 if kept else 0)
        if used + cost <= width or col.priority == 0:
            kept.add(col.name)
            used += cost
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        collapse_padding=True,
    )
    for col in columns:
        if col.name in kept:
            text = col.name in ("model", "object", "status")
            table.add_column(
                col.name,
                justify="left" if text else "right",
                no_wrap=col.name != "model",
                min_width=len(col.name),
                overflow="fold",
            )
    for i in range(len(result.models)):
        table.add_row(*[cells[c.name][i] for c in columns if c.name in kept])
    return table


def print_summary(
    out: Console, result: SyncResult, *, show_values: bool = False, results_path: str | None = None
) -> None:
    """The table, then what needs a word per model, then where the full results are."""
    out.print(summary_table(result, out.width))
    rejects_table = f"{result.state_schema or '<state schema>'}.gainsight_rejects"
    for model in result.models:
        if model.message:
            out.print(f"{model.model}: {model.message}", markup=False)
        if model.no_longer_in_model:
            fate = f"{model.deleted:,} deleted" if model.deleted else "not deleted"
            out.print(
                f"{model.model}: {model.no_longer_in_model:,} records no longer in the model "
                f"({fate} in Gainsight)",
                markup=False,
            )
        if not model.rejected:
            continue
        codes = ", ".join(f"{code} {n:,}" for code, n in sorted(model.rejects_by_code.items()))
        if not show_values:
            out.print(
                f"{model.model}: {model.rejected:,} rejected ({codes}); keys and messages: "
                f"{rejects_table} or --show-values",
                markup=False,
            )
            continue
        out.print(f"{model.model}: {model.rejected:,} rejected ({codes}):", markup=False)
        shown = model.first_rejects[:SHOWN_REJECTS]
        for sample in shown:
            out.print(f"  {sample.key}: {sample.error_code}: {sample.error_message}", markup=False)
        more = model.rejected - len(shown)
        out.print(
            f"  and {more:,} more: see {rejects_table}" if more else f"  see {rejects_table}",
            markup=False,
        )
    where = results_path or "target/gainsight_run_results.json"
    out.print(f"Run results: {where} ({result.seconds:.1f}s)", markup=False)


def print_status(out: Console, report: dict[str, Any]) -> None:
    """``dbt-gainsight status`` as text: one block per model, newest run first."""
    models = report["models"]
    if not models:
        out.print(f"No sync recorded in {report['state_schema']}.gainsight_runs yet.")
        return
    for entry in models:
        last = entry["last_success"] or "never"
        out.print(f"{entry['model']}  (last successful sync: {last})", markup=False)
        if entry["open_rejects"]:
            codes = ", ".join(f"{c} {n:,}" for c, n in sorted(entry["open_rejects"].items()))
            out.print(
                f"  open rejects: {codes} (in {report['state_schema']}.gainsight_rejects)",
                markup=False,
            )
        if not entry["runs"]:
            out.print("  no run recorded", markup=False)
            continue
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
        for name in ("started", "status", "sent", "accepted", "rejected", "failed", "calls"):
            table.add_column(name, justify="left" if name in ("started", "status") else "right")
        for run in entry["runs"]:
            table.add_row(
                str(run["started_at"])[:19].replace("T", " "),
                str(run["status"]),
                *(_cell(run[k]) for k in ("sent", "accepted", "rejected", "failed", "api_calls")),
            )
        out.print(table)
        latest = entry["runs"][0]
        if latest["status"] != "success" and latest.get("message"):  # why it did not succeed
            out.print(f"  last run: {latest['status']}: {latest['message']}", markup=False)
