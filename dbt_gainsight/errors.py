"""One exception tree, grouped by what the caller should do about it.

- ``ConfigError``: the user fixes YAML, flags or the environment; exit 2, nothing sent.
- ``ConnectionError_`` / ``AuthError``: the URL or access key is wrong; nothing more can be sent.
- ``RetryableError``: transient (429, 5xx, timeouts, resets); the client retries it.
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


class GainsightAPIError(GainsightSyncError):
    """Gainsight answered in a way the client cannot use."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_code: str | None = None,
        request_id: str | None = None,
    ):
        self.status = status
        self.error_code = error_code
        self.request_id = request_id
        super().__init__(message)


class AuthError(GainsightAPIError):
    """The access key was refused (401 GS_APIG_2401/2402, GSOBJ_1024). Fix the key, then rerun."""


class ConnectionFailed(GainsightAPIError):
    """The Gainsight URL cannot be reached or does not answer like Gainsight."""


class RetryableError(GainsightAPIError):
    """A transient failure (429, 5xx, timeout, reset) worth trying again."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class RateLimited(RetryableError):
    """HTTP 429 (GS_APIG_2404): over the per-minute or daily call budget."""


class OutcomeUnknown(RetryableError):
    """The request may have been applied but the reply was lost (timeout, reset, 5xx)."""


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
