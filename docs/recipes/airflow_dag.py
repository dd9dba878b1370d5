"""Airflow: build the Gainsight models with dbt, then sync them, every morning.

The worker needs dbt-gainsight installed and GAINSIGHT_URL / GAINSIGHT_ACCESS_KEY in its
environment (for example from a secrets backend). A sync that rejected records or failed
raises, so the task turns red and Airflow retries it; what Gainsight accepted is never resent.
"""

from __future__ import annotations

import logging

import pendulum
from airflow.decorators import dag, task
from airflow.exceptions import AirflowException

PROJECT_DIR = "/opt/airflow/dbt/analytics"
log = logging.getLogger(__name__)


@dag(
    schedule="15 6 * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["dbt", "gainsight"],
)
def gainsight_sync():
    """Build the models tagged gainsight with dbt, then sync exactly the ones that built."""

    @task(retries=2, retry_delay=pendulum.duration(minutes=10))
    def validate() -> int:
        from dbt_gainsight import api

        result = api.validate(project_dir=PROJECT_DIR, select=["tag:gainsight"])
        return len(result.models)

    @task(retries=2, retry_delay=pendulum.duration(minutes=10))
    def build_and_sync() -> dict[str, int]:
        from dbt_gainsight import api
        from dbt_gainsight.errors import GainsightSyncError

        try:
            result = api.build(
                project_dir=PROJECT_DIR,
                select=["tag:gainsight"],
                on_event=lambda level, message: log.info("%s: %s", level, message),
            )
        except GainsightSyncError as exc:  # config, auth, warehouse: nothing was sent
            raise AirflowException(str(exc)) from exc
        if result.exit_code != 0:
            raise AirflowException(f"dbt-gainsight build exited {result.exit_code}")
        if result.sync is None:  # no gainsight model was selected
            return {}
        return {model.model: model.accepted for model in result.sync.models}

    validate() >> build_and_sync()


gainsight_sync()
