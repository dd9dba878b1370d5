"""Typed results of the Python API's ``validate`` and ``check``.

(``sync`` returns a SyncResult and ``build`` a BuildResult.) Each has ``exit_code`` with the
CLI's meaning, so an orchestrator can fail a task the same way the command would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dbt_gainsight.config.model import SyncConfig


@dataclass
class ValidateResult:
    """The selected models whose config is valid (``validate`` raises ConfigError otherwise)."""

    models: list[SyncConfig] = field(default_factory=list)
    online: bool = False

    @property
    def exit_code(self) -> int:
        """Always 0: a problem is raised as ConfigError (exit 2), never returned."""
        return 0

    def __iter__(self):
        """Iterate the valid configs (the list ``validate`` used to return)."""
        return iter(self.models)

    def __len__(self) -> int:
        return len(self.models)


@dataclass
class CheckResult:
    """One connection that answered with its key accepted."""

    connection: str
    url: str
    objects: int | None = None
    request_id: str | None = None
    elapsed_ms: int | None = None

    @property
    def exit_code(self) -> int:
        """Always 0: a wrong URL or key is raised (AuthError, ConnectionFailed), never returned."""
        return 0

    def __getitem__(self, key: str) -> Any:
        """``result["url"]``: the dict ``check`` used to return."""
        return getattr(self, key)
