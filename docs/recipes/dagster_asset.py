"""Dagster: a Gainsight asset downstream of the dbt models that feed it.

Materialise it after the dbt assets (dagster-dbt's keys are the model names); the metadata
shows what Gainsight accepted. GAINSIGHT_URL and GAINSIGHT_ACCESS_KEY come from the
environment of the code location.
"""

from __future__ import annotations

from dagster import (
    AssetExecutionContext,
    AssetKey,
    Definitions,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

PROJECT_DIR = "analytics"
MODELS = ["gs_companies", "gs_relationships", "gs_usage_summary", "gs_company_people"]


@asset(deps=[AssetKey(name) for name in MODELS], group_name="gainsight", kinds={"gainsight"})
def gainsight_sync(context: AssetExecutionContext) -> MaterializeResult:
    """Send the changed rows of the gainsight models to Gainsight."""
    from dbt_gainsight import api

    result = api.sync(
        project_dir=PROJECT_DIR,
        select=["tag:gainsight"],
        on_event=lambda level, message: context.log.info(f"{level}: {message}"),
        on_progress=lambda model, read: context.log.debug(f"{model.model}: {read} rows read"),
    )
    table = {m.model: f"{m.accepted} accepted, {m.rejected} rejected" for m in result.models}
    if result.exit_code != 0:
        raise Failure(
            description=f"dbt-gainsight sync exited {result.exit_code}",
            metadata={"models": MetadataValue.json(table)},
        )
    return MaterializeResult(
        metadata={
            "models": MetadataValue.json(table),
            "api_calls": sum(m.api_calls for m in result.models),
            "run_id": result.run_id,
        }
    )


defs = Definitions(assets=[gainsight_sync])
