from __future__ import annotations

from collections.abc import Callable

import pytest

from dbt_gainsight.emulator import Emulator
from tests.emulator.gs_helpers import Api


@pytest.fixture
def gs(gainsight_emulator: Emulator) -> Emulator:
    return gainsight_emulator


@pytest.fixture
def api(gs: Emulator) -> Api:
    return Api(gs)


@pytest.fixture
def make_api() -> Callable[..., Api]:
    return Api
