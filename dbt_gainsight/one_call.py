"""One dbt-gainsight call at a time in a process: dbt's state is the process's.

dbt keeps its adapters, flags and invocation context in module globals: a call that starts
registers its project's adapter and resets the others, which closes the connections of a sync
already running on another project in the same process (an orchestrator's worker threads).
So the API's calls take turns; a call made from inside another (``build`` syncs) goes ahead.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_TURN = threading.RLock()  # re-entrant: build calls sync on the same thread


def one_at_a_time(func: F) -> F:
    """Run ``func`` once no other wrapped call runs in this process (waiting, and saying so)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not _TURN.acquire(blocking=False):
            emit = kwargs.get("on_event")
            if emit is not None:
                emit(
                    "info",
                    "Waiting for another dbt-gainsight call in this process to end "
                    "(dbt runs one project at a time in a process).",
                )
            _TURN.acquire()
        try:
            return func(*args, **kwargs)
        finally:
            _TURN.release()

    return wrapper  # type: ignore[return-value]
