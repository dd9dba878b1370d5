"""The client's promises under lost replies, interruption, slow servers and odd keys (issue 9).

Each test runs against the emulator (or a tiny local server) over real HTTP and checks what
Gainsight stored, not only the result objects.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from dbt_gainsight.emulator import Emulator
from tests.integration.test_client_emulator import KEY, SkipTime, batches, companies, make_client


@pytest.fixture
def gs():
    with Emulator(access_key=KEY, rate_limit_per_minute=None) as emulator:
        yield emulator


@pytest.fixture
def t():
    return SkipTime()


# --- sessions (#19) -------------------------------------------------------------------------


def test_sessions_are_pooled_across_executors_and_closed(gs, t, monkeypatch):
    """Ten models x 4 workers must not leave 40 sessions open until the run ends."""
    made: list[requests.Session] = []
    closed: list[requests.Session] = []

    class Counted(requests.Session):
        def __init__(self):
            super().__init__()
            made.append(self)

        def close(self):
            closed.append(self)
            super().close()

    monkeypatch.setattr(requests, "Session", Counted)
    client = make_client(gs, t, max_in_flight=4)
    for model in range(5):  # one executor per model, as the engine does
        records = companies(200, prefix=f"M{model}")
        with ThreadPoolExecutor(4) as pool:
            parts = pool.map(lambda b: client.insert("Company", b, keys=["Name"]), batches(records))
            assert all(r.ok for part in parts for r in part)
    assert len(gs.records("Company")) == 1000
    assert 1 <= len(made) <= 4, f"{len(made)} sessions for 4 calls in flight at most"
    client.close()
    assert set(closed) >= set(made)
