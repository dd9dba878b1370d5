"""The public face of the emulator: start it on a free port, inspect it, break it on purpose."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from dbt_gainsight.emulator.app import Core, Settings
from dbt_gainsight.emulator.objects import builtin_objects, load_objects_file
from dbt_gainsight.emulator.server import EmulatorHTTPServer
from dbt_gainsight.emulator.store import Store


class Emulator:
    """A local, stateful Gainsight REST API on ``host:port`` (0 = a free port).

    ``rate_limit_per_minute`` / ``daily_limit`` of None or 0 turn a limit off. ``clock`` is the
    wall clock the fixed windows and timestamps use (default ``time.time``).
    ``query_data_shape`` is ``"list"`` or ``"records"``; ``query_empty_result`` is ``"empty"``
    (result true, no rows) or ``"error"`` (result false, "No data found for given criteria").
    ``retry_after`` adds a Retry-After header to 429s: seconds, or ``"auto"`` for the time
    left in the window.
    """

    def __init__(
        self,
        access_key: str = "emulator-key",
        rate_limit_per_minute: int | None = 100,
        daily_limit: int | None = 50_000,
        latency_ms: float = 0,
        latency_jitter_ms: float = 0,
        objects_file: str | Path | None = None,
        state_file: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] | None = None,
        seed: int | None = None,
        query_data_shape: str = "list",
        retry_after: float | str | None = None,
        *,
        bulk_limit_per_hour: int | None = 10,
        bulk_daily_limit: int | None = 100,
        query_empty_result: str = "empty",
    ):
        if query_data_shape not in ("list", "records"):
            raise ValueError("query_data_shape must be 'list' or 'records'")
        if query_empty_result not in ("empty", "error"):
            raise ValueError("query_empty_result must be 'empty' or 'error'")
        self.access_key = access_key
        self.host = host
        self._port = port
        self.clock = clock or time.time
        objects = builtin_objects()
        if objects_file:
            load_objects_file(objects_file, objects)
        self.store = Store(
            objects,
            state_file=str(state_file) if state_file else None,
            seed=seed,
            clock=self.clock,
        )
        settings = Settings(
            access_key=access_key,
            rate_limit_per_minute=rate_limit_per_minute,
            daily_limit=daily_limit,
            bulk_limit_per_hour=bulk_limit_per_hour,
            bulk_daily_limit=bulk_daily_limit,
            latency_ms=latency_ms,
            latency_jitter_ms=latency_jitter_ms,
            query_data_shape=query_data_shape,
            query_empty_result=query_empty_result,
            retry_after=retry_after,
        )
        self._stopping = threading.Event()
        self.core = Core(settings, self.store, self.clock, random.Random(seed), self._stopping)
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> Emulator:
        """Bind and serve in a background thread; returns self."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = EmulatorHTTPServer((self.host, self._port), self.core)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="gainsight-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, release the port and close the state file."""
        self._stopping.set()
        self.core.jobs.clear()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.close_connections()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.store.close()

    def serve_forever(self) -> None:
        """Serve in the calling thread until stop() (the CLI's mode)."""
        self.start()
        assert self._thread is not None
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(0.2)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (after start)."""
        if self._server is None:
            return self._port
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (the client's GAINSIGHT_URL)."""
        return f"http://{self.host}:{self.port}"

    # -- inspection ----------------------------------------------------------------------
    def records(self, object_name: str) -> list[dict[str, Any]]:
        """All stored records: dates "YYYY-MM-DD", datetimes ISO UTC, picklist labels."""
        return self.core.records(object_name)

    def counters(self) -> dict[str, Any]:
        """Totals since start or reset (docs/gainsight-api.md, "Inspection routes")."""
        return self.core.counters()

    def request_log(self) -> list[dict[str, Any]]:
        """API calls, oldest first: method, path, route, status, records, time, duration_ms."""
        return self.core.request_log()

    def reset(self, data: bool = True, counters: bool = True) -> None:
        """Forget records (built-ins reseeded, faults cleared) and/or counters and windows."""
        self.core.reset(data=data, counters=counters)

    def set_limits(self, **settings: Any) -> None:
        """Change rate_limit_per_minute, daily_limit, bulk limits, latency, retry_after, ..."""
        self.core.set_limits(**settings)

    def seed_records(self, object_name: str, records: Iterable[dict[str, Any]]) -> list[str]:
        """Preload records (API write form, validated) without HTTP or limits; returns Gsids."""
        return self.core.seed_records(object_name, records)

    # -- faults --------------------------------------------------------------------------
    def inject_fault(self, kind: str, count: int = 1, **params: Any) -> None:
        """Make the next ``count`` API calls fail, to test the client's recovery.

        Nothing applied: status (status=500|502|503|504, code=, desc=), timeout (seconds=30), drop,
        rate_limit (retry_after=seconds|"auto"), html. Applied: lost_reply; slow_apply
        (apply_after=1, reply_after=None: never; writes only); trickle (interval=0.5 s per
        byte); people_pending (seconds=60; async people jobs only). reject_value (field=,
        value=) lasts until reset. ``method=`` and ``path_contains=`` restrict which calls a
        fault hits. docs/gainsight-api.md, "Emulator faults", has the details.
        """
        self.core.faults.inject(kind, count, **params)

    def set_random_faults(
        self,
        rate: float = 0.05,
        kinds: tuple[str, ...] = ("status", "rate_limit"),
        seed: int | None = 1,
        **params: Any,
    ) -> None:
        """Fail a seeded random fraction of API calls (rate=0 turns it off)."""
        self.core.faults.set_random(rate, tuple(kinds), seed, **params)

    def clear_faults(self) -> None:
        """Remove every pending, random and reject_value fault."""
        self.core.faults.reset()
