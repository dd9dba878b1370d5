"""pytest fixtures that start a local Gainsight emulator (registered via the pytest11 entry point)."""

from __future__ import annotations
