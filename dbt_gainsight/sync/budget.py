"""The API budget a run may spend: ``--max-calls`` per run and ``daily_call_budget`` per day.

Gainsight gives a tenant one key and about 50,000 calls a day, shared by every
integration. A run is refused before its first call when its estimate (the dry run's) is
over ``--max-calls``; a model stops before it would pass the day's budget, counted from the
run history, and leaves its unsent rows for the next run.
"""

from __future__ import annotations

from collections.abc import Mapping

from dbt_gainsight.errors import GainsightSyncError


class OverBudget(GainsightSyncError):
    """The estimated calls are over ``--max-calls``: exit 2, no call was made."""

    exit_code = 2

    def __init__(self, message: str, estimates: Mapping[str, int]):
        self.estimates = dict(estimates)
        lines = "".join(f"\n  - {model}: about {n} calls" for model, n in self.estimates.items())
        super().__init__(message + lines)
