"""The People API: one person per call, or up to 50 in an async job that is polled to the end.

People are matched by Email, so a PUT creates or updates: there is no insert/update split.
Like data-object writes, these give one result per person and raise only AuthError and
SyncInterrupted: a person whose outcome is not known is FAILED and sent again next run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from dbt_gainsight.errors import AuthError, GainsightAPIError, RecordRejected
from dbt_gainsight.gainsight.limits import MAX_BATCH
from dbt_gainsight.gainsight.responses import (
    RecordResult,
    RecordStatus,
    gsid_of,
    job_state,
    people_results,
    rejected,
    status_id_of,
)
from dbt_gainsight.gainsight.transport import Transport

PEOPLE = "/v1/peoplemgmt/v1.0/people"
PEOPLE_ASYNC = "/v1/peoplemgmt/v1.0/people/async"


def put_person(transport: Transport, person: dict[str, Any]) -> RecordResult:
    """Create or update one Person by Email (with its company/relationship links)."""
    try:
        envelope = transport.call("PUT", PEOPLE, person, idempotent=True, records=1, obj="Person")
    except AuthError:
        raise
    except RecordRejected as exc:
        return rejected(exc)
    except GainsightAPIError as exc:
        return _failed(str(exc), exc.error_code)
    return RecordResult(RecordStatus.ACCEPTED, gsid_of(envelope.get("data")))


def put_people_async(transport: Transport, people: list[dict[str, Any]]) -> str:
    """Submit up to 50 people for background processing; returns the job's statusId."""
    if not 1 <= len(people) <= MAX_BATCH:
        raise ValueError(f"the async people call takes 1 to {MAX_BATCH} people")
    envelope = transport.call(
        "PUT", PEOPLE_ASYNC, people, idempotent=True, records=len(people), obj="Person"
    )
    return status_id_of(envelope.get("data"))


def people_async_status(transport: Transport, status_id: str) -> dict[str, Any]:
    """The state of an async people job (status, counts, per-index errors)."""
    path = f"{PEOPLE_ASYNC}/{quote(status_id, safe='')}"
    data = transport.call("GET", path, idempotent=True, obj="Person").get("data")
    return dict(data) if isinstance(data, Mapping) else {"status": data}


def put_people_bulk(
    transport: Transport,
    people: list[dict[str, Any]],
    *,
    poll_seconds: float,
    timeout_seconds: float,
) -> list[RecordResult]:
    """Upsert up to 50 people with the async call and wait for its per-record outcome.

    Gainsight may take up to 30 minutes; a job still running after ``timeout_seconds``
    is reported as failed (not rejected), so its people are tried again next run.
    """
    try:
        status_id = put_people_async(transport, people)
        deadline = transport.clock() + timeout_seconds
        while True:
            status = people_async_status(transport, status_id)
            state, finished = job_state(status)
            if finished:
                return people_results(status, len(people))
            if transport.clock() >= deadline:
                message = (
                    f"async people job {status_id} still {state or 'pending'} after "
                    f"{timeout_seconds:g}s; sent again next run"
                )
                return [_failed(message) for _ in people]
            transport.pause(poll_seconds)
    except AuthError:
        raise
    except RecordRejected as exc:  # the whole call refused, e.g. one person without Email
        return [rejected(exc) for _ in people]
    except GainsightAPIError as exc:
        return [_failed(str(exc), exc.error_code) for _ in people]


def _failed(message: str, code: str | None = None) -> RecordResult:
    return RecordResult(RecordStatus.FAILED, None, code, message)
