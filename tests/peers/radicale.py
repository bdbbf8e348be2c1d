"""Radicale, the real CalDAV peer: started once per test session on a free port in a temp dir,
with htpasswd auth (plain passwords) and owner-only rights, stopped by PID at the end.

Tests create their own calendars (unique ids) and seed them with PUTs, or, for big calendars,
`write_calendar()` writes .ics files straight into the filesystem storage before a dedicated
instance starts (one PUT per event gets slower as the calendar grows: see PEERS.md).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.peers.availability import free_port, serve_in_tempdir, wait_for_port

USERNAME = "alice"
PASSWORD = "wonderland-42"

CONFIG = """\
[server]
hosts = 127.0.0.1:{port}
max_connections = 20
timeout = 30

[encoding]
request = utf-8
stock = utf-8

[auth]
type = htpasswd
htpasswd_filename = {htpasswd}
htpasswd_encryption = plain
delay = 0

[rights]
type = owner_only

[storage]
filesystem_folder = {storage}

[web]
type = none

[logging]
level = warning
mask_passwords = True
"""


def write_calendar(storage: Path, user: str, calendar_id: str, items: dict[str, str], *, name: str = "") -> Path:
    """Write a calendar collection into Radicale's filesystem storage (before the server starts).

    `items` maps file names (e.g. "event-1.ics") to one VCALENDAR text each.
    """
    folder = Path(storage) / "collection-root" / user / calendar_id
    folder.mkdir(parents=True, exist_ok=True)
    props = {"tag": "VCALENDAR", "C:supported-calendar-component-set": "VEVENT,VTODO"}
    if name:
        props["D:displayname"] = name
    (folder / ".Radicale.props").write_text(json.dumps(props))
    for filename, text in items.items():
        (folder / filename).write_text(text, encoding="utf-8", newline="")
    return folder


@dataclass
class RadicaleServer:
    root: Path
    port: int
    username: str = USERNAME
    password: str = PASSWORD
    process: subprocess.Popen | None = None
    _clients: list = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def host(self) -> str:
        """The SSRF allowlist entry that opens the guard for this server."""
        return f"127.0.0.1:{self.port}"

    @property
    def storage(self) -> Path:
        return self.root / "storage"

    def client(self, *, timeout: int = 30):
        """A plain caldav client (niquests, no guard): the test's own hands on the server."""
        return self.client_for(self.username, self.password, timeout=timeout)

    def make_calendar(self, name: str = "", *, calendar_id: str | None = None, client=None):
        """A new, empty calendar (of the test user, or of `client`'s); returns the caldav Calendar."""
        calendar_id = calendar_id or f"cal-{uuid.uuid4().hex[:10]}"
        principal = (client or self.client()).principal()
        return principal.make_calendar(name=name or calendar_id, cal_id=calendar_id)

    def put(self, calendar, filename: str, ics: str) -> str:
        """PUT one calendar object (creates or replaces it); returns its URL."""
        url = str(calendar.url.join(filename))
        response = calendar.client.put(url, ics, {"Content-Type": "text/calendar; charset=utf-8"})
        if response.status not in (200, 201, 204):
            raise AssertionError(f"Radicale refused {filename}: HTTP {response.status} {response._raw!r}")
        return url

    def delete(self, calendar, filename: str):
        response = calendar.client.delete(str(calendar.url.join(filename)))
        if response.status not in (200, 204):
            raise AssertionError(f"Radicale could not delete {filename}: HTTP {response.status}")

    def add_user(self, username: str, password: str | None = None) -> tuple[str, str]:
        """Another account on the running server (Radicale re-reads its htpasswd file)."""
        password = password or f"pw-{uuid.uuid4().hex[:12]}"
        with open(self.root / "users", "a") as users:
            users.write(f"{username}:{password}\n")
        return username, password

    def client_for(self, username: str, password: str, *, timeout: int = 30):
        import caldav

        client = caldav.DAVClient(
            url=self.url,
            username=username,
            password=password,
            auth_type="basic",
            enable_rfc6764=False,
            timeout=timeout,
        )
        self._clients.append(client)
        return client

    def stop(self):
        for client in self._clients:
            client.close()
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


def start_radicale(root: Path, *, username: str = USERNAME, password: str = PASSWORD) -> RadicaleServer:
    """Start Radicale on a free port with `root` for config and storage (seed storage before)."""
    try:
        import radicale  # noqa: F401
    except ImportError:
        raise RuntimeError("Radicale is not installed (pip install -r requirements-dev.txt)") from None
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "storage").mkdir(exist_ok=True)
    htpasswd = root / "users"
    htpasswd.write_text(f"{username}:{password}\n")
    port = free_port()
    config = root / "config"
    config.write_text(CONFIG.format(port=port, htpasswd=htpasswd, storage=root / "storage"))
    with open(root / "radicale.log", "wb") as log:  # the child writes to its own copy of the descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=root,
        )
    server = RadicaleServer(root=root, port=port, username=username, password=password, process=process)
    if not wait_for_port(port, timeout=60) or process.poll() is not None:
        server.stop()
        detail = (root / "radicale.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"Radicale did not start on port {port}: {detail}")
    return server


@pytest.fixture(scope="session")
def radicale():
    yield from serve_in_tempdir("radicale-peer-", start_radicale)


HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


class RadicaleFront:
    """Radicale behind a small proxy that can answer some requests itself, the way a provider's
    front end does: 507 when the account is full, 429 with Retry-After when it rate-limits.
    Everything else reaches the real Radicale. Every request is logged with its arrival time."""

    def __init__(self, upstream: RadicaleServer):
        self.upstream = upstream
        self.faults: dict[str, list[tuple[int, dict]]] = {}  # method -> answers, used up in order
        self.rewrites: dict[str, object] = {}  # method -> function(answer body) -> body, while set
        self.log: list[tuple[str, str, float]] = []
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                front.log.append((self.command, self.path, time.monotonic()))
                fault = front._next_fault(self.command)
                if fault is not None and fault[0] == "cut":
                    self._forward(body, cut=fault[1])
                    return
                if fault is not None:
                    status, headers = fault
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self._forward(body)

            def _forward(self, body: bytes, cut: dict | None = None):
                upstream = http.client.HTTPConnection("127.0.0.1", front.upstream.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                if self.command in front.rewrites:  # a plain answer to rewrite, not a gzipped one
                    headers = {k: v for k, v in headers.items() if k.lower() != "accept-encoding"}
                upstream.request(self.command, self.path, body=body, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                if self.command in front.rewrites:
                    data = front.rewrites[self.command](data)
                self.send_response(answer.status)
                dropped = {"content-length", *(cut or {}).get("drop_headers", ())}
                for name, value in answer.getheaders():
                    if name.lower() not in HOP_BY_HOP and name.lower() not in dropped:
                        self.send_header(name, value)
                if cut is not None:
                    # Part of the answer, then a clean close: no Content-Length tells the client more was due.
                    data = data[: int(len(data) * cut["keep"])]
                    self.send_header("Connection", "close")
                    self.close_connection = True
                else:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

            do_GET = do_PUT = do_DELETE = do_PROPFIND = do_REPORT = do_OPTIONS = do_MKCALENDAR = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        # Polled every 50 ms, not 0.5 s: stop() (after every test that uses a front) waits for that poll.
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def fail(self, method: str, status: int, *, times: int = 1, **headers):
        """Answer the next `times` requests of `method` with `status` (and headers) instead of Radicale."""
        self.faults.setdefault(method.upper(), []).extend([(status, headers)] * times)

    def cut(self, method: str, *, keep: float = 0.5, drop_headers: tuple[str, ...] = ()):
        """Forward the next `method` request to Radicale but pass on only the first `keep` of its
        answer, closing the connection cleanly (no Content-Length); `drop_headers` (lower case)
        are left out too, e.g. the Content-Type of a front end that loses it."""
        self.faults.setdefault(method.upper(), []).append(("cut", {"keep": keep, "drop_headers": drop_headers}))

    def _next_fault(self, method: str):
        queue = self.faults.get(method)
        return queue.pop(0) if queue else None

    def requests(self, method: str) -> list[tuple[str, str, float]]:
        return [entry for entry in self.log if entry[0] == method.upper()]

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def radicale_front(radicale, allow_host):
    """A fresh proxy in front of the session's Radicale, allowed through the SSRF guard."""
    front = RadicaleFront(radicale)
    allow_host(front.host)
    yield front
    front.stop()
