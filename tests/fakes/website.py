"""A small public web site for the page watcher: pages from tests/data/web/ and a programmable
robots.txt, served over real HTTP.

Follows RFC 9309 (https://www.rfc-editor.org/rfc/rfc9309) for what a site can answer at
/robots.txt: a file (text/plain), 4xx ("unavailable": crawl anything), 5xx ("unreachable": crawl
nothing), or a redirect.
"""

from __future__ import annotations

from pathlib import Path

from werkzeug import Response

from tests.fakes.contract import ContractFake

DATA = Path(__file__).resolve().parent.parent / "data" / "web"


class WebsiteFake(ContractFake):
    ROUTES = [("GET", r"/robots\.txt", "robots_txt"), ("GET", r"(?P<path>/.*)", "page")]

    def __init__(self):
        super().__init__()
        self.robots: str | None = "User-agent: *\nDisallow: /private/\n"  # None: 404
        self.robots_status = 200
        self.pages: dict[str, tuple[bytes, str]] = {}

    def serve(self, path: str, sample: str, content_type: str = "text/html; charset=utf-8"):
        self.pages[path] = ((DATA / sample).read_bytes(), content_type)

    def serve_bytes(self, path: str, body: bytes, content_type: str):
        self.pages[path] = (body, content_type)

    def robots_txt(self, request, seen):
        if self.robots is None:
            return Response("<h1>Not Found</h1>", status=404, content_type="text/html")
        return Response(self.robots, status=self.robots_status, content_type="text/plain")

    def page(self, request, seen, path):
        if path not in self.pages:
            return Response("<h1>Not Found</h1>", status=404, content_type="text/html")
        body, content_type = self.pages[path]
        return Response(body, status=200, content_type=content_type)
