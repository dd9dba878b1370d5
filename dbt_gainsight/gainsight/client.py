"""The HTTP client for Gainsight's REST API: batching, retries, rate limit, per-record results.

One function, :func:`classify_response`, decides what every reply means; the rest of the
client asks it. Transient failures are retried here (behind a rate limiter shared by all
threads); what reaches the caller is either a per-record result or an exception from
``dbt_gainsight.errors`` whose message says what to fix. The access key is sent only in the
``accesskey`` header and never appears in a repr, a log line or an exception.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, NewConnectionError

try:
    from urllib3.exceptions import NameResolutionError
except ImportError:  # urllib3 < 2: DNS failures are plain NewConnectionErrors
    NameResolutionError = ()  # type: ignore[assignment,misc]

from dbt_gainsight import __version__
from dbt_gainsight.errors import (
    AuthError,
    ConfigError,
    ConnectionFailed,
    GainsightAPIError,
    OutcomeUnknown,
    RateLimited,
    RecordRejected,
    RetryableError,
    redact,
)
from dbt_gainsight.gainsight.objects import ObjectSchema, parse_describe
from dbt_gainsight.gainsight.ratelimit import RateLimiter
from dbt_gainsight.gainsight.retry import (
    RetryPolicy,
    backoff_delays,
    next_window_delay,
    parse_retry_after,
)
from dbt_gainsight.gainsight.types import format_datetime

log = logging.getLogger(__name__)

USER_AGENT = f"dbt-gainsight/{__version__}"
MAX_BATCH = 50
MAX_PAGE = 5000
MAX_IN_VALUES = 1000
#: 429s one call may wait out before giving up (each waits for the next window).
MAX_RATE_LIMITED_RETRIES = 30
#: A 429 asking to wait longer than this (a daily cap) is raised instead of waited out.
MAX_RATE_LIMIT_WAIT = 900.0
NOT_FOUND = "GSOBJ_1011"
AUTH_CODES = frozenset({"GS_APIG_2401", "GS_APIG_2402", "GSOBJ_1024"})
OPERATORS = frozenset(
    {
        "EQ",
        "NE",
        "IN",
        "BTW",
        "GT",
        "GTE",
        "LT",
        "LTE",
        "CONTAINS",
        "STARTS_WITH",
        "ENDS_WITH",
        "IS_NULL",
        "IS_NOT_NULL",
    }
)
MULTI_MATCH_OPTIONS = frozenset({"FIRSTMATCH", "MARKASERROR"})
NO_MATCH_OPTIONS = frozenset({"ERROR", "NULLABLE", "DEFAULTVALUE"})

_OBJECT_LIST = "/v1/meta/services/objects/list"
_PEOPLE = "/v1/peoplemgmt/v1.0/people"
_PEOPLE_ASYNC = "/v1/peoplemgmt/v1.0/people/async"


@dataclass(frozen=True)
class RecordResult:
    """What Gainsight did with one record of a write, in input order."""

    ok: bool
    gsid: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    not_found: bool = False


class ClientStats:
    """Thread-safe counters of what the client did, for the run report and benchmarks."""

    FIELDS = (
        "calls",
        "retries",
        "rate_limited",
        "server_errors",
        "timeouts",
        "split_calls",
        "records_sent",
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(self.FIELDS, 0)

    def add(self, name: str, n: int = 1) -> None:
        """Add ``n`` to counter ``name``."""
        with self._lock:
            self._counts[name] += n

    def snapshot(self) -> dict[str, int]:
        """A consistent copy of every counter."""
        with self._lock:
            return dict(self._counts)

    def __getattr__(self, name: str) -> int:
        if name in ClientStats.FIELDS:
            with self._lock:
                return self._counts[name]
        raise AttributeError(name)

    def __repr__(self) -> str:
        return f"ClientStats({self.snapshot()})"


class _NotConnected(RetryableError):
    """No connection was made (refused, connect timeout): nothing was sent."""


def lookup_payload(
    field: str,
    object_name: str,
    match: Mapping[str, str],
    multi_match: str = "FIRSTMATCH",
    on_no_match: str = "ERROR",
) -> dict[str, Any]:
    """The ``lookups`` entry that makes Gainsight resolve ``field`` to another object's Gsid.

    ``match`` maps the key each record carries (the source value) to the field of
    ``object_name`` it must equal, e.g. ``{"CsmEmail": "Email"}``. Returns ``{field: {...}}``
    so several lookups merge with ``{**a, **b}``.
    """
    if multi_match not in MULTI_MATCH_OPTIONS:
        raise ValueError(f"multi_match must be one of {sorted(MULTI_MATCH_OPTIONS)}")
    if on_no_match not in NO_MATCH_OPTIONS:
        raise ValueError(f"on_no_match must be one of {sorted(NO_MATCH_OPTIONS)}")
    if not match:
        raise ValueError(f"lookup {field}: match needs at least one source key")
    return {
        field: {
            "fields": dict(match),
            "lookupField": "Gsid",
            "objectName": object_name,
            "multiMatchOption": multi_match,
            "onNoMatch": on_no_match,
        }
    }


def classify_response(
    response: requests.Response, *, idempotent: bool, base_url: str, now: float
) -> dict[str, Any]:
    """Return the envelope of a successful reply, or raise what the reply means.

    The one place that interprets status codes, error codes and bodies; ``now`` is the wall
    clock for an HTTP-date Retry-After. ``idempotent`` decides whether a 5xx is a plain
    retryable error or an OutcomeUnknown (the write may have happened).
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
            cls = RetryableError if idempotent else OutcomeUnknown
            raise cls(f"Gainsight failed with HTTP {status} and a non-JSON body", status=status)
        raise ConnectionFailed(
            f"{base_url} answered (HTTP {status}, {kind}) but not as Gainsight's API;"
            " check GAINSIGHT_URL (the tenant address, e.g. https://acme.gainsightcloud.com)",
            status=status,
        )
    code = envelope.get("errorCode") or None
    desc = str(envelope.get("errorDesc") or envelope.get("message") or "")
    request_id = envelope.get("requestId")
    extra = {"status": status, "error_code": code, "request_id": request_id}
    if status == 401 or code in AUTH_CODES:
        raise AuthError(_auth_message(code, base_url), **extra)
    if status == 429:
        raise RateLimited(
            f"Gainsight's call limit was reached (HTTP 429, {code or 'no code'})",
            retry_after=parse_retry_after(response.headers.get("Retry-After"), now),
            **extra,
        )
    if status >= 500:
        cls = RetryableError if idempotent else OutcomeUnknown
        raise cls(f"Gainsight failed with HTTP {status} ({code or 'no code'}: {desc})", **extra)
    if 200 <= status < 300:
        if envelope.get("result") is True:
            return envelope
        cls = RecordRejected if code and code.startswith("GSOBJ") else GainsightAPIError
        raise _with_desc(cls(desc or f"Gainsight answered result=false ({code})", **extra), desc)
    if status == 404 and code == "GS_APIG_1000":
        raise ConnectionFailed(
            f"{base_url} has no such API route (404 GS_APIG_1000); check GAINSIGHT_URL: it"
            " must be the tenant's base address, e.g. https://acme.gainsightcloud.com",
            **extra,
        )
    if code:
        raise _with_desc(RecordRejected(desc or code, **extra), desc)
    raise _with_desc(GainsightAPIError(f"Gainsight answered HTTP {status}: {desc}", **extra), desc)


def _envelope(response: requests.Response) -> dict[str, Any] | None:
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    if isinstance(body, dict) and "result" in body:
        return body
    return None


def _with_desc(exc: GainsightAPIError, desc: str) -> GainsightAPIError:
    exc.error_desc = desc  # type: ignore[attr-defined]
    return exc


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


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot send a {type(value).__name__} to Gainsight")


def _dumps(body: Any) -> bytes:
    return json.dumps(
        body, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_json_default
    ).encode("utf-8")


def _key_text(value: Any) -> str | None:
    """Normalise a key value so the warehouse's and Gainsight's forms compare equal."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, Decimal):
        return _key_text(int(value) if value == value.to_integral_value() else float(value))
    if isinstance(value, str):
        return value
    return str(value)


def _gsid_of(entry: Any) -> str | None:
    if isinstance(entry, Mapping):
        gsid = entry.get("Gsid") or entry.get("gsid") or entry.get("id")
        return str(gsid) if gsid else None
    if isinstance(entry, str) and entry:
        return entry
    return None


def _rows_of(data: Any) -> list[dict[str, Any]]:
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


def _aliases() -> Iterator[str]:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    yield from letters
    n = 1
    while True:
        for letter in letters:
            yield f"{letter}{n}"
        n += 1


class GainsightClient:
    """A thread-safe client for one Gainsight tenant.

    Each thread gets its own ``requests.Session``; the rate limiter and the stats are shared.
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
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        url = (base_url or "").strip().rstrip("/")
        if url.endswith("/v1"):
            url = url[:-3]
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"the Gainsight URL {redact(base_url or '', access_key)!r} is not an http(s)"
                " address; set GAINSIGHT_URL to e.g. https://acme.gainsightcloud.com"
            )
        if not access_key:
            raise ConfigError("no Gainsight access key; set GAINSIGHT_ACCESS_KEY")
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.base_url = url
        self._key = access_key
        self.max_in_flight = max_in_flight
        self.timeout = timeout
        self.retry = retry
        self.verify_tls = verify_tls
        self._timeouts = (min(timeout, 15.0), timeout)
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.limiter = RateLimiter(calls_per_minute, clock=clock, sleep=sleep)
        self.stats = ClientStats()
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        self._schemas: dict[str, ObjectSchema] = {}
        self.describe_entries: dict[str, dict[str, Any]] = {}  # raw, for caching

    def __repr__(self) -> str:
        return f"GainsightClient(base_url={self.base_url!r}, access_key='***')"

    # --- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Close every thread's connection pool."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        self._local = threading.local()

    def __enter__(self) -> GainsightClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=2, max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            session.headers.update(
                {
                    "accesskey": self._key,
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                    "User-Agent": USER_AGENT,
                }
            )
            # Resolve proxies and the CA bundle from the environment once, not on every call
            # (requests re-reads os.environ and ~/.netrc per request: ~0.2 ms of CPU a call).
            env = session.merge_environment_settings(self.base_url, {}, None, self.verify_tls, None)
            session.proxies.update(env["proxies"])
            session.verify = env["verify"]
            session.trust_env = False
            with self._lock:
                self._sessions.append(session)
            self._local.session = session
        return session

    # --- one call, with retries --------------------------------------------------------

    def _attempt(
        self, method: str, path: str, body: bytes | None, *, idempotent: bool, records: int
    ) -> dict[str, Any]:
        session = self._session()
        url = self.base_url + path
        with self._slots, self.limiter.acquire():
            self.stats.add("calls")
            if records:
                self.stats.add("records_sent", records)
            try:
                response = session.request(
                    method, url, data=body, timeout=self._timeouts, allow_redirects=False
                )
            except requests.RequestException as exc:
                raise self._transport_error(exc) from None
        try:
            return classify_response(
                response, idempotent=idempotent, base_url=self.base_url, now=self._wall_clock()
            )
        except RateLimited:
            self.stats.add("rate_limited")
            raise
        except RetryableError:
            if response.status_code >= 500:
                self.stats.add("server_errors")
            raise

    def _transport_error(self, exc: requests.RequestException) -> Exception:
        """Map a requests exception to our tree, by whether anything was sent."""
        where = self.base_url
        detail = redact(_reason(exc), self._key)
        if isinstance(exc, requests.exceptions.SSLError):
            return ConnectionFailed(
                f"cannot reach {where}: TLS failed ({detail}); check GAINSIGHT_URL"
            )
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            self.stats.add("timeouts")
            return _NotConnected(f"cannot reach {where}: connecting timed out; check GAINSIGHT_URL")
        if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.URLRequired)):
            return ConnectionFailed(f"{where} is not a usable URL ({detail}); check GAINSIGHT_URL")
        if isinstance(exc, requests.exceptions.ReadTimeout):
            self.stats.add("timeouts")
            return OutcomeUnknown(f"no reply from Gainsight within {self.timeout:g}s")
        if isinstance(exc, requests.exceptions.ConnectionError):
            reason = exc.args[0] if exc.args else None
            if isinstance(reason, MaxRetryError):
                reason = reason.reason
            if isinstance(reason, NameResolutionError):
                return ConnectionFailed(
                    f"cannot reach {where}: the host name does not resolve; check GAINSIGHT_URL"
                )
            if isinstance(reason, NewConnectionError) or isinstance(
                exc, requests.exceptions.ProxyError
            ):
                return _NotConnected(f"cannot reach {where}: {detail}; check GAINSIGHT_URL")
        return OutcomeUnknown(
            f"the connection to Gainsight dropped before the reply arrived ({detail})"
        )

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        idempotent: bool,
        records: int = 0,
        retry: RetryPolicy | None = None,
        connect_retry: bool = True,
    ) -> dict[str, Any]:
        """One API call with retries; a non-idempotent OutcomeUnknown is raised at once."""
        payload = None if body is None else _dumps(body)
        policy = retry or self.retry
        delays = backoff_delays(policy, self._rng)
        attempt = 1
        rate_limited = 0
        while True:
            try:
                return self._attempt(method, path, payload, idempotent=idempotent, records=records)
            except RetryableError as exc:
                if isinstance(exc, _NotConnected) and not connect_retry:
                    raise ConnectionFailed(str(exc)) from None
                if isinstance(exc, OutcomeUnknown) and not idempotent:
                    raise
                if isinstance(exc, RateLimited):
                    # A 429 waits for the budget, not for a fault to clear: it must not use
                    # up the backoff schedule that later 5xx errors of this call need.
                    rate_limited += 1
                    if rate_limited > MAX_RATE_LIMITED_RETRIES:
                        raise
                    self._pause(exc, 0.0, method, path, attempt, policy)
                    continue
                delay = next(delays, None)
                if delay is None:
                    raise
                self._pause(exc, delay, method, path, attempt, policy)
                attempt += 1

    def _pause(
        self,
        exc: RetryableError,
        delay: float,
        method: str,
        path: str,
        attempt: int,
        policy: RetryPolicy,
    ) -> None:
        """Wait before a retry: a 429 pauses every thread until the budget is back."""
        self.stats.add("retries")
        if isinstance(exc, RateLimited):
            wait = exc.retry_after
            if wait is None:
                wait = next_window_delay(self._wall_clock())
            if wait > MAX_RATE_LIMIT_WAIT:
                raise RateLimited(
                    f"Gainsight's call limit was reached and it asks to wait {wait:.0f}s"
                    " (the daily limit?); rerun later",
                    retry_after=wait,
                    status=429,
                    error_code=exc.error_code,
                ) from None
            log.info("Gainsight rate limit (429): every call waits %.1fs", wait)
            self.limiter.penalize(wait)
            return
        log.info(
            "%s %s failed (%s), retry %d/%d in %.1fs",
            method,
            path.split("?")[0],
            type(exc).__name__,
            attempt,
            policy.max_attempts - 1,
            delay,
        )
        self._sleep(delay)

    # --- metadata ----------------------------------------------------------------------

    def check(self) -> dict[str, Any]:
        """Prove the URL and key work with one cheap call; the error says which is wrong."""
        started = time.monotonic()
        try:
            envelope = self._call(
                "GET",
                _OBJECT_LIST,
                idempotent=True,
                retry=RetryPolicy(max_attempts=min(3, self.retry.max_attempts)),
                connect_retry=False,
            )
        except (AuthError, ConnectionFailed):
            raise
        except RetryableError as exc:
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

    def list_objects(self) -> list[dict[str, Any]]:
        """Every object of the tenant as the object list reports it (names lower-case)."""
        data = self._call("GET", _OBJECT_LIST, idempotent=True).get("data")
        return list(data or [])

    def describe(self, object_name: str) -> ObjectSchema:
        """The object's schema; asked once per client, then cached."""
        with self._lock:
            cached = self._schemas.get(object_name)
        if cached is not None:
            return cached
        path = f"/v1/meta/services/objects/{quote(object_name, safe='')}/describe"
        try:
            envelope = self._call("GET", path, idempotent=True)
        except (AuthError, ConnectionFailed, RetryableError):
            raise
        except GainsightAPIError as exc:
            desc = getattr(exc, "error_desc", "") or str(exc)
            raise GainsightAPIError(
                f"Gainsight has no object {object_name!r} (describe: {desc})",
                status=exc.status,
                error_code=exc.error_code,
                request_id=exc.request_id,
            ) from None
        data = envelope.get("data")
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
            raise GainsightAPIError(
                f"Gainsight has no object {object_name!r} (describe returned nothing)"
            )
        self.remember_describe(object_name, dict(entry))
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
        where: Sequence[tuple[str, str, Iterable[Any]]] | None = None,
        *,
        order_by: Mapping[str, str] | Sequence[str] | None = None,
        page_size: int = MAX_PAGE,
    ) -> Iterator[dict[str, Any]]:
        """Yield the rows matching every ``(field, operator, values)`` condition, page by page.

        Values come back in the API's read forms: dates as epoch ms, picklists as item Gsids.
        """
        if not 1 <= page_size <= MAX_PAGE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE}")
        body: dict[str, Any] = {"select": list(select), "limit": page_size, "offset": 0}
        if where:
            conditions = []
            for alias, (name, operator, values) in zip(_aliases(), where, strict=False):
                op = operator.upper()
                if op not in OPERATORS:
                    raise ValueError(f"unknown query operator {operator!r}")
                if values is None:
                    values = []
                elif isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
                    values = [values]
                conditions.append(
                    {"name": name, "alias": alias, "value": list(values), "operator": op}
                )
            body["where"] = {
                "conditions": conditions,
                "expression": " AND ".join(c["alias"] for c in conditions),
            }
        if order_by:
            if isinstance(order_by, Mapping):
                body["orderBy"] = dict(order_by)
            else:
                body["orderBy"] = {name: "asc" for name in order_by}
        path = f"/v1/data/objects/query/{quote(object_name, safe='')}"
        return self._pages(path, body, page_size)

    def _pages(self, path: str, body: dict[str, Any], page_size: int) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            body["offset"] = offset
            try:
                envelope = self._call("POST", path, body, idempotent=True)
            except (AuthError, ConnectionFailed, RetryableError):
                raise
            except GainsightAPIError as exc:
                if "no data found" in (getattr(exc, "error_desc", "") or str(exc)).lower():
                    return
                raise
            rows = _rows_of(envelope.get("data"))
            yield from rows
            if len(rows) < page_size:
                return
            offset += len(rows)

    def find_gsids(
        self,
        object_name: str,
        key_fields: Sequence[str],
        key_values: Sequence[tuple[Any, ...]],
    ) -> dict[tuple[Any, ...], str]:
        """Which of these key tuples exist in Gainsight, and their Gsids.

        One query per chunk of up to 1,000 tuples, with an IN condition per key field (ANDed);
        the rows are then matched to exact tuples here, comparing normalised values (5 == 5.0).
        Tuples holding a None cannot match and are left out.
        """
        fields = tuple(key_fields)
        if not fields:
            raise ValueError("find_gsids needs at least one key field")
        wanted = [
            t
            for t in dict.fromkeys(tuple(v) for v in key_values)
            if len(t) == len(fields) and all(v is not None for v in t)
        ]
        found: dict[tuple[Any, ...], str] = {}
        for start in range(0, len(wanted), MAX_IN_VALUES):
            chunk = wanted[start : start + MAX_IN_VALUES]
            by_norm: dict[tuple[str | None, ...], list[tuple[Any, ...]]] = {}
            for t in chunk:
                by_norm.setdefault(tuple(_key_text(v) for v in t), []).append(t)
            where = [
                (name, "IN", list(dict.fromkeys(t[pos] for t in chunk)))
                for pos, name in enumerate(fields)
            ]
            rows = self.query(object_name, ["Gsid", *fields], where, order_by={"Gsid": "asc"})
            for row in rows:
                gsid = row.get("Gsid")
                originals = by_norm.get(tuple(_key_text(row.get(name)) for name in fields))
                if gsid and originals:
                    for t in originals:
                        found.setdefault(t, str(gsid))
        return found

    # --- data-object writes ------------------------------------------------------------

    def insert(
        self,
        object_name: str,
        records: list[dict[str, Any]],
        *,
        keys: Sequence[str],
        lookups: dict[str, Any] | None = None,
    ) -> list[RecordResult]:
        """Create records (POST); one result per record, in order.

        ``keys`` are only used when a reply is lost: the keys are queried first and only the
        records not found are sent again, since Gainsight has no idempotency key.
        """
        return self._write("POST", object_name, records, keys, lookups)

    def update(
        self,
        object_name: str,
        records: list[dict[str, Any]],
        *,
        keys: Sequence[str],
        lookups: dict[str, Any] | None = None,
    ) -> list[RecordResult]:
        """Update existing records matched by ``keys`` (PUT); missing ones come back not_found."""
        if not 1 <= len(keys) <= 3:
            raise ValueError("update needs 1 to 3 key fields")
        return self._write("PUT", object_name, records, keys, lookups)

    def _write(
        self,
        method: str,
        object_name: str,
        records: list[dict[str, Any]],
        keys: Sequence[str],
        lookups: dict[str, Any] | None,
    ) -> list[RecordResult]:
        if len(records) > MAX_BATCH:
            raise ValueError(f"a write takes at most {MAX_BATCH} records, got {len(records)}")
        if not records:
            return []
        path = f"/v1/data/objects/{quote(object_name, safe='')}"
        if method == "PUT":
            path += "?keys=" + ",".join(quote(k, safe="") for k in keys)
        job = _WriteJob(method, path, object_name, records, tuple(keys), lookups)
        try:
            self._write_part(job, list(range(len(records))))
        except GainsightAPIError as exc:
            # What landed before the failure, for a caller that wants to keep it.
            exc.partial_results = list(job.results)  # type: ignore[attr-defined]
            raise
        return [r if r is not None else RecordResult(ok=False) for r in job.results]

    def _write_part(self, job: _WriteJob, idx: list[int]) -> None:
        body: dict[str, Any] = {"records": [job.records[i] for i in idx]}
        if job.lookups:
            body["lookups"] = job.lookups
        try:
            envelope = self._call(
                job.method, job.path, body, idempotent=job.method == "PUT", records=len(idx)
            )
        except OutcomeUnknown:
            pending = self._reconcile_insert(job, idx)
            if pending:
                self._write_part(job, pending)
            return
        except RecordRejected as exc:
            if len(idx) == 1:
                job.results[idx[0]] = _rejected(exc)
                return
            # Validated as a whole: halve until the bad record(s) stand alone.
            self.stats.add("split_calls")
            middle = len(idx) // 2
            self._write_part(job, idx[:middle])
            self._write_part(job, idx[middle:])
            return
        _fill_results(job, idx, envelope.get("data"))

    def _reconcile_insert(self, job: _WriteJob, idx: list[int]) -> list[int]:
        """After an insert with no answer: mark the records that exist, return the rest."""
        if not job.keys:
            raise OutcomeUnknown(
                f"an insert into {job.object_name} got no reply and has no keys to check;"
                " it was not retried to avoid duplicates"
            )
        delay = next(job.unknown_delays(self.retry, self._rng), None)
        if delay is None:
            raise OutcomeUnknown(
                f"inserts into {job.object_name} kept getting no reply; gave up after"
                f" {self.retry.max_attempts} attempts"
            )
        self.stats.add("retries")
        log.info("insert into %s got no reply; checking its keys in %.1fs", job.object_name, delay)
        self._sleep(delay)
        tuples = [tuple(job.records[i].get(k) for k in job.keys) for i in idx]
        found = self.find_gsids(job.object_name, job.keys, tuples)
        pending = []
        for i, key in zip(idx, tuples, strict=True):
            gsid = found.get(key) if all(v is not None for v in key) else None
            if gsid:
                job.results[i] = RecordResult(ok=True, gsid=gsid)
            else:
                pending.append(i)
        return pending

    # --- people ------------------------------------------------------------------------

    def put_person(self, person: dict[str, Any]) -> RecordResult:
        """Create or update one Person by Email (with its company/relationship links)."""
        try:
            envelope = self._call("PUT", _PEOPLE, person, idempotent=True, records=1)
        except RecordRejected as exc:
            return _rejected(exc)
        return RecordResult(ok=True, gsid=_gsid_of(envelope.get("data")))

    def put_people_async(self, people: list[dict[str, Any]]) -> str:
        """Submit up to 50 people for background processing; returns the job's statusId."""
        if not 1 <= len(people) <= MAX_BATCH:
            raise ValueError(f"the async people call takes 1 to {MAX_BATCH} people")
        envelope = self._call("PUT", _PEOPLE_ASYNC, people, idempotent=True, records=len(people))
        data = envelope.get("data")
        status_id = data.get("statusId") if isinstance(data, Mapping) else data
        if not status_id:
            raise GainsightAPIError("Gainsight accepted the people but returned no statusId")
        return str(status_id)

    def put_people_bulk(
        self,
        people: list[dict[str, Any]],
        *,
        poll_seconds: float = 5.0,
        timeout_seconds: float = 1800.0,
    ) -> list[RecordResult]:
        """Upsert up to 50 people with the async call and wait for its per-record outcome.

        Gainsight may take up to 30 minutes; a job still running after ``timeout_seconds``
        is reported as failed (not rejected), so its people are tried again next run.
        """
        status_id = self.put_people_async(people)
        deadline = self._clock() + timeout_seconds
        while True:
            status = self.people_async_status(status_id)
            state = str(status.get("status", "")).upper()
            if state in {"COMPLETED", "FAILED", "DONE", "SUCCESS", "ERROR"}:
                break
            if self._clock() >= deadline:
                raise RetryableError(
                    f"async people job {status_id} still {state or 'pending'} after "
                    f"{timeout_seconds:.0f} s"
                )
            self._sleep(poll_seconds)
        results = [RecordResult(ok=True) for _ in people]
        for error in status.get("errors") or []:
            index = error.get("index")
            if isinstance(index, int) and 0 <= index < len(people):
                results[index] = RecordResult(
                    ok=False,
                    error_code=error.get("errorCode"),
                    error_message=error.get("errorDesc"),
                )
        if state in {"FAILED", "ERROR"} and not status.get("errors"):
            code, desc = status.get("errorCode") or "ASYNC_FAILED", status.get("errorDesc")
            results = [RecordResult(False, None, code, desc or "async job failed") for _ in people]
        return results

    def people_async_status(self, status_id: str) -> dict[str, Any]:
        """The state of an async people job (status, counts, per-index errors)."""
        path = f"{_PEOPLE_ASYNC}/{quote(status_id, safe='')}"
        data = self._call("GET", path, idempotent=True).get("data")
        return dict(data) if isinstance(data, Mapping) else {"status": data}


class _WriteJob:
    """One write call's inputs and per-record results while it is split and retried."""

    __slots__ = ("method", "path", "object_name", "records", "keys", "lookups", "results", "_d")

    def __init__(
        self,
        method: str,
        path: str,
        object_name: str,
        records: list[dict[str, Any]],
        keys: tuple[str, ...],
        lookups: dict[str, Any] | None,
    ) -> None:
        self.method = method
        self.path = path
        self.object_name = object_name
        self.records = records
        self.keys = keys
        self.lookups = lookups
        self.results: list[RecordResult | None] = [None] * len(records)
        self._d: Iterator[float] | None = None

    def unknown_delays(self, policy: RetryPolicy, rng: random.Random) -> Iterator[float]:
        """One backoff budget shared by every lost reply of this write."""
        if self._d is None:
            self._d = backoff_delays(policy, rng)
        return self._d


def _rejected(exc: GainsightAPIError) -> RecordResult:
    desc = getattr(exc, "error_desc", None) or str(exc)
    return RecordResult(
        ok=False,
        error_code=exc.error_code,
        error_message=desc,
        not_found=exc.error_code == NOT_FOUND,
    )


def _fill_results(job: _WriteJob, idx: list[int], data: Any) -> None:
    """Per-record results of a successful call: Gsids in order, data.errors by index."""
    data = data if isinstance(data, Mapping) else {}
    entries = list(data.get("records") or [])
    errors: dict[int, Mapping[str, Any]] = {}
    for err in data.get("errors") or []:
        if isinstance(err, Mapping) and isinstance(err.get("index"), int):
            errors[err["index"]] = err
    ok_positions = [p for p in range(len(idx)) if p not in errors]
    if len(entries) == len(idx):
        gsids = {p: _gsid_of(entries[p]) for p in ok_positions}
    elif len(entries) == len(ok_positions):
        gsids = {p: _gsid_of(e) for p, e in zip(ok_positions, entries, strict=True)}
    else:
        gsids = {}
    for p, i in enumerate(idx):
        err = errors.get(p)
        if err is None:
            job.results[i] = RecordResult(ok=True, gsid=gsids.get(p))
        else:
            code = err.get("errorCode")
            job.results[i] = RecordResult(
                ok=False,
                error_code=code,
                error_message=err.get("errorDesc"),
                not_found=code == NOT_FOUND,
            )


def _reason(exc: BaseException) -> str:
    """The innermost readable cause of a requests exception, without the URL noise."""
    reason: Any = exc.args[0] if exc.args else exc
    if isinstance(reason, MaxRetryError) and reason.reason is not None:
        reason = reason.reason
    text = str(reason)
    if isinstance(reason, NewConnectionError) and ": " in text:
        text = text.rsplit(": ", 1)[-1]
    return text[:200]
