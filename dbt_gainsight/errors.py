"""One exception tree, grouped by what the caller should do about it.

- ``ConfigError``: the user fixes YAML, flags or the environment; exit 2, nothing sent.
- ``ConnectionFailed`` / ``AuthError``: the URL or access key is wrong; nothing more can be sent.
- ``RetryableError``: transient, nothing was applied (429, 5xx on a safe call, no connection);
  the client retries it.
- ``OutcomeUnknown``: a write may or may not have been applied (no reply); never blindly
  retried, so it is deliberately not a ``RetryableError``.
- ``RecordRejected``: Gainsight refused one record; it goes to the rejects table.

Messages say what to do. None of them may contain an access key: build them from
``redact()``-ed values only.
"""

from __future__ import annotations

from dataclasses import dataclass


class GainsightSyncError(Exception):
    """Root of every error dbt-gainsight raises on purpose."""

    exit_code = 1


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in one model's ``meta.gainsight`` block."""

    model: str
    yaml_path: str
    key_path: str
    message: str

    def __str__(self) -> str:
        return f"{self.yaml_path}: {self.model}: {self.key_path}: {self.message}"


class ConfigError(GainsightSyncError):
    """Configuration, selection or usage problem. Exit 2; nothing was sent."""

    exit_code = 2

    def __init__(self, message: str, problems: list[ConfigProblem] | None = None):
        self.problems = list(problems or [])
        if self.problems:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            message = f"{message}\n{lines}"
        super().__init__(message)


class ProjectError(ConfigError):
    """The dbt project cannot be parsed, or a selected model cannot be read."""


class ModelNotBuiltError(GainsightSyncError):
    """A selected model's relation does not exist in the warehouse."""


class WarehouseError(GainsightSyncError):
    """The warehouse failed a query of the sync (out of memory, a lost connection, ...)."""


class StateError(GainsightSyncError):
    """The sync state in the warehouse cannot be used or written."""


class StateVersionError(StateError):
    """The state was written by a newer dbt-gainsight; upgrade before syncing."""


class StateWriteError(StateError):
    """Writing Gainsight's answers to the state failed; the model stops (exit 1)."""


class ReadBackError(GainsightSyncError):
    """The audit's temporary file of records read back failed (a full or unwritable TMPDIR)."""


class LockHeld(ConfigError):
    """Another sync holds some selected model (exit 2, nothing sent)."""


class GainsightAPIError(GainsightSyncError):
    """Gainsight answered in a way the client cannot use.

    ``error_desc`` is Gainsight's own ``errorDesc`` text (it may quote record values: keep it
    in the rejects table, not in console logs); the message says what to do.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_code: str | None = None,
        error_desc: str | None = None,
        request_id: str | None = None,
    ):
        self.status = status
        self.error_code = error_code
        self.error_desc = error_desc
        self.request_id = request_id
        super().__init__(message)


class CallBudgetUsed(GainsightAPIError):
    """No call was made: the connection's ``daily_call_budget`` is used (sync/budget.py).

    Raised where calls are counted, before the request leaves, so a budget is never passed
    by calls already queued or waiting for the rate limiter. Records it stops are not sent;
    the next run sends them.
    """


class AuthError(GainsightAPIError):
    """The access key was refused (401 GS_APIG_2401/2402, GSOBJ_1024). Fix the key, then rerun."""


class ConnectionFailed(GainsightAPIError):
    """The Gainsight URL cannot be reached or does not answer like Gainsight."""


class UnknownObject(GainsightAPIError):
    """Describe (or a write) named an object the tenant does not have."""


class NoDataFound(GainsightAPIError):
    """A query matched nothing, said as an error (``result: false``); callers read it as no rows."""


class RetryableError(GainsightAPIError):
    """A transient failure where nothing was applied; trying again is safe."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class RateLimited(RetryableError):
    """HTTP 429 (GS_APIG_2404): over the per-minute or daily call budget."""


class ServerError(RetryableError):
    """HTTP 5xx on a call that is safe to repeat (a read, or an idempotent update)."""


class NotConnected(RetryableError):
    """No connection was made (refused, connect timeout): nothing was sent."""


class OutcomeUnknown(GainsightAPIError):
    """The request may have been applied but the reply was lost (timeout, reset, 5xx).

    Not a RetryableError: Gainsight has no idempotency key, so resending a POST could
    create a duplicate. Reads and PUTs are idempotent and retried by the client anyway.
    """


class RecordRejected(GainsightAPIError):
    """Gainsight refused the record (HTTP 400 with a GSOBJ code); retrying will not help."""


class ValueConversionError(GainsightSyncError):
    """A column value cannot be converted to its Gainsight field type; the record is rejected."""


class SyncInterrupted(GainsightSyncError):
    """The run was stopped (Ctrl-C); state of what was accepted has been saved."""

    exit_code = 130


def redact(text: str, *secrets: str | None) -> str:
    """Replace every secret in ``text`` with ``***`` so it can be logged."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def raise_if_interrupted(exc: BaseException) -> None:
    """Re-raise a Ctrl-C that a library wrapped in its own error.

    mashumaro (reading dbt's manifest) wraps whatever a field's decoder raised, dbtRunner
    returns it as a failed result, and DuckDB raises InterruptException, or, when the signal
    lands while its Python client runs a query, swallows it into RuntimeError("Query
    interrupted"), and Postgres answers a cancelled query with QueryCanceledError: any of
    them would turn a Ctrl-C into a config or warehouse error, with exit 1 or 2, not 130.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, KeyboardInterrupt) or _is_driver_interrupt(current):
            raise KeyboardInterrupt from None
        current = current.__cause__ or current.__context__


def _is_driver_interrupt(exc: BaseException) -> bool:
    """DuckDB's interrupt, or a Postgres query cancelled on Ctrl-C (warehouse.py)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "InterruptException" in names:
        return True
    if "QueryCanceledError" in names:  # not statement_timeout's: that says "statement timeout"
        return "due to user request" in str(exc)
    return type(exc) is RuntimeError and str(exc).strip() == "Query interrupted"
