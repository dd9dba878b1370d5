"""The emulator's own routes under ``/__emulator__/``: inspect, seed, reset, limits, faults.

They take no key, skip the rate limits and are not counted; docs/gainsight-api.md lists them.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from dbt_gainsight.emulator.routes import Reply, json_bytes
from dbt_gainsight.emulator.validation import ApiError

if TYPE_CHECKING:
    from dbt_gainsight.emulator.app import Core


def inspect(core: Core, method: str, path: str, headers: Any, body: bytes) -> Reply:
    """Answer one ``/__emulator__/...`` request (JSON in, JSON out, errors as ``{"error"}``)."""
    try:
        payload = json.loads(body) if body.strip() else {}
        sub = path.removeprefix("/__emulator__")
        if method == "GET" and sub == "/health":  # demo.sh: is this our emulator, our key?
            key_ok = headers.get("accesskey") == core.settings.access_key
            out = {"emulator": "dbt-gainsight", "pid": os.getpid(), "access_key_ok": key_ok}
            return Reply(200, json_bytes(out))
        return Reply(200, json_bytes(_route(core, method, sub, payload)))
    except ApiError as err:
        return Reply(err.status, json_bytes({"error": err.desc}))
    except (ValueError, TypeError) as exc:
        return Reply(400, json_bytes({"error": str(exc)}))


def _route(core: Core, method: str, sub: str, payload: Any) -> Any:
    if method == "GET" and sub.startswith("/records/"):
        return core.records(unquote(sub[len("/records/") :]))
    if method == "POST" and sub.startswith("/records/"):
        return {"gsids": core.seed_records(unquote(sub[len("/records/") :]), payload)}
    if method == "GET" and sub == "/counters":
        return core.counters()
    if method == "GET" and sub == "/log":
        return core.request_log()
    if method == "POST" and sub == "/reset":
        core.reset(bool(payload.get("data", True)), bool(payload.get("counters", True)))
        return {"reset": True}
    if method == "POST" and sub == "/faults":
        params = dict(payload)
        kind = params.pop("kind", None)
        if kind == "random":
            core.faults.set_random(**params)
        elif kind == "clear":
            core.faults.reset()
        else:
            core.faults.inject(str(kind), int(params.pop("count", 1)), **params)
        return {"injected": kind}
    if method == "POST" and sub == "/limits":
        core.set_limits(**payload)
        return {"limits": {k: v for k, v in vars(core.settings).items() if k != "access_key"}}
    raise ApiError(None, f"No emulator route {method} /__emulator__{sub}", status=404)
