"""Talking to Gainsight: the HTTP client, its retry and rate-limit rules, schemas and types."""

from __future__ import annotations

from dbt_gainsight.gainsight.client import GainsightClient, client_for
from dbt_gainsight.gainsight.events import CallRecord, ClientEvent, ClientStats
from dbt_gainsight.gainsight.objects import (
    PEOPLE_API_OBJECT,
    SYSTEM_FIELDS,
    FieldSchema,
    ObjectKind,
    ObjectSchema,
    PicklistOption,
    parse_describe,
)
from dbt_gainsight.gainsight.payloads import lookup_payload
from dbt_gainsight.gainsight.ratelimit import Permit, RateLimiter
from dbt_gainsight.gainsight.responses import RecordResult, RecordStatus, classify_response
from dbt_gainsight.gainsight.retry import (
    RetryPolicy,
    backoff_delays,
    next_window_delay,
    parse_retry_after,
)
from dbt_gainsight.gainsight.types import converter_for

__all__ = [
    "CallRecord",
    "ClientEvent",
    "ClientStats",
    "GainsightClient",
    "RecordResult",
    "RecordStatus",
    "classify_response",
    "client_for",
    "lookup_payload",
    "PEOPLE_API_OBJECT",
    "SYSTEM_FIELDS",
    "FieldSchema",
    "ObjectKind",
    "ObjectSchema",
    "Permit",
    "PicklistOption",
    "RateLimiter",
    "RetryPolicy",
    "backoff_delays",
    "converter_for",
    "next_window_delay",
    "parse_describe",
    "parse_retry_after",
]
