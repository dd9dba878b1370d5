"""What Gainsight's replies mean: the one place that reads status codes, envelopes and results.

:func:`classify_response` turns a reply into its envelope or the exception it stands for; the
other functions read a successful envelope's ``data`` (per-record write results, query rows,
describe entries, async people jobs). Nothing else in the client interprets a reply, so a
variant of the API (a 400 where the contract says ``result: false``) is handled here once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from dbt_gainsight.errors import (
    AuthError,
    ConnectionFailed,
    GainsightAPIError,
    NoDataFound,
    OutcomeUnknown,
    RateLimited,
    RecordRejected,
    ServerError,
    UnknownObject,
)
from dbt_gainsight.gainsight.limits import (
    AUTH_CODES,
    NO_DATA_DESC,
    NO_ROUTE,
    NOT_FOUND,
    UNKNOWN_OBJECT,
)
from dbt_gainsight.gainsight.retry import parse_retry_after
from dbt_gainsight.gainsight.sessions import Reply


class RecordStatus(Enum):
    """What became of one record of a write.

    FAILED means not known to be applied (no reply, retries exhausted, the call could not be
    encoded): never saved to state, sent again next run. REJECTED means Gainsight refused it.
    """

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    NOT_FOUND = "not_found"
    FAILED = "failed"


class RecordResult(NamedTuple):
    """What Gainsight did with one record of a write, in input order.

    A named tuple, not a frozen dataclass: a first sync makes one per record on the HTTP
    threads, and a tuple is made in a third of the time.
    """

    status: RecordStatus
    gsid: str | None = None
    error_code: str | None = None
    error_message: str | None = None

    @property
    def ok(self) -> bool:
        """Gainsight accepted the record."""
        return self.status is RecordStatus.ACCEPTED

    @property
    def not_found(self) -> bool:
        """An update whose keys matched no record."""
        return self.status is RecordStatus.NOT_FOUND


def classify_response(
    response: Reply, *, idempotent: bool, base_url: str, now: float
) -> dict[str, Any]:
    """Return the envelope of a successful reply, or raise what the reply means.

    ``now`` is the wall clock for an HTTP-date Retry-After. ``idempotent`` decides whether
    a 5xx is a plain ServerError (safe to repeat) or an OutcomeUnknown (a write may have
    happened). A 503 is a ServerError either way: the service did not take the call
    (RFC 9110), while a 500, 502 or 504 can come after the write was applied.
    """
    status = response.status_code
    if 300 <= status < 400:
        location = response.headers.get("Location") or "an unnamed location"
        raise ConnectionFailed(
            f"{base_url} answered with a redirect (HTTP {status}) to {location}; the client never"
            " follows redirects (the access key would go along), so set GAINSIGHT_URL to the"
            " address Gainsight's API answers on",
            status=status,
        )
    envelope = _envelope(response)
    if envelope is None:
        kind = response.headers.get("Content-Type") or "no content type"
        if status == 429:
            raise RateLimited(
                f"Gainsight's call limit was reached (HTTP 429, {kind})",
                status=status,
                retry_after=parse_retry_after(response.headers.get("Retry-After"), now),
            )
        if status >= 500:
            cls = ServerError if idempotent or status == 503 else OutcomeUnknown
            raise cls(f"Gainsight failed with HTTP {status} and a non-JSON body", status=status)
        raise ConnectionFailed(
            f"{base_url} answered (HTTP {status}, {kind}) but not as Gainsight's API;"
            " check GAINSIGHT_URL (the tenant address, e.g. https://acme.gainsightcloud.com)",
            status=status,
        )
    code = envelope.get("errorCode") or None
    desc = str(envelope.get("errorDesc") or envelope.get("message") or "")
    extra = {
        "status": status,
        "error_code": code,
        "error_desc": desc or None,
        "request_id": envelope.get("requestId"),
    }
    if status == 401 or code in AUTH_CODES:
        raise AuthError(_auth_message(code, base_url), **extra)
    if status == 429:
        raise RateLimited(
            f"Gainsight's call limit was reached (HTTP 429, {code or 'no code'})",
            retry_after=parse_retry_after(response.headers.get("Retry-After"), now),
            **extra,
        )
    if status >= 500:
        cls = ServerError if idempotent or status == 503 else OutcomeUnknown
        raise cls(f"Gainsight failed with HTTP {status} ({code or 'no code'}: {desc})", **extra)
    if code == UNKNOWN_OBJECT:  # about the object, not a record: splitting would not help
        raise UnknownObject(f"Gainsight has no such object ({code}: {desc})", **extra)
    if 200 <= status < 300:
        if envelope.get("result") is True:
            return envelope
        if NO_DATA_DESC in desc.lower():
            raise NoDataFound(desc, **extra)
        cls = RecordRejected if code and code.startswith("GSOBJ") else GainsightAPIError
        raise cls(desc or f"Gainsight answered result=false ({code})", **extra)
    if status == 404 and code == NO_ROUTE:
        raise ConnectionFailed(
            f"{base_url} has no such API route (404 {NO_ROUTE}); check GAINSIGHT_URL: it"
            " must be the tenant's base address, e.g. https://acme.gainsightcloud.com",
            **extra,
        )
    if code:
        raise RecordRejected(desc or code, **extra)
    raise GainsightAPIError(f"Gainsight answered HTTP {status}: {desc}", **extra)


def _envelope(response: Reply) -> dict[str, Any] | None:
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    if isinstance(body, dict) and "result" in body:
        return body
    return None


def _auth_message(code: str | None, base_url: str) -> str:
    host = urlsplit(base_url).hostname
    if code == "GS_APIG_2402":
        return (
            "Gainsight refused the access key from this network (GS_APIG_2402: the source IP"
            f" is not in the key's allow-list on {host}). Ask a Gainsight admin to allow it."
        )
    return (
        f"Gainsight refused the access key ({code or 'HTTP 401'}). Check GAINSIGHT_ACCESS_KEY:"
        f" it must be a 'Gainsight API' key from Administration > Connectors 2.0 on {host}."
    )


# --- reads --------------------------------------------------------------------------------


def means_no_rows(exc: GainsightAPIError) -> bool:
    """Whether a query's error is the API's way of saying "nothing matched".

    Documented: ``result: false`` with "No data found". Seen in a stricter variant: a
    whole-call 400 GSOBJ_1011 ("No entity matches the given criteria").
    """
    if isinstance(exc, NoDataFound):
        return True
    return isinstance(exc, RecordRejected) and exc.error_code == NOT_FOUND


def rows_of(data: Any) -> list[dict[str, Any]]:
    """A query page's rows: ``data`` is a list in some replies, ``{"records": [...]}`` in others."""
    if data is None:
        return []
    if isinstance(data, list):
        return data
    if isinstance(data, Mapping):
        rows = data.get("records")
        if rows is None:
            rows = data.get("data")
        return list(rows or [])
    raise GainsightAPIError("Gainsight's query reply has an unreadable 'data' field")


def gsid_of(entry: Any) -> str | None:
    """The Gsid in one result entry (``{"Gsid": ...}`` or a bare string)."""
    gsid = entry.get("Gsid") if entry.__class__ is dict else None
    if gsid.__class__ is str and gsid:
        return gsid  # the documented form, once per record: the fast path
    if isinstance(entry, Mapping):
        gsid = entry.get("Gsid") or entry.get("gsid") or entry.get("id")
        return str(gsid) if gsid else None
    if isinstance(entry, str) and entry:
        return entry
    return None


def describe_entry(data: Any, object_name: str) -> dict[str, Any]:
    """The entry for ``object_name`` in describe's ``data`` (a list, or one entry)."""
    entries = data if isinstance(data, list) else [data] if data else []
    entry = next(
        (
            e
            for e in entries
            if isinstance(e, Mapping)
            and str(e.get("objectName", "")).lower() == object_name.lower()
        ),
        entries[0] if entries else None,
    )
    if not entry:
        raise UnknownObject(f"Gainsight has no object {object_name!r} (describe returned nothing)")
    return dict(entry)


def says_no_such_object(exc: GainsightAPIError) -> bool:
    """Whether describe's error is Gainsight answering (not auth, network or load trouble)."""
    answered = type(exc) in (GainsightAPIError, RecordRejected, NoDataFound, UnknownObject)
    return answered and exc.status is not None and exc.status < 500


def unknown_object(exc: GainsightAPIError, object_name: str) -> UnknownObject:
    """Describe failed for a reason other than auth, network or load: the object is not there.

    Variants answer 200 ``result: false`` or a 400 with a GSOBJ code; both mean this.
    """
    return UnknownObject(
        f"Gainsight has no object {object_name!r} (describe: {exc.error_desc or exc})",
        status=exc.status,
        error_code=exc.error_code,
        error_desc=exc.error_desc,
        request_id=exc.request_id,
    )


# --- writes -------------------------------------------------------------------------------


def rejected(exc: GainsightAPIError) -> RecordResult:
    """The result of a record Gainsight refused on its own (a one-record call failed)."""
    status = RecordStatus.NOT_FOUND if exc.error_code == NOT_FOUND else RecordStatus.REJECTED
    return RecordResult(status, None, exc.error_code, exc.error_desc or str(exc))


class AllAccepted(Sequence[RecordResult]):
    """The results of a write whose every record Gainsight accepted: their Gsids, in order.

    The answer to almost every call of a sync; each result is made only when it is read, and
    the engine reads ``gsids`` instead (50 named tuples a call were a first sync's largest
    allocation on the HTTP threads after the JSON itself).
    """

    __slots__ = ("gsids",)

    def __init__(self, gsids: list[str | None]) -> None:
        self.gsids = gsids

    def __len__(self) -> int:
        return len(self.gsids)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [RecordResult(RecordStatus.ACCEPTED, g) for g in self.gsids[index]]
        return RecordResult(RecordStatus.ACCEPTED, self.gsids[index])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"AllAccepted({self.gsids!r})"


def write_results(data: Any, n: int) -> Sequence[RecordResult]:
    """Per-record results of a successful write of ``n`` records: Gsids, ``data.errors`` by index.

    ``records`` holds one entry per input record, or one per record without an error.
    """
    data = data if isinstance(data, Mapping) else {}
    entries = list(data.get("records") or [])
    errors: dict[int, Mapping[str, Any]] = {}
    for err in data.get("errors") or []:
        if isinstance(err, Mapping) and isinstance(err.get("index"), int):
            errors[err["index"]] = err
    if not errors and len(entries) == n:  # every record written: the common case, per call
        return AllAccepted(_gsids(entries))
    ok_positions = [p for p in range(n) if p not in errors]
    if len(entries) == n:
        gsids = {p: gsid_of(entries[p]) for p in ok_positions}
    elif len(entries) == len(ok_positions):
        gsids = {p: gsid_of(e) for p, e in zip(ok_positions, entries, strict=True)}
    else:
        gsids = {}
    out = []
    for p in range(n):
        err = errors.get(p)
        if err is None:
            out.append(RecordResult(RecordStatus.ACCEPTED, gsids.get(p)))
        else:
            out.append(_error_result(err))
    return out


def _gsids(entries: list[Any]) -> list[str | None]:
    """Each entry's Gsid: read directly when every entry is ``{"Gsid": "<text>"}``."""
    try:
        gsids = [e["Gsid"] for e in entries]
    except (KeyError, TypeError, IndexError):
        gsids = None
    if gsids is None or set(map(type, gsids)) - {str} or "" in gsids:
        return [gsid_of(e) for e in entries]  # other shapes, or a Gsid that is not text
    return gsids


def _error_result(err: Mapping[str, Any]) -> RecordResult:
    code = err.get("errorCode")
    status = RecordStatus.NOT_FOUND if code == NOT_FOUND else RecordStatus.REJECTED
    return RecordResult(status, None, code, err.get("errorDesc"))


# --- people -------------------------------------------------------------------------------

_DONE_STATES = frozenset({"COMPLETED", "FAILED", "DONE", "SUCCESS", "ERROR"})
_FAILED_STATES = frozenset({"FAILED", "ERROR"})


def status_id_of(data: Any) -> str:
    """The statusId of an accepted async people call."""
    status_id = data.get("statusId") if isinstance(data, Mapping) else data
    if not status_id:
        raise GainsightAPIError("Gainsight accepted the people but returned no statusId")
    return str(status_id)


def job_state(status: Mapping[str, Any]) -> tuple[str, bool]:
    """(state, finished) of an async people job."""
    state = str(status.get("status", "")).upper()
    return state, state in _DONE_STATES


def people_results(status: Mapping[str, Any], n: int) -> list[RecordResult]:
    """Per-person results of a finished async job: errors by index, or the job's own error."""
    state = str(status.get("status", "")).upper()
    errors = status.get("errors") or []
    if state in _FAILED_STATES and not errors:
        code = status.get("errorCode") or "ASYNC_FAILED"
        desc = status.get("errorDesc") or "async job failed"
        return [RecordResult(RecordStatus.REJECTED, None, code, desc) for _ in range(n)]
    results = [RecordResult(RecordStatus.ACCEPTED) for _ in range(n)]
    for error in errors:
        index = error.get("index")
        if isinstance(index, int) and 0 <= index < n:
            results[index] = RecordResult(
                RecordStatus.REJECTED, None, error.get("errorCode"), error.get("errorDesc")
            )
    return results
