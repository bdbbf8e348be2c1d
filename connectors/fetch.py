"""Conditional GET for feeds: ETag / Last-Modified, plus a content hash for servers that send
neither, so an unchanged feed costs one request and no parsing."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field

from connectors.errors import ConfigError
from connectors.masking import mask_url

SPOOL_IN_MEMORY = 8 * 1024 * 1024  # bigger bodies go to a temp file, never all in RAM


@dataclass
class Fetched:
    not_modified: bool
    validators: dict = field(default_factory=dict)  # the cursor to store: etag, last_modified, sha256
    body: tempfile.SpooledTemporaryFile | None = None
    content_type: str = ""
    url: str = ""

    def read(self) -> bytes:
        self.body.seek(0)
        return self.body.read()

    def close(self):
        if self.body is not None:
            self.body.close()


def conditional_get(http, url: str, cursor: dict | None, *, accept: str = "*/*") -> Fetched:
    cursor = cursor or {}
    headers = {"Accept": accept}
    if cursor.get("etag"):
        headers["If-None-Match"] = cursor["etag"]
    if cursor.get("last_modified"):
        headers["If-Modified-Since"] = cursor["last_modified"]
    response = http.get(url, headers=headers, stream=True, allow=(304, 403))
    if response.status_code == 403:
        response.close()
        raise forbidden(response.url or url)
    if response.status_code == 304:
        response.close()
        return Fetched(not_modified=True, validators=dict(cursor))
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - Fetched owns and closes it
    digest = hashlib.sha256()
    try:
        for chunk in http.stream_capped(response):
            spool.write(chunk)
            digest.update(chunk)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    validators = {
        "etag": response.headers.get("ETag", ""),
        "last_modified": response.headers.get("Last-Modified", ""),
        "sha256": digest.hexdigest(),
    }
    unchanged = bool(cursor.get("sha256")) and cursor["sha256"] == validators["sha256"]
    return Fetched(
        not_modified=unchanged,
        validators=validators,
        body=spool,
        content_type=response.headers.get("Content-Type", ""),
        url=response.url,
    )


def forbidden(url: str) -> ConfigError:
    """A feed is read by its address alone: a 403 means the address, not a login, must change
    (the generic 403 asks to re-authenticate, which a public feed has nothing to offer)."""
    return ConfigError(
        f"The server at {mask_url(url)} refused access to this feed (HTTP 403).",
        remediation="Check the address is public or still valid: open it in a browser, or copy a fresh link "
        "from the calendar or site that publishes it.",
        field="url",
    )
