"""``dbt-gainsight status``: what the run history says, per model, read from the warehouse.

The last runs, when each model last synced successfully and its open rejects by code:
what one would otherwise dig out of CI logs and SQL. Read-only; no Gainsight call.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from dbt_gainsight.sync import history


def status(
    *,
    project_dir: str | os.PathLike | None = None,
    profiles_dir: str | os.PathLike | None = None,
    target: str | None = None,
    vars: str | dict | None = None,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    selector: str | None = None,
    state_schema: str | None = None,
    parse: bool | None = None,
    on_event=None,
) -> dict[str, Any]:
    """``{"state_schema", "models": [...]}``; a selection limits it to those models."""
    from dbt_gainsight.api import Session
    from dbt_gainsight.warehouse import Warehouse

    session = Session(
        project_dir=project_dir,
        profiles_dir=profiles_dir,
        target=target,
        vars=vars,
        on_event=on_event,
        parse=parse,
    )
    chosen = None
    if select or exclude or selector:
        chosen = session.project.select(select, exclude, selector)
    wh = Warehouse(session.args, session.project.manifest)
    try:
        with wh.connection("gainsight-status"):
            schema = state_schema or session.settings.state_schema
            schema = schema or f"{wh.target_schema}_gainsight"
            models = history.status(wh, schema, chosen)
    finally:
        wh.close()
    known = {m["unique_id"] for m in models}
    for uid in chosen or ():
        if uid not in known:
            node = session.project.node(uid)
            models.append(
                {
                    "model": node.name,
                    "unique_id": uid,
                    "object": None,
                    "last_success": None,
                    "open_rejects": {},
                    "runs": [],
                }
            )
    models.sort(key=lambda m: m["model"])
    return {"state_schema": schema, "models": models}
