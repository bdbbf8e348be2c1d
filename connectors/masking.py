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


# -- provider answers quoted in errors ---------------------------------------------------------------
# An error body is the provider's text, and a receiver may echo the request back: a webhook that
# answers 'no route for POST /hooks/<token>' would put the token into the job's error, the
# integration's status, notifications, the audit log, the API and the logs. So a body is quoted only
# through quote_body(): every secret of the integration masked, credentials-looking pairs masked,
# URLs cut to scheme and host, one line, capped.

QUOTE_LIMIT = 200
MASK = "…"
_MIN_SECRET = 4  # a whole secret value shorter than this would mask ordinary words
_MIN_PIECE = 6  # a token-like piece of a secret URL or header value

CREDENTIAL_PATTERNS = [
    # Authorization: Bearer xyz / Basic xyz
    (re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?(?:bearer|basic|token)\s+)[^\s'\",}]+"), r"\1[redacted]"),
    # key=value pairs with a secret-sounding key, in URLs, dict reprs and JSON
    (
        re.compile(
            r"(?i)(['\"]?(?:access_token|refresh_token|client_secret|password|passwd|api_key|apikey|"
            r"token|secret|code_verifier)['\"]?\s*[:=]\s*['\"]?)[^\s'\"&,}]+"
        ),
        r"\1[redacted]",
    ),
    # user:password@host in URLs
    (re.compile(r"(://[^/\s:@]+:)[^/\s@]+@"), r"\1[redacted]@"),
]


def mask_credentials_in(text: str) -> str:
    for pattern, replacement in CREDENTIAL_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _token_like(piece: str) -> bool:
    """Random tokens have digits or are long; plain words ("hooks", "services") are kept readable."""
    return len(piece) >= _MIN_PIECE and (any(c.isdigit() for c in piece) or len(piece) >= 16)


def _url_pieces(value: str) -> list[str]:
    try:
        parts = urlsplit(value)
    except ValueError:
        return []
    if not parts.scheme or not parts.netloc:
        return []
    pieces = []
    if len(parts.path) > 1:
        pieces.append(parts.path + (f"?{parts.query}" if parts.query else ""))
        pieces.append(parts.path)
    if parts.query:
        pieces.append(parts.query)
    if parts.password:
        pieces.append(parts.password)
    for segment in re.split(r"[/?&=;#]", f"{parts.path}?{parts.query}"):
        # "private-5f2a9c0d1e" also hides "5f2a9c0d1e", which a provider may quote on its own
        pieces.extend(piece for piece in {segment, *re.split(r"[-_.~+,:]", segment)} if _token_like(piece))
    return pieces


def secret_texts(secrets: dict | None, config: dict | None = None, tokens=()) -> list[str]:
    """Every text that would give away a secret of one integration: each secret value, the path,
    query and token-like pieces of its secret URLs (and the token-like pieces of URLs in its
    settings), header values and their tokens. Longest first, so a whole value
    is masked before any part of it."""
    found: set[str] = set()
    values = [v for v in (secrets or {}).values() if isinstance(v, str)] + [t for t in tokens if t]
    for value in values:
        value = value.strip()
        if len(value) >= _MIN_SECRET:
            found.add(value)
        found.update(_url_pieces(value))
        for line in value.splitlines():  # extra headers: "Name: value" per line
            _name, sep, header_value = line.partition(":")
            if sep and header_value.strip():
                found.add(header_value.strip())
                found.update(word for word in header_value.split() if _token_like(word))
    for value in (config or {}).values():
        # Settings are not secret, yet a URL there may still carry a token: only token-like pieces
        # are hidden, so "robots.txt does not allow /news" stays readable.
        if isinstance(value, str):
            found.update(piece for piece in _url_pieces(value.strip()) if "/" not in piece and _token_like(piece))
    return sorted((f for f in found if len(f) >= _MIN_SECRET), key=len, reverse=True)


def mask_secrets(text, hidden) -> str:
    """text with every one of `hidden` (from secret_texts) masked; URLs cut to scheme and host."""
    text = str(text or "")
    for value in hidden or ():
        if value in text:
            text = text.replace(value, MASK)
    return mask_urls_in(text)


def quote_body(body, hidden=(), limit: int = QUOTE_LIMIT) -> str:
    """A provider's answer, safe to show and store: one line, secrets masked, at most `limit` characters."""
    text = " ".join(str(body or "").split())
    text = mask_credentials_in(mask_secrets(text, hidden))
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + MASK
