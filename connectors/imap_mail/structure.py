"""Attachment metadata from an IMAP BODYSTRUCTURE, for messages too large to fetch whole.

imapclient returns the structure as nested tuples (RFC 3501 section 7.4.2):
    multipart:      ([part, part, ...], subtype, params, disposition, language, location)
    text/*:         (type, subtype, params, id, description, encoding, size, lines, md5, disposition, ...)
    message/rfc822: (type, subtype, params, id, description, encoding, size, envelope, body, lines, md5,
                     disposition, ...)
    anything else:  (type, subtype, params, id, description, encoding, size, md5, disposition, ...)
Sizes there are the encoded sizes; base64 ones are converted to the decoded size (to a few bytes).
"""

from __future__ import annotations

from email.utils import decode_rfc2231
from urllib.parse import unquote

from connectors.imap_mail.parse import header_text


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _params(value) -> dict[str, str]:
    if not isinstance(value, tuple | list):
        return {}
    items = list(value)
    return {_text(items[i]).lower(): _text(items[i + 1]) for i in range(0, len(items) - 1, 2)}


def _filename(params: dict[str, str]) -> str:
    for key in ("filename", "name"):
        if f"{key}*" in params:  # RFC 2231: charset'language'percent-encoded
            charset, _language, value = decode_rfc2231(params[f"{key}*"])
            try:
                return unquote(value, encoding=charset or "utf-8", errors="replace")
            except LookupError:  # an unknown charset name
                return unquote(value, encoding="utf-8", errors="replace")
        if key in params:
            return header_text(params[key])
    return ""


def _leaves(structure):
    if not isinstance(structure, tuple | list) or not structure:
        return
    if isinstance(structure[0], list | tuple):  # multipart: the parts come first
        for part in structure[0]:
            yield from _leaves(part)
    else:
        yield structure


def _attachment(part) -> dict | None:
    fields = list(part)
    ctype = f"{_text(fields[0])}/{_text(fields[1])}".lower()
    params = _params(fields[2]) if len(fields) > 2 else {}
    encoding = _text(fields[5]).lower() if len(fields) > 5 else ""
    try:
        size = int(fields[6]) if len(fields) > 6 and fields[6] is not None else 0
    except (TypeError, ValueError):
        size = 0
    if encoding == "base64":  # lines of 76 characters + CRLF, 4 characters per 3 bytes (padding: +-2)
        lines = -(-size // 78)
        size = max(0, (size - 2 * lines) * 3 // 4)
    if ctype.startswith("text/"):
        disposition_at = 9
    elif ctype == "message/rfc822":
        disposition_at = 11
    else:
        disposition_at = 8
    disposition, disp_params = "", {}
    if len(fields) > disposition_at and isinstance(fields[disposition_at], tuple | list) and fields[disposition_at]:
        disposition = _text(fields[disposition_at][0]).lower()
        disp_params = _params(fields[disposition_at][1]) if len(fields[disposition_at]) > 1 else {}
    filename = _filename(disp_params) or _filename(params)
    if ctype.startswith("text/") and disposition != "attachment" and not filename:
        return None  # inline text: the body, not an attachment
    return {"filename": filename, "content_type": ctype, "size": size}


def attachments_from_structure(structure) -> list[dict]:
    found = []
    for part in _leaves(structure):
        try:
            attachment = _attachment(part)
        except Exception:  # noqa: BLE001 - an odd structure part: skip it, keep the others
            attachment = None
        if attachment is not None:
            found.append(attachment)
    return found
