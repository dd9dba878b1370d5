"""HTTP sessions for Gainsight: a pool of them, and a request bounded in time and size.

A session is one urllib3 connection pool to the tenant (through the environment's proxy when
it names one) and the headers every call carries. urllib3 directly, not ``requests``: a
50-record call cost 864-876 us of CPU through ``requests.Session`` against 385-404 us through
:func:`send` (``benchmarks/http_bench.py``), and a first sync makes 20,000 per million rows.
``requests`` still resolves what the environment says (proxies, ``NO_PROXY``, the CA bundle),
once per session, so the client honours the same variables as every other requests user.

urllib3's timeouts bound each socket read, so a server sending one byte every half second
never trips them. :func:`send` therefore registers each request with one watchdog thread; the
connections the request used register themselves (thread-local), and when the deadline passes
the watchdog shuts their sockets down, which ends a blocked read at once. (A timer thread per
request would cost ~0.4 ms a call.) Replies are read in chunks and refused past ``max_bytes``
instead of being read whole.
"""

from __future__ import annotations

import heapq
import itertools
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.utils import get_auth_from_url, select_proxy
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import HTTPError

from dbt_gainsight import __version__
from dbt_gainsight.errors import ConnectionFailed

USER_AGENT = f"dbt-gainsight/{__version__}"
#: Largest reply read into memory; a bigger one is refused (no API reply comes near it).
MAX_REPLY_BYTES = 64 * 2**20


class DeadlineExpired(Exception):
    """The request and its reply did not complete within the deadline."""


class ReplyTooLarge(Exception):
    """The reply is larger than the cap; it was not read."""


@dataclass(frozen=True)
class Reply:
    """A whole HTTP reply: status, headers (case-insensitive ``get``) and body."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes


class Session:
    """One connection to the tenant and the headers every call sends (the key among them).

    It never retries and never follows a redirect by itself: the transport decides both.
    """

    def __init__(self, base_url: str, access_key: str, *, verify_tls: bool) -> None:
        self.headers = {
            "accesskey": access_key,
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
            "User-Agent": USER_AGENT,
        }
        parts = urlsplit(base_url)
        self._prefix = parts.path.rstrip("/")
        self._base_url = base_url
        settings = _environment(base_url, verify_tls)
        tls = _tls_settings(settings["verify"]) if parts.scheme == "https" else {}
        proxy = select_proxy(base_url, settings["proxies"]) if settings["proxies"] else None
        self._manager: Any = None
        self._pool: Any = None
        if proxy is None:
            pool_class = _WATCHED_POOLS[parts.scheme]
            self._pool = pool_class(parts.hostname, parts.port, maxsize=1, retries=False, **tls)
        else:
            self._manager = _proxy_manager(proxy, tls)

    def open(
        self, method: str, path: str, body: bytes | None, timeout: urllib3.Timeout
    ) -> urllib3.BaseHTTPResponse:
        """Start one request; the reply's body is left to read (``preload_content=False``)."""
        kwargs: dict[str, Any] = {
            "body": body,
            "headers": self.headers,
            "retries": False,
            "redirect": False,
            "timeout": timeout,
            "preload_content": False,
        }
        if self._manager is None:
            return self._pool.urlopen(method, self._prefix + path, **kwargs)
        return self._manager.urlopen(method, self._base_url + path, **kwargs)

    def close(self) -> None:
        """Close the connection."""
        if self._manager is not None:
            self._manager.clear()
        else:
            self._pool.close()


def new_session(base_url: str, access_key: str, *, verify_tls: bool) -> Session:
    """A session that sends the key header, never retries by itself and can be cut off."""
    return Session(base_url, access_key, verify_tls=verify_tls)


def _environment(base_url: str, verify_tls: bool) -> dict[str, Any]:
    """What requests would take from the environment for this URL: proxies and CA bundle."""
    with requests.Session() as probe:
        return probe.merge_environment_settings(base_url, {}, None, verify_tls, None)


def _tls_settings(verify: bool | str) -> dict[str, Any]:
    """urllib3's TLS arguments for what ``verify`` means in requests (a bool or a CA path)."""
    if verify is False:
        return {"cert_reqs": "CERT_NONE", "assert_hostname": False}
    if verify is True:
        verify = requests.certs.where()
    where = "ca_cert_dir" if os.path.isdir(verify) else "ca_certs"
    return {"cert_reqs": "CERT_REQUIRED", where: verify}


def _proxy_manager(proxy: str, tls: dict[str, Any]) -> Any:
    """A manager for the proxy's URL: HTTP(S) proxies watched; SOCKS through urllib3's contrib."""
    username, password = get_auth_from_url(proxy)
    if proxy.lower().startswith("socks"):
        try:
            from urllib3.contrib.socks import SOCKSProxyManager  # needs PySocks, as in requests
        except ImportError:
            raise ConnectionFailed(
                "the environment names a SOCKS proxy (ALL_PROXY/HTTPS_PROXY), which needs "
                "PySocks: pip install 'requests[socks]'"
            ) from None

        return SOCKSProxyManager(
            proxy,
            username=username or None,
            password=password or None,
            num_pools=1,
            maxsize=1,
            **tls,
        )
    headers = urllib3.make_headers(proxy_basic_auth=f"{username}:{password}") if username else None
    manager = urllib3.ProxyManager(proxy, num_pools=1, maxsize=1, proxy_headers=headers, **tls)
    manager.pool_classes_by_scheme = _WATCHED_POOLS
    return manager


def send(
    session: Session,
    method: str,
    path: str,
    *,
    body: bytes | None,
    timeouts: tuple[float, float],
    deadline: float,
    max_bytes: int = MAX_REPLY_BYTES,
) -> Reply:
    """One request whose reply (headers and body) is complete within ``deadline`` seconds.

    Raises DeadlineExpired, ReplyTooLarge, or the urllib3 exception of what went wrong.
    Redirects are never followed: they would send the access key to another host.
    """
    watch = _Watch()
    _local.watch = watch
    _WATCHDOG.arm(deadline, watch)
    try:
        response = session.open(
            method, path, body, urllib3.Timeout(connect=timeouts[0], read=timeouts[1])
        )
        try:
            content = _read_body(response, max_bytes)
        except BaseException:
            response.close()  # unread bytes must not stay on a pooled connection
            raise
        finally:
            response.release_conn()
        return Reply(response.status, response.headers, content)
    except HTTPError:
        if watch.expired:
            raise DeadlineExpired() from None
        raise
    finally:
        watch.done = True
        _local.watch = None


def _read_body(response: urllib3.BaseHTTPResponse, max_bytes: int) -> bytes:
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise ReplyTooLarge()
    chunks, size = [], 0
    for chunk in response.stream(65536, decode_content=True):
        size += len(chunk)
        if size > max_bytes:
            raise ReplyTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


class SessionPool:
    """Sessions lent to one call at a time, so there are never more than calls in flight.

    A thread-local session would live as long as its thread's executor; pooled ones are
    reused by every model's workers and all closed by ``close()``.
    """

    def __init__(self, factory: Callable[[], Session]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._idle: list[Session] = []
        self._open: set[Session] = set()

    @contextmanager
    def lend(self) -> Iterator[Session]:
        """A session for one request; given back afterwards (closed if the pool was closed)."""
        with self._lock:
            session = self._idle.pop() if self._idle else None
        if session is None:
            session = self._factory()
            with self._lock:
                self._open.add(session)
        try:
            yield session
        finally:
            with self._lock:
                keep = session in self._open
                if keep:
                    self._idle.append(session)
            if not keep:
                session.close()

    def close(self) -> None:
        """Close every session; those lent out are closed when given back."""
        with self._lock:
            idle, self._idle, self._open = self._idle, [], set()
        for session in idle:
            session.close()


_local = threading.local()


class _Watch:
    """The connections of one attempt, and whether its deadline fired."""

    def __init__(self) -> None:
        self.connections: list[HTTPConnection] = []
        self.expired = False
        self.done = False

    def fire(self) -> None:
        """Cut the attempt's connections: a read blocked on them returns at once."""
        self.expired = True
        for conn in list(self.connections):
            sock = getattr(conn, "sock", None)
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class _Watchdog:
    """One daemon thread that fires the deadlines of every request in flight, in order.

    It wakes at least every ``TICK`` seconds, so arming a deadline later than that wake-up
    (every call, at the default two-minute deadline) needs no notify: a thread wake-up per
    call cost more CPU than the deadline check itself.
    """

    TICK = 1.0

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Watch]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._wake_at = 0.0  # when the thread will look next (0: it is not waiting)

    def arm(self, seconds: float, watch: _Watch) -> None:
        """Fire ``watch`` in ``seconds`` unless it is done by then."""
        entry = (time.monotonic() + seconds, next(self._seq), watch)
        with self._cond:
            heapq.heappush(self._heap, entry)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="gainsight-deadlines", daemon=True
                )
                self._thread.start()
            elif entry[0] < self._wake_at:  # earlier than the thread will look
                self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                while self._heap and (self._heap[0][2].done or self._heap[0][0] <= now):
                    _, _, watch = heapq.heappop(self._heap)
                    if not watch.done:
                        watch.fire()
                wake = now + self.TICK
                if self._heap and self._heap[0][0] < wake:
                    wake = self._heap[0][0]
                self._wake_at = wake
                self._cond.wait(wake - now)


_WATCHDOG = _Watchdog()


class _Watched:
    """Mixin for urllib3 connections: register with the attempt that uses them."""

    def request(self, *args: Any, **kwargs: Any) -> Any:
        watch = getattr(_local, "watch", None)
        if watch is not None:
            watch.connections.append(self)
        return super().request(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}
