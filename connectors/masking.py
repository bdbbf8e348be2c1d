"""URLs in messages shown as scheme and host only. Private calendar links and many webhook URLs
carry their secret in the path or query, so no error text, log line or page ever repeats them."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

URL_IN_TEXT = re.compile(r"\b(https?|webcal)://[^\s<>\"')\]]+", re.IGNORECASE)
# urllib3 and requests quote the bare path in their messages ("... with url: /private/abc/basic.ics")
PATH_IN_TEXT = re.compile(r"(with url: )\S+", re.IGNORECASE)


def mask_url(value) -> str:
    try:
        parts = urlsplit(str(value or ""))
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "…"
    if not parts.scheme or not host:
        return "…"
    return f"{parts.scheme}://{host}{port}/…"


def mask_urls_in(text) -> str:
    text = URL_IN_TEXT.sub(lambda m: mask_url(m.group(0)), str(text or ""))
    return PATH_IN_TEXT.sub(r"\1…", text)
