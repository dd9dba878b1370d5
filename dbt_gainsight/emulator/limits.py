"""Fixed-window call limits per access key ("100 requests between 10:00 and 10:01").

Windows are aligned to the injectable wall clock: the minute window is floor(clock() / 60),
the day floor(clock() / 86400). Every call counts, including ones that fail.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class FixedWindows:
    """Counts calls per key in aligned fixed windows; ``None`` or 0 disables a limit."""

    def __init__(
        self,
        limits: list[tuple[int, int | None]],
        clock: Callable[[], float],
    ):
        # limits: (window seconds, max calls in that window)
        self.limits = limits
        self.clock = clock
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, int], tuple[int, int]] = {}

    def set_limit(self, seconds: int, limit: int | None) -> None:
        """Change the limit of one window size."""
        with self._lock:
            self.limits = [(s, limit if s == seconds else n) for s, n in self.limits]

    def hit(self, key: str) -> float | None:
        """Count one call: None if allowed, else seconds until the refusing window ends."""
        now = self.clock()
        refused: float | None = None
        with self._lock:
            for seconds, limit in self.limits:
                window = int(now // seconds)
                slot = (key, seconds)
                cur_window, count = self._counts.get(slot, (window, 0))
                if cur_window != window:
                    count = 0
                count += 1
                self._counts[slot] = (window, count)
                if limit and count > limit:
                    wait = (window + 1) * seconds - now
                    refused = wait if refused is None else max(refused, wait)
        return refused

    def reset(self) -> None:
        """Forget all counts."""
        with self._lock:
            self._counts.clear()
