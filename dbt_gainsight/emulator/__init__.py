"""A local, stateful Gainsight REST API emulator that enforces the documented contract.

``with Emulator() as gs:`` serves on a free port; point the client at ``gs.url`` with
``gs.access_key``. docs/gainsight-api.md is the contract it enforces.
"""

from __future__ import annotations

from dbt_gainsight.emulator.emulator import Emulator

__all__ = ["Emulator"]
