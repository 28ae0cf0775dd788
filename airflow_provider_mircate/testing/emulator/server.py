"""The HTTP layer of the emulator: a threading HTTP/1.1 server with keep-alive."""

from __future__ import annotations

import logging
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from airflow_provider_mircate.testing.emulator.protocol import Reply

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger(__name__)

# Larger request bodies are rejected with 413: a 5 MB image is about 6.7 MB in base64.
MAX_BODY_BYTES = 32 * 1024 * 1024

REASONS = {
    200: "OK", 204: "No Content", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 411: "Length Required", 413: "Payload Too Large",
    429: "Too Many Requests", 500: "Internal Server Error", 501: "Not Implemented",
    502: "Bad Gateway", 503: "Service Unavailable",
}  # fmt: skip


class EmulatorHTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that tracks its open connections so that ``close_all`` can end them."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: Callable[..., Reply], stop_event: threading.Event):
        self.app = app
        self.stop_event = stop_event
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, EmulatorRequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_all(self) -> None:
        """Shut down every open connection, so that idle keep-alive threads end."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class EmulatorRequestHandler(BaseHTTPRequestHandler):
    """Read one request, pass it to the emulator, write the reply in a single send."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: EmulatorHTTPServer
    server_version = "MircateEmulator/1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)

    def _dispatch(self) -> None:
        try:
            body = self._read_body()
        except _BodyError as exc:
            self._send(Reply.json(exc.status, {"message": str(exc)}))
            self.close_connection = True
            return
        reply = self.server.app(self.command, self.path, self.headers, body)
        if reply.action == "send":
            self._send(reply)
        elif reply.action == "truncate":
            self._send(reply, truncate=True)
            self.close_connection = True
        elif reply.action == "timeout":
            self.server.stop_event.wait(reply.stall_seconds)
            self.close_connection = True
        else:
            self._reset()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length_text = self.headers.get("Content-Length")
        if not length_text:
            return b""
        try:
            length = int(length_text)
        except ValueError:
            raise _BodyError(400, f"Invalid Content-Length {length_text!r}.") from None
        if length > MAX_BODY_BYTES:
            raise _BodyError(413, f"Request body of {length} bytes exceeds the limit of {MAX_BODY_BYTES}.")
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            total += size
            if total > MAX_BODY_BYTES:
                raise _BodyError(413, f"Request body exceeds the limit of {MAX_BODY_BYTES} bytes.")
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def _send(self, reply: Reply, truncate: bool = False) -> None:
        reason = REASONS.get(reply.status, "Unknown")
        lines = [
            f"HTTP/1.1 {reply.status} {reason}",
            f"Server: {self.server_version}",
            f"Content-Type: {reply.content_type}",
            f"Content-Length: {len(reply.body)}",
        ]
        lines.extend(f"{name}: {value}" for name, value in reply.headers.items())
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        body = reply.body[: len(reply.body) // 2] if truncate else reply.body
        if self.command == "HEAD":
            body = b""
        self.wfile.write(head + body)

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout makes close() send RST: the client sees a reset, not a response.
        # Closing here, before the server's own shutdown(SHUT_WR), keeps a FIN from going out first.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()


class _BodyError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
