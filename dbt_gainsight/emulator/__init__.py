"""A local, stateful Gainsight REST API emulator that enforces the documented contract."""

from __future__ import annotations
