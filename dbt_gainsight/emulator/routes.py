"""The HTTP shape of the API: route table, reply object and Gainsight's response envelope."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass
class Reply:
    """What the socket layer sends: one status, headers and body, or nothing (drop).

    ``delay`` holds the reply back (seconds); ``trickle`` sends the body one byte per
    ``trickle`` seconds after the headers.
    """

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    drop: bool = False
    delay: float = 0.0
    trickle: float = 0.0


def envelope(
    result: bool,
    data: Any = None,
    code: str | None = None,
    desc: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """Gainsight's response envelope; absent values are null."""
    return {
        "result": result,
        "errorCode": code,
        "errorDesc": desc,
        "requestId": str(uuid.uuid4()),
        "data": data,
        "message": message if message is not None else desc,
    }


def json_bytes(obj: Any) -> bytes:
    """Compact JSON, as the real API sends."""
    return json.dumps(obj, separators=(",", ":")).encode()


# (method, regex, route template); the template names the route in counters and the log.
_OBJ = r"([^/]+)"
ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (m, re.compile(p), t)
    for m, p, t in [
        ("POST", rf"/v1/data/objects/query/{_OBJ}", "POST /v1/data/objects/query/{object}"),
        ("POST", rf"/v1/data/objects/{_OBJ}", "POST /v1/data/objects/{object}"),
        ("PUT", rf"/v1/data/objects/{_OBJ}", "PUT /v1/data/objects/{object}"),
        (
            "DELETE",
            rf"/v1/data/objects/{_OBJ}(?:/([^/]*))?",
            "DELETE /v1/data/objects/{object}/{gsid}",
        ),
        ("PUT", r"/v1/peoplemgmt/v1\.0/people", "PUT /v1/peoplemgmt/v1.0/people"),
        ("PUT", r"/v1/peoplemgmt/v1\.0/people/async", "PUT /v1/peoplemgmt/v1.0/people/async"),
        (
            "GET",
            rf"/v1/peoplemgmt/v1\.0/people/async/{_OBJ}",
            "GET /v1/peoplemgmt/v1.0/people/async/{statusId}",
        ),
        ("GET", r"/v1/meta/services/objects/list", "GET /v1/meta/services/objects/list"),
        (
            "GET",
            rf"/v1/meta/services/objects/{_OBJ}/describe",
            "GET /v1/meta/services/objects/{name}/describe",
        ),
        ("POST", r"/v1/meta/services/objects/describe", "POST /v1/meta/services/objects/describe"),
    ]
]
BULK_ROUTE = "PUT /v1/peoplemgmt/v1.0/people/async"


def match_route(method: str, path: str) -> tuple[str, tuple[str, ...]] | None:
    """The route template and its path parameters, or None (404)."""
    for m, pattern, template in ROUTES:
        if m == method:
            hit = pattern.fullmatch(path)
            if hit:
                return template, tuple(unquote(g or "") for g in hit.groups())
    return None
