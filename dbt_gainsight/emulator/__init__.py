"""A local, stateful Gainsight REST API emulator that enforces the documented contract.

``with Emulator() as gs:`` serves on a free port; point the client at ``gs.url`` with
``gs.access_key``. docs/gainsight-api.md is the contract it enforces.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dbt_gainsight.emulator.emulator import Emulator

__all__ = ["Emulator"]


def __getattr__(name: str) -> Any:
    """``Emulator`` on first use: the CLI loads this package for every command (PEP 562)."""
    if name == "Emulator":
        from dbt_gainsight.emulator.emulator import Emulator

        return Emulator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
