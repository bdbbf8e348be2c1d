"""A real local HTTP server for feeds, webhooks and misbehaving servers.

Routes are programmed per test: static bodies with ETag / Last-Modified (conditional GET
honoured), status sequences (429 with Retry-After, then 200), redirects, hangs, endless or huge
bodies. Every request is logged with its arrival time, so tests can check what the peer saw
(e.g. that a retry came only after Retry-After)."""

from __future__ import annotations

import email.utils
import hashlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Seen:
    method: str
    path: str
    headers: dict
    body: bytes
    at: float
    streamed: int = 0  # filler bytes written of a streamed reply (Reply.stream_bytes)
    answered: threading.Event = field(default_factory=threading.Event)  # set once the handler is done


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a hanging server)
    stream_bytes: int = 0  # send this many filler bytes in chunks (a huge body)
    conditional: bool = True  # honour If-None-Match / If-Modified-Since
    # False: no Content-Length, the body ends when the server closes the connection (cleanly), so
    # the client cannot tell a whole body from one cut short.
    content_length: bool = True
    # Answer only once this is set (at most HOLD_LIMIT s): a request kept in flight for exactly as
    # long as the test needs, where a fixed delay would be a guess at how slow the machine is.
    hold: threading.Event | None = None


HOLD_LIMIT = 120.0


class FeedServer:
    def __init__(self):
        self.routes: dict[str, list[Reply]] = {}
        self.log: list[Seen] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(self.command, self.path, dict(self.headers), body, time.monotonic())
                with server.lock:
                    server.log.append(seen)
                    replies = server.routes.get(self.path.split("?")[0])
                    reply = (replies.pop(0) if len(replies) > 1 else replies[0]) if replies else Reply(404, b"nope")
                try:
                    server._answer(self, reply, seen)
                finally:
                    seen.answered.set()

            do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _handle

        class QuietServer(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # clients hanging up on huge or slow answers is what several tests do

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def _answer(self, handler, reply: Reply, seen: Seen):
        if reply.hold is not None:
            reply.hold.wait(HOLD_LIMIT)
        if reply.delay:
            time.sleep(reply.delay)
        headers = dict(reply.headers)
        if reply.conditional and reply.status == 200 and not reply.stream_bytes:
            if "ETag" not in headers:
                headers["ETag"] = '"' + hashlib.sha1(reply.body).hexdigest()[:16] + '"'  # noqa: S324
            if not headers["ETag"]:
                del headers["ETag"]  # a server that sends no ETag
            etag, modified = headers.get("ETag"), headers.get("Last-Modified")
            if (etag and handler.headers.get("If-None-Match") == etag) or (
                modified and handler.headers.get("If-Modified-Since") == modified
            ):
                handler.send_response(304)
                for name in ("ETag", "Last-Modified"):
                    if headers.get(name):
                        handler.send_header(name, headers[name])
                handler.send_header("Content-Length", "0")
                handler.end_headers()
                return
        try:
            handler.send_response(reply.status)
            for name, value in headers.items():
                handler.send_header(name, value)
            if reply.stream_bytes:
                handler.send_header("Content-Type", headers.get("Content-Type", "application/xml"))
                handler.end_headers()  # no length: the body streams until the client gives up
                chunk = b"<item>" + b"x" * 65530 + b"</item>"
                sent = 0
                while sent < reply.stream_bytes:
                    handler.wfile.write(chunk)
                    sent += len(chunk)
                    seen.streamed = sent
                return
            if reply.content_length:
                handler.send_header("Content-Length", str(len(reply.body)))
            else:
                handler.send_header("Connection", "close")
                handler.close_connection = True
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    # -- programming the routes ---------------------------------------------------------------
    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def serve(self, path: str, body: bytes | str, content_type="text/calendar", *, content_length=True, **headers):
        body = body.encode() if isinstance(body, str) else body
        headers = {"Content-Type": content_type, **headers}
        self.routes[path] = [Reply(200, body, headers, content_length=content_length)]

    def serve_with_last_modified(self, path: str, body: bytes, when: float):
        headers = {
            "Content-Type": "text/calendar",
            "Last-Modified": email.utils.formatdate(when, usegmt=True),
            "ETag": "",
        }
        self.routes[path] = [Reply(200, body, headers)]

    def sequence(self, path: str, replies: list[Reply]):
        self.routes[path] = list(replies)

    def reset(self):
        with self.lock:
            self.routes.clear()
            self.log.clear()

    def requests_to(self, path: str) -> list[Seen]:
        return [s for s in self.log if s.path.split("?")[0] == path]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def _feed_server_session():
    server = FeedServer()
    yield server
    server.stop()


@pytest.fixture
def feed_server(_feed_server_session, allow_host):
    """The local HTTP peer, emptied for this test and allowed through the SSRF guard."""
    _feed_server_session.reset()
    allow_host(_feed_server_session.host)
    return _feed_server_session
