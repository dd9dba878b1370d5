"""The socket layer: a standard-library threaded HTTP/1.1 server with keep-alive.

Each reply goes out in a single write with TCP_NODELAY set, so keep-alive clients do not
wait ~40 ms per reply on Nagle's algorithm and delayed ACKs.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from dbt_gainsight.emulator.app import Core
from dbt_gainsight.emulator.routes import REASONS


class EmulatorHTTPServer(ThreadingHTTPServer):
    """Threaded server (daemon threads) that hands every request to a Core."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], core: Core):
        self.core = core
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        """Accept a connection with TCP_NODELAY on, and remember it until it closes."""
        sock, addr = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._open_lock:
            self._open.add(sock)
        return sock, addr

    def shutdown_request(self, request: Any) -> None:
        """Forget a finished connection."""
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Close idle keep-alive connections so no handler thread outlives stop()."""
        with self._open_lock:
            socks = list(self._open)
            self._open.clear()
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Handler(BaseHTTPRequestHandler):
    """Reads a request, asks the Core, writes the reply (in one piece unless trickled)."""

    protocol_version = "HTTP/1.1"
    server: EmulatorHTTPServer

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        core = self.server.core
        reply = core.handle(self.command, self.path, self.headers, body)
        stopped = reply.delay > 0 and core.stopping.wait(reply.delay)
        if reply.drop or stopped:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        head = [
            f"HTTP/1.1 {reply.status} {REASONS.get(reply.status, 'Unknown')}",
            f"Content-Type: {reply.content_type}",
            f"Content-Length: {len(reply.body)}",
        ]
        head += [f"{k}: {v}" for k, v in reply.headers]
        if self.close_connection:
            head.append("Connection: close")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        try:
            if reply.trickle <= 0:
                self.wfile.write(data + reply.body)
                return
            self.wfile.write(data)
            for i in range(len(reply.body)):
                if core.stopping.wait(reply.trickle):
                    self.close_connection = True
                    return
                self.wfile.write(reply.body[i : i + 1])
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Silence the default per-request stderr line (the Core keeps a request log)."""
