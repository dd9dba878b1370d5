"""The front of the Gainsight client: one object per tenant that the sync, validate and check use.

It holds the describe cache and delegates the work: :mod:`.transport` (calls, retries, rate
limit), :mod:`.responses` (what replies mean), :mod:`.query` (reads), :mod:`.writes`
(data-object writes), :mod:`.people` (the People API). What reaches the caller is either a
per-record result or an exception from ``dbt_gainsight.errors`` whose message says what to fix.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from dbt_gainsight.errors import (
    AuthError,
    ConfigError,
    ConnectionFailed,
    GainsightAPIError,
    OutcomeUnknown,
    RetryableError,
    redact,
)
from dbt_gainsight.gainsight import people, query, writes
from dbt_gainsight.gainsight.events import CallRecord, ClientEvent, ClientStats
from dbt_gainsight.gainsight.limits import DELETE_NOT_FOUND, MAX_PAGE, check_base_url
from dbt_gainsight.gainsight.objects import PEOPLE_API_OBJECT, ObjectSchema, parse_describe
from dbt_gainsight.gainsight.payloads import lookup_payload
from dbt_gainsight.gainsight.ratelimit import RateLimiter
from dbt_gainsight.gainsight.responses import (
    RecordResult,
    RecordStatus,
    classify_response,
    describe_entry,
    says_no_such_object,
    unknown_object,
)
from dbt_gainsight.gainsight.retry import RetryPolicy
from dbt_gainsight.gainsight.sessions import MAX_REPLY_BYTES
from dbt_gainsight.gainsight.transport import Transport

if TYPE_CHECKING:
    from dbt_gainsight.config.connections import Connection

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
]

_OBJECT_LIST = "/v1/meta/services/objects/list"
#: Objects written through the People API, whose match key is Email (names folded).
PEOPLE_OBJECTS = frozenset(n.replace("_", "").lower() for n in PEOPLE_API_OBJECT.values())


class GainsightClient:
    """A thread-safe client for one Gainsight tenant.

    ``timeout`` bounds each socket read; ``call_deadline`` (default twice that) bounds a whole
    call, connect to last byte. Setting ``cancel`` ends every wait at once (SyncInterrupted)
    and starts no new call. ``on_event`` gets a ClientEvent per retry, rate-limit wait and
    unknown write outcome; ``on_call`` a CallRecord per HTTP attempt (both from worker threads).
    ``clock``, ``wall_clock``, ``sleep`` and ``rng`` are injectable so retries and rate
    limiting can be tested exactly and without waiting.
    """

    def __init__(
        self,
        base_url: str,
        access_key: str,
        *,
        calls_per_minute: int | None = 100,
        max_in_flight: int = 4,
        timeout: float = 60.0,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, so sharing is safe
        verify_tls: bool = True,
        allow_insecure_http: bool = False,
        call_deadline: float | None = None,
        max_reply_bytes: int = MAX_REPLY_BYTES,
        cancel: threading.Event | None = None,
        on_event: Callable[[ClientEvent], None] | None = None,
        on_call: Callable[[CallRecord], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        url = check_base_url(
            redact(base_url or "", access_key), allow_insecure_http=allow_insecure_http
        )
        if not access_key:
            raise ConfigError("no Gainsight access key; set GAINSIGHT_ACCESS_KEY")
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.base_url = url
        self.max_in_flight = max_in_flight
        self.timeout = timeout
        self.retry = retry
        self.verify_tls = verify_tls
        self._transport = Transport(
            url,
            access_key,
            calls_per_minute=calls_per_minute,
            max_in_flight=max_in_flight,
            timeout=timeout,
            call_deadline=call_deadline,
            max_reply_bytes=max_reply_bytes,
            retry=retry,
            verify_tls=verify_tls,
            clock=clock,
            wall_clock=wall_clock,
            sleep=sleep,
            rng=rng or random.Random(),
            cancel=cancel,
            on_event=on_event,
            on_call=on_call,
        )
        self._lock = threading.Lock()
        self._schemas: dict[str, ObjectSchema] = {}
        self._object_names: list[str] | None = None
        self.describe_entries: dict[str, dict[str, Any]] = {}  # raw, for caching

    def __repr__(self) -> str:
        return f"GainsightClient(base_url={self.base_url!r}, access_key='***')"

    @property
    def stats(self) -> ClientStats:
        """Counters of calls, retries, 429s, ... for the run report."""
        return self._transport.stats

    def gate_calls(self, gate: Callable[[], None] | None) -> None:
        """Ask ``gate`` before every call leaves; it raises (e.g. CallBudgetUsed) to refuse it."""
        self._transport.gate = gate

    @property
    def limiter(self) -> RateLimiter:
        """The call budget shared by every thread of this client."""
        return self._transport.limiter

    # --- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Close every connection pool."""
        self._transport.close()

    def __enter__(self) -> GainsightClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- metadata ----------------------------------------------------------------------

    def check(self) -> dict[str, Any]:
        """Prove the URL and key work with one cheap call; the error says which is wrong."""
        started = time.monotonic()
        try:
            envelope = self._transport.call(
                "GET",
                _OBJECT_LIST,
                idempotent=True,
                retry=RetryPolicy(max_attempts=min(3, self.retry.max_attempts)),
                connect_retry=False,
            )
        except (AuthError, ConnectionFailed):
            raise
        except (RetryableError, OutcomeUnknown) as exc:
            raise ConnectionFailed(
                f"{self.base_url} did not answer usefully ({exc}); check GAINSIGHT_URL or retry",
                status=exc.status,
                error_code=exc.error_code,
            ) from None
        data = envelope.get("data") or []
        return {
            "url": self.base_url,
            "objects": len(data) if isinstance(data, list) else None,
            "request_id": envelope.get("requestId"),
            "elapsed_ms": round((time.monotonic() - started) * 1000),
        }

    def object_names(self) -> list[str]:
        """The tenant's object names (asked once), for a did-you-mean on an unknown object."""
        if self._object_names is None:
            envelope = self._transport.call("GET", _OBJECT_LIST, idempotent=True)
            data = envelope.get("data") or []
            rows = data if isinstance(data, list) else []
            self._object_names = [
                str(row["objectName"])
                for row in rows
                if isinstance(row, dict) and row.get("objectName")
            ]
        return self._object_names

    def describe(self, object_name: str) -> ObjectSchema:
        """The object's schema; asked once per client, then cached. UnknownObject if none."""
        with self._lock:
            cached = self._schemas.get(object_name)
        if cached is not None:
            return cached
        path = f"/v1/meta/services/objects/{quote(object_name, safe='')}/describe"
        try:
            envelope = self._transport.call("GET", path, idempotent=True, obj=object_name)
        except GainsightAPIError as exc:
            if not says_no_such_object(exc):
                raise
            raise unknown_object(exc, object_name) from None
        self.remember_describe(object_name, describe_entry(envelope.get("data"), object_name))
        with self._lock:
            return self._schemas[object_name]

    def remember_describe(self, object_name: str, entry: Mapping[str, Any]) -> None:
        """Use a describe entry fetched earlier (the sync caches them in the warehouse)."""
        schema = parse_describe(entry)
        with self._lock:
            self._schemas[object_name] = schema
            self.describe_entries[object_name] = dict(entry)

    # --- reads -------------------------------------------------------------------------

    def query(
        self,
        object_name: str,
        select: Sequence[str],
        where: Sequence[query.Condition] | None = None,
        *,
        order_by: Mapping[str, str] | Sequence[str] | None = None,
        page_size: int = MAX_PAGE,
    ) -> Iterator[dict[str, Any]]:
        """Yield the rows matching every ``(field, operator, values)`` condition, page by page.

        Values come back in the API's read forms: dates as epoch ms, picklists as item Gsids.
        """
        body = query.query_body(select, where, order_by, page_size)
        return query.pages(self._transport, object_name, body, page_size)

    def find_gsids(
        self,
        object_name: str,
        key_fields: Sequence[str],
        key_values: Sequence[tuple[Any, ...]],
        field_types: Mapping[str, str] | None = None,
    ) -> dict[tuple[Any, ...], str]:
        """Which of these key tuples exist in Gainsight, and their Gsids (see query.find_gsids).

        ``field_types`` (describe types by field name) default to what this client knows.
        """
        types = field_types or self.field_types(object_name)
        return query.find_gsids(self._transport, object_name, key_fields, key_values, types)

    def field_types(self, object_name: str) -> dict[str, str]:
        """Describe types by field name, from a describe this client fetched or was given.

        Without one, People objects still match by Email, an EMAIL field (the People API's
        documented match key).
        """
        with self._lock:
            schema = self._schemas.get(object_name)
        if schema is not None:
            return {name: f.data_type for name, f in schema.fields.items()}
        if object_name.replace("_", "").lower() in PEOPLE_OBJECTS:
            return {"Email": "EMAIL"}
        return {}

    # --- data-object writes ------------------------------------------------------------

    def insert(
        self,
        object_name: str,
        records: list[dict[str, Any]],
        *,
        keys: Sequence[str],
        lookups: dict[str, Any] | None = None,
    ) -> Sequence[RecordResult]:
        """Create records (POST); one result per record, in order.

        ``keys`` are only used when a reply is lost: the keys are queried first and only the
        records not found are sent again, since Gainsight has no idempotency key.
        """
        types = self.field_types(object_name)
        return writes.write(self._transport, "POST", object_name, records, keys, lookups, types)

    def update(
        self,
        object_name: str,
        records: list[dict[str, Any]],
        *,
        keys: Sequence[str],
        lookups: dict[str, Any] | None = None,
    ) -> Sequence[RecordResult]:
        """Update existing records matched by ``keys`` (PUT); missing ones come back not_found."""
        types = self.field_types(object_name)
        return writes.write(self._transport, "PUT", object_name, records, keys, lookups, types)

    def delete(self, object_name: str, gsid: str) -> RecordResult:
        """Delete one record by Gsid (DELETE); a Gsid Gainsight does not know is NOT_FOUND.

        Safe to retry: a delete applied before its reply was lost answers GSOBJ_1004 again.
        """
        path = f"/v1/data/objects/{quote(object_name, safe='')}/{quote(gsid, safe='')}"
        try:
            self._transport.call("DELETE", path, idempotent=True, records=1)
        except AuthError:
            raise
        except GainsightAPIError as exc:
            if exc.error_code == DELETE_NOT_FOUND:
                return RecordResult(RecordStatus.NOT_FOUND, gsid, exc.error_code, str(exc))
            transient = isinstance(exc, (RetryableError, OutcomeUnknown))
            status = RecordStatus.FAILED if transient else RecordStatus.REJECTED
            return RecordResult(status, gsid, exc.error_code, exc.error_desc or str(exc))
        return RecordResult(RecordStatus.ACCEPTED, gsid)

    # --- people ------------------------------------------------------------------------

    def put_person(self, person: dict[str, Any]) -> RecordResult:
        """Create or update one Person by Email (with its company/relationship links)."""
        return people.put_person(self._transport, person)

    def put_people_async(self, batch: list[dict[str, Any]]) -> str:
        """Submit up to 50 people for background processing; returns the job's statusId."""
        return people.put_people_async(self._transport, batch)

    def people_async_status(self, status_id: str) -> dict[str, Any]:
        """The state of an async people job (status, counts, per-index errors)."""
        return people.people_async_status(self._transport, status_id)

    def put_people_bulk(
        self,
        batch: list[dict[str, Any]],
        *,
        poll_seconds: float = 5.0,
        timeout_seconds: float = 1800.0,
    ) -> list[RecordResult]:
        """Upsert up to 50 people with the async call and wait for each one's outcome."""
        return people.put_people_bulk(
            self._transport, batch, poll_seconds=poll_seconds, timeout_seconds=timeout_seconds
        )


def client_for(connection: Connection, **hooks: Any) -> GainsightClient:
    """The client for one named connection of gainsight.yml: the only way callers build one.

    ``hooks`` are passed on (e.g. ``on_event``, ``on_call``, ``cancel``) so every command gets
    the same settings from the connection and nothing is dropped on the way.
    """
    return GainsightClient(
        connection.url,
        connection.access_key.reveal(),
        calls_per_minute=connection.calls_per_minute,
        max_in_flight=connection.max_in_flight,
        timeout=connection.timeout_seconds,
        retry=RetryPolicy(max_attempts=connection.max_retries + 1),
        verify_tls=connection.verify_tls,
        allow_insecure_http=connection.allow_insecure_http,
        **hooks,
    )
