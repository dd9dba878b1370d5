"""HTTP sessions for Gainsight: a pool of them, and a request bounded in time and size.

requests' timeouts bound each socket read, so a server sending one byte every half second
never trips them. :func:`send` therefore registers each request with one watchdog thread; the
connections the request used register themselves (thread-local), and when the deadline passes
the watchdog shuts their sockets down, which ends a blocked read at once. (A timer thread per
request would cost ~0.4 ms a call.) Replies are read in chunks and refused
past ``max_bytes`` instead of being read whole.
"""

from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import ProxyManager

from dbt_gainsight import __version__

USER_AGENT = f"dbt-gainsight/{__version__}"
#: Largest reply read into memory; a bigger one is refused (no API reply comes near it).
MAX_REPLY_BYTES = 64 * 2**20


class DeadlineExpired(Exception):
    """The request and its reply did not complete within the deadline."""


class ReplyTooLarge(Exception):
    """The reply is larger than the cap; it was not read."""


def new_session(base_url: str, access_key: str, *, verify_tls: bool) -> requests.Session:
    """A session that sends the key header, never retries by itself and can be cut off."""
    session = requests.Session()
    adapter = _WatchedAdapter(pool_connections=1, pool_maxsize=1, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers.update(
        {
            "accesskey": access_key,
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
    )
    # Resolve proxies and the CA bundle from the environment once, not on every call
    # (requests re-reads os.environ and ~/.netrc per request: ~0.2 ms of CPU a call).
    env = session.merge_environment_settings(base_url, {}, None, verify_tls, None)
    session.proxies.update(env["proxies"])
    session.verify = env["verify"]
    session.trust_env = False
    return session


def send(
    session: requests.Session,
    method: str,
    url: str,
    *,
    body: bytes | None,
    timeouts: tuple[float, float],
    deadline: float,
    max_bytes: int = MAX_REPLY_BYTES,
) -> requests.Response:
    """One request whose reply (headers and body) is complete within ``deadline`` seconds.

    Raises DeadlineExpired, ReplyTooLarge, or the requests exception of what went wrong.
    Redirects are never followed: they would send the access key to another host.
    """
    watch = _Watch()
    _local.watch = watch
    _WATCHDOG.arm(deadline, watch)
    try:
        response = session.request(
            method, url, data=body, timeout=timeouts, allow_redirects=False, stream=True
        )
        with response:
            response._content = _read_body(response, max_bytes)
        return response
    except requests.RequestException:
        if watch.expired:
            raise DeadlineExpired() from None
        raise
    finally:
        watch.done = True
        _local.watch = None


def _read_body(response: requests.Response, max_bytes: int) -> bytes:
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise ReplyTooLarge()
    chunks, size = [], 0
    for chunk in response.iter_content(65536):
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

    def __init__(self, factory: Callable[[], requests.Session]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._idle: list[requests.Session] = []
        self._open: set[requests.Session] = set()

    @contextmanager
    def lend(self) -> Iterator[requests.Session]:
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
    """One daemon thread that fires the deadlines of every request in flight, in order."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Watch]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

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
            if self._heap[0] is entry:  # earlier than what the thread waits for
                self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                while self._heap and (self._heap[0][2].done or self._heap[0][0] <= now):
                    _, _, watch = heapq.heappop(self._heap)
                    if not watch.done:
                        watch.fire()
                self._cond.wait(self._heap[0][0] - now if self._heap else None)


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


class _WatchedAdapter(HTTPAdapter):
    """An adapter whose connections can be cut by an attempt's deadline."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """Pools whose connections register with the attempt that uses them."""
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> ProxyManager:
        """The same through an HTTP(S) proxy (a SOCKS proxy keeps its own pools)."""
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if type(manager) is ProxyManager:
            manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager
