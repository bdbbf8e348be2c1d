"""Shared plumbing of the contract fakes: one pytest-httpserver HTTPServer per fake, on
127.0.0.1 and a free port, answering every request through the provider module's routes.

A provider module (tests/fakes/github.py, ...) subclasses ContractFake, lists its ROUTES as
(method, path regex, handler name) and reproduces the documented behaviour: paths, auth
headers, pagination, validation errors and error bodies. Tests program failures with `fail()`
(a 429 with Retry-After, a 5xx, ...) and read what the provider saw in `log`, each request with
its arrival time, e.g. to check that a retry came only after Retry-After.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response


@dataclass
class Seen:
    method: str
    path: str
    args: dict
    headers: dict
    body: bytes
    at: float

    @property
    def json(self):
        return json.loads(self.body) if self.body else None


@dataclass
class Canned:
    status: int
    body: bytes | str | dict | list = b""
    headers: dict = field(default_factory=dict)

    def response(self) -> Response:
        body, mimetype = self.body, "text/plain"
        if isinstance(body, dict | list):
            body, mimetype = json.dumps(body), "application/json"
        headers = dict(self.headers)
        content_type = headers.pop("Content-Type", None)
        return Response(body, status=self.status, headers=headers, content_type=content_type or mimetype)


# Running servers not in use by any fake. Stopping a werkzeug server waits for its poll loop (up
# to 0.5 s), so servers are reused across tests instead; their threads are daemons.
_IDLE: list[HTTPServer] = []
_IDLE_LOCK = threading.Lock()


def _acquire_server() -> HTTPServer:
    with _IDLE_LOCK:
        if _IDLE:
            return _IDLE.pop()
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    return server


class ContractFake:
    ROUTES: list[tuple[str, str, str]] = []  # (METHOD, path regex with named groups, method name)

    def __init__(self):
        self.log: list[Seen] = []
        self._faults: list[tuple[str, re.Pattern, Canned]] = []
        self._lock = threading.Lock()
        self._routes = [(m, re.compile(p), name) for m, p, name in self.ROUTES]
        self.server = _acquire_server()
        self.server.clear()
        self.server.expect_request(re.compile(r"^/.*")).respond_with_handler(self._handle)

    def stop(self):
        """Hand the server back for the next fake (it keeps running)."""
        server, self.server = self.server, None
        if server is not None:
            server.clear()
            with _IDLE_LOCK:
                _IDLE.append(server)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    @property
    def host(self) -> str:
        """What settings.SSRF_ALLOWED_HOSTS needs to let the hub reach this fake."""
        return f"127.0.0.1:{self.server.port}"

    def fail(self, method: str, path: str, status: int, body=b"", headers=None, times: int = 1):
        """The next `times` requests matching method + path (a regex) get this answer instead."""
        canned = Canned(status, body, headers or {})
        with self._lock:
            self._faults.extend([(method, re.compile(path), canned)] * times)

    def requests(self, method: str | None = None, path: str | None = None) -> list[Seen]:
        pattern = re.compile(path) if path else None
        return [
            s
            for s in self.log
            if (method is None or s.method == method) and (pattern is None or pattern.search(s.path))
        ]

    def _handle(self, request: Request) -> Response:
        seen = Seen(
            request.method,
            request.path,
            request.args.to_dict(flat=True),
            dict(request.headers),
            request.get_data(),
            time.monotonic(),
        )
        with self._lock:
            self.log.append(seen)
            for index, (method, pattern, canned) in enumerate(self._faults):
                if method == request.method and pattern.search(request.path):
                    del self._faults[index]
                    return canned.response()
        for method, pattern, name in self._routes:
            match = pattern.fullmatch(request.path)
            if match and method == request.method:
                return getattr(self, name)(request, seen, **match.groupdict())
        return self.unknown_route(request)

    def unknown_route(self, request: Request) -> Response:
        return Response("Not Found", status=404)

    @staticmethod
    def json(data, status: int = 200, headers: dict | None = None, content_type: str = "application/json"):
        return Response(json.dumps(data), status=status, headers=headers or {}, content_type=content_type)


_names = itertools.count(1)


def open_connector(owner, slug: str, *, secrets: dict | None = None, config: dict | None = None, name: str = ""):
    """A saved integration of the real catalogue type `slug` and its connector, built the way the
    engine and the workflow runner build it (build_context), with the blueprint's rate limits."""
    from connectors.registry import registry
    from integrations.models import IntegrationType
    from integrations.sync.context import build_context
    from tests.factories import make_integration

    itype = IntegrationType.objects.get(slug=slug)
    name = name or f"Test {next(_names)}"
    integration = make_integration(owner, itype, name=name, secrets=secrets or {}, config=config or {})
    return registry.get(itype.handler)(build_context(integration, purpose="test"))


def step_config(slug: str, kind: str, **values) -> dict:
    """A workflow step's settings as the workflow form would store them: validated against the
    blueprint's source or output schema, defaults filled in."""
    from integrations import schema
    from integrations.models import IntegrationType

    itype = IntegrationType.objects.get(slug=slug)
    cleaned = schema.clean(getattr(itype, f"{kind}_schema"), values)
    assert cleaned.ok, cleaned.errors
    return cleaned.values


def seed_owner(*slugs: str):
    """Load just these types from the real catalogue fixtures and make their owner (no password
    hashing: these tests never log in), which keeps each connector test fast."""
    from integrations import catalogue
    from tests.factories import make_user

    catalogue.load(list(slugs))
    return make_user("owner@example.com", password=None)
