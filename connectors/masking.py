"""URLs in messages shown as scheme and host only. Private calendar links and many webhook URLs
carry their secret in the path or query, so no error text, log line or page ever repeats them."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

URL_IN_TEXT = re.compile(r"\b(https?|webcal)://[^\s<>\"')\]]+", re.IGNORECASE)
# urllib3 and requests quote the bare path in their messages ("... with url: /private/abc/basic.ics")
PATH_IN_TEXT = re.compile(r"(with url: )\S+", re.IGNORECASE)
# urllib3 logs each request line at DEBUG: 'https://host:443 "POST /hooks/<token> HTTP/1.1" 200 2', and
# its retries as "Incremented Retry for (url='/hooks/<token>')": the path is the secret, so all of it goes.
REQUEST_LINE = re.compile(r'"([A-Z]{3,10}) (?:[^"\s]+) (HTTP/[\d.]+)"')
RETRY_URL = re.compile(r"(\(url=)'[^']*'")


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
    text = REQUEST_LINE.sub(r'"\1 … \2"', text)
    text = RETRY_URL.sub(r"\1'…'", text)
    return PATH_IN_TEXT.sub(r"\1…", text)
