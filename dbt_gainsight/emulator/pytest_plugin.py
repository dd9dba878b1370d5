"""pytest fixtures that start a local Gainsight emulator (registered via the pytest11 entry point).

``gainsight_emulator`` is a started Emulator with every limit off, so tests run at full speed;
``gainsight_emulator_factory(**kwargs)`` starts one with any Emulator arguments (limits,
latency, a clock, an objects file) and stops it after the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from dbt_gainsight.emulator.emulator import Emulator

LIMITS_OFF: dict[str, Any] = {
    "rate_limit_per_minute": None,
    "daily_limit": None,
    "bulk_limit_per_hour": None,
    "bulk_daily_limit": None,
}


@pytest.fixture
def gainsight_emulator_factory() -> Iterator[Callable[..., Emulator]]:
    """Start emulators with any Emulator kwargs (limits off unless given); all stop at teardown."""
    started: list[Emulator] = []

    def make(**kwargs: Any) -> Emulator:
        kwargs = {"access_key": "test-key", **LIMITS_OFF, **kwargs}
        gs = Emulator(**kwargs).start()
        started.append(gs)
        return gs

    yield make
    for gs in started:
        gs.stop()


@pytest.fixture
def gainsight_emulator(gainsight_emulator_factory: Callable[..., Emulator]) -> Emulator:
    """A started emulator with limits off; ``.url`` and ``.access_key`` configure the client."""
    return gainsight_emulator_factory()
