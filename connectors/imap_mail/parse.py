"""Reading one raw message (bytes) into the fields of a mail record, whatever shape it is in.

The stdlib email package does the work, in two gears. The MIME structure is parsed with the
compat32 policy, whose headers stay plain strings: policy.default re-parses Content-Type through
its header registry at every step and costs ~370 us per message against ~40 us, which alone
would put a 10,000-message sync at 4x the bare fetch (bench/bench_imap.py). Headers are then
read through policy.default's header registry wherever it matters (encoded-words, 8-bit bytes,
address lists that the quick email.utils path cannot split cleanly), so the result is the same.
Around it, this module makes awkward mail readable instead of failing on it:
- headers in raw 8-bit bytes (UTF-8, or cp1252 when that is not valid UTF-8) and RFC 2047
  encoded-words in any charset; unknown charsets decode with replacement characters;
- bodies without a charset, with a wrong one or an unknown one;
- a multipart whose declared boundary never appears (re-read with the boundary the body uses);
- missing or unparseable Date headers (None: the caller falls back to INTERNALDATE);
- header values the header parser chokes on (kept as plain text).
A message with no header at all is not mail: `Unreadable` is raised and the caller reports an
item error for it.
"""

from __future__ import annotations

import binascii
import codecs
import datetime
import itertools
import re
from dataclasses import dataclass, field
from email import policy
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime

from connectors.text import html_to_text

POLICY = policy.default  # header decoding
_PARSER = BytesParser(policy=policy.compat32)  # MIME structure
_FOLD = re.compile(r"\r?\n")
_SPACES = re.compile(r"[ \t\r\f\v]{2,}|[\t\r\f\v]")  # runs to collapse (single spaces stay)
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")
_MANY_NEWLINES = re.compile(r"\n{3,}")
_BLANK_LINES = re.compile(r"\n\s*\n+")
_CHARSET = re.compile(r"charset\s*=\s*\"?([^\";\s]+)", re.I)
_ADDR = r"[^<>@\s,;:\"()]+@[^<>@\s,;:\"()]+"
_SIMPLE_ADDRESS = re.compile(rf"^\s*(?:([^\"<>,@;:()]*?)\s*<({_ADDR})>|({_ADDR}))\s*$")
_PLAIN_ADDRESS = re.compile(r"^[^@\s<>\"(),;:]+@[^@\s<>\"(),;:]+$")
_BOUNDARY_LINE = re.compile(rb"^--([^\s]{1,200}?)(--)?[ \t]*\r?$", re.M)
SKIP_FLAGS = {"\\Recent"}  # a per-session flag: it would make every re-sync look like a change


class Unreadable(ValueError):
    """The bytes are not an email message at all."""


@dataclass
class ParsedMail:
    subject: str = ""
    from_: dict | None = None
    to: list[dict] = field(default_factory=list)
    cc: list[dict] = field(default_factory=list)
    message_id: str = ""
    in_reply_to: str = ""
    date: datetime.datetime | None = None
    text: str = ""
    html: str = ""
    attachments: list[dict] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    truncated: bool = False


def parse(raw: bytes, *, max_body_chars: int, headers_only: bool = False) -> ParsedMail:
    quick = _quick_split(raw)
    msg = None
    if quick is not None:
        headers, body = quick
    else:
        msg = _feedparse(raw, headers_only=headers_only)
        headers, body = _raw_headers(msg), None
    result = ParsedMail(
        subject=header_text(headers.get("subject")),
        message_id=header_text(headers.get("message-id")),
        in_reply_to=header_text(headers.get("in-reply-to")),
        date=parse_date(headers.get("date")),
    )
    senders = addresses("From", headers.get("from"))
    result.from_ = senders[0] if senders else None
    result.to = addresses("To", headers.get("to"))
    result.cc = addresses("Cc", headers.get("cc"))
    if headers_only:
        _note_defects(result, msg)
        return result
    if not _read_simple_body(headers, body, msg, result) and not _read_simple_multipart(headers, body, result):
        if msg is None:
            msg = _feedparse(raw, headers_only=False)
        root = _repair_multipart(msg, raw)
        text_part, html_part = _body_parts(root)
        if text_part is not None:
            result.text = part_text(text_part)
        if html_part is not None:
            result.html = part_text(html_part)
        found = (_attachment(p) for p in _leaves(root) if p is not text_part and p is not html_part)
        result.attachments = [a for a in found if a is not None]
    _note_defects(result, msg)
    for name in ("text", "html"):
        value = getattr(result, name)
        if len(value) > max_body_chars:
            setattr(result, name, value[:max_body_chars])
            result.truncated = True
    if not result.text and result.html:
        result.text = html_to_text(result.html)
    return result


def _feedparse(raw: bytes, *, headers_only: bool) -> Message:
    try:
        msg = _PARSER.parsebytes(raw, headersonly=headers_only)
    except Exception as exc:  # the parser is lenient: anything it raises means unreadable
        raise Unreadable(f"the MIME parser gave up ({type(exc).__name__}: {exc})") from exc
    if not msg.keys():
        raise Unreadable("it has no headers at all (not an email message)")
    return msg


def _note_defects(result: ParsedMail, msg: Message | None):
    if msg is not None and msg.defects:
        result.defects = sorted({type(d).__name__ for d in msg.defects})


def _quick_split(raw: bytes) -> tuple[dict[str, str], bytes] | None:
    """Headers and body of a plainly well-formed message, without the feedparser (which costs
    ~40 us a message). None at the first oddity: the email package then reads it properly."""
    end, sep = raw.find(b"\r\n\r\n"), 4
    if end == -1:
        end, sep = raw.find(b"\n\n"), 2
    if end <= 0:
        return None
    lines = raw[:end].decode("ascii", "surrogateescape").split("\r\n" if sep == 4 else "\n")
    headers: dict[str, str] = {}
    last = None  # the header a continuation line belongs to ("": a repeat, ignored)
    for line in lines:
        if line[:1] in (" ", "\t"):
            if last is None:
                return None
            if last:
                headers[last] += "\n" + line
            continue
        name, colon, value = line.partition(":")
        if not colon or not _HEADER_NAME.match(name):
            return None
        last = name.lower()
        if last in headers:
            last = ""  # a repeated header (Received...): only the first counts, like _raw_headers()
        else:
            headers[last] = value.lstrip(" \t")
    return headers, raw[end + sep :]


def _read_simple_body(headers: dict[str, str], body: bytes | None, msg: Message | None, result: ParsedMail) -> bool:
    """The common case, read without the generic walk: one inline text/plain or text/html part.
    False when the message is anything else (the generic path then handles it)."""
    if "content-disposition" in headers or (msg is not None and msg.is_multipart()):
        return False
    kind = _inline_text_type(headers.get("content-type"))
    if kind is None:
        return False
    ctype, charset = kind
    payload = msg.get_payload(decode=True) if msg is not None else _decoded(headers, body)
    if not isinstance(payload, bytes):
        return False
    text = decode_bytes(payload, charset).replace("\r\n", "\n")
    if ctype == "text/plain":
        result.text = text
    else:
        result.html = text
    return True


def _inline_text_type(value: str | None) -> tuple[str, str | None] | None:
    """(content type, charset) of an inline text/plain or text/html part, else None."""
    if value is None:
        return "text/plain", None
    if "\n" in value:
        value = _FOLD.sub("", value)
    ctype = value.split(";", 1)[0].strip().lower()
    if ctype not in ("text/plain", "text/html") or "name" in value.lower():
        return None
    match = _CHARSET.search(value)
    return ctype, match.group(1) if match else None


def _decoded(headers: dict[str, str], body: bytes) -> bytes | None:
    """A leaf's body decoded from its transfer encoding; None when the encoding is unknown or broken."""
    encoding = (headers.get("content-transfer-encoding") or "").strip().lower()
    try:
        if encoding == "quoted-printable":
            return binascii.a2b_qp(body)
        if encoding == "base64":
            return binascii.a2b_base64(body)
        if encoding in ("", "7bit", "8bit", "binary"):
            return body
    except (binascii.Error, ValueError):
        pass  # broken encoding: the email package copes with it
    return None


_SIMPLE_MULTIPART = re.compile(r"^\s*multipart/(alternative|mixed|related)\s*;", re.I)
_BOUNDARY_PARAM = re.compile(r';\s*boundary\s*=\s*(?:"([^"\\]+)"|([^";\s]+))\s*(?:;|$)', re.I)


def _read_simple_multipart(headers: dict[str, str], body: bytes | None, result: ParsedMail) -> bool:
    """The other common case, without the feedparser (~1 ms a message, most of a multipart
    message's cost): a well-formed multipart/alternative (or mixed, related) of inline
    text/plain and text/html leaves only, CRLF line endings throughout. It reads them as the
    generic path does (first text/plain, first text/html, no attachments); False at the first
    thing that is not plainly so (nesting, attachments, names, a missing boundary, bare CR or LF,
    another transfer encoding on the whole), and the generic path reads the message."""
    if body is None or "content-disposition" in headers:
        return False
    value = headers.get("content-type") or ""
    if "\n" in value:
        value = _FOLD.sub("", value)
    if not _SIMPLE_MULTIPART.match(value) or "*" in value:
        return False
    found = _BOUNDARY_PARAM.search(value)
    encoding = (headers.get("content-transfer-encoding") or "").strip().lower()
    if found is None or encoding not in ("", "7bit", "8bit", "binary"):
        return False
    boundary = (found.group(1) or found.group(2)).rstrip()
    crlf = body.count(b"\r\n")
    if not boundary or body.count(b"\n") != crlf or body.count(b"\r") != crlf:
        return False
    delimiter = re.compile(rb"^--" + re.escape(boundary.encode("ascii", "surrogateescape")) + rb"(--)?[ \t]*\r$", re.M)
    marks = list(delimiter.finditer(body))
    if len(marks) < 2 or marks[0].group(1) or not marks[-1].group(1) or any(m.group(1) for m in marks[:-1]):
        return False
    text = html = None
    for opening, closing in itertools.pairwise(marks):
        part = body[opening.end() + 1 : closing.start()]
        if part.endswith(b"\r\n"):
            part = part[:-2]
        quick = _quick_split(part)
        if quick is None or "content-disposition" in quick[0]:
            return False
        part_headers, part_body = quick
        kind = _inline_text_type(part_headers.get("content-type")) if "content-type" in part_headers else None
        payload = _decoded(part_headers, part_body) if kind is not None else None
        if payload is None:
            return False
        ctype, charset = kind
        if ctype == "text/plain" and text is None:
            text = (payload, charset)
        elif ctype == "text/html" and html is None:
            html = (payload, charset)
    if text is not None:
        result.text = decode_bytes(*text).replace("\r\n", "\n")
    if html is not None:
        result.html = decode_bytes(*html).replace("\r\n", "\n")
    return True


# -- headers ---------------------------------------------------------------------------------
def _raw_headers(msg: Message) -> dict[str, str]:
    """First raw value of each header, lower-cased names (raw_items: no header parsing yet)."""
    found: dict[str, str] = {}
    for name, value in msg.raw_items():
        key = name.lower()
        if key not in found and isinstance(value, str):
            found[key] = value
    return found


def clean_raw(value: str) -> str:
    """Unfold a raw header value and turn undecodable 8-bit bytes into readable text."""
    if "\n" in value:
        value = _FOLD.sub("", value)
    if value.isascii():
        return value
    try:
        data = value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:  # already real text
        return value
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def header_text(value: str | None) -> str:
    """A header as text: encoded-words decoded (unknown charsets with replacement characters)."""
    if value is None:
        return ""
    value = clean_raw(value)
    if "=?" not in value:
        return value.strip()
    try:
        return str(POLICY.header_factory("subject", value)).strip()
    except Exception:  # noqa: BLE001 - fall back to the older decoder, then to the raw text
        try:
            return str(make_header(decode_header(value))).strip()
        except Exception:  # noqa: BLE001
            return value.strip()


def addresses(name: str, value: str | None) -> list[dict]:
    if value is None:
        return []
    text = clean_raw(value)
    if text.isascii() and "=?" not in text:
        if '"' not in text and "\\" not in text:  # the usual: Name <a@b>, c@d (no quoted commas)
            simple = [_SIMPLE_ADDRESS.match(piece) for piece in text.split(",")]
            if simple and all(simple):
                return [{"name": m.group(1) or "", "email": m.group(2) or m.group(3)} for m in simple]
        quick = getaddresses([text])
        if quick and all(_PLAIN_ADDRESS.match(addr) for _name, addr in quick):
            return [{"name": n, "email": a} for n, a in quick]
    try:
        header = POLICY.header_factory(name, text)
        found = [{"name": a.display_name or "", "email": a.addr_spec or ""} for a in header.addresses]
    except Exception:  # noqa: BLE001 - an address list the parser cannot split: keep it as text
        return [{"name": "", "email": header_text(value)}]
    return [a for a in found if a["email"] or a["name"]]


def parse_date(value: str | None) -> datetime.datetime | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(clean_raw(value).strip())
    except (TypeError, ValueError, IndexError, OverflowError):  # unparseable: as if missing
        return None
    if when.tzinfo is None:  # "-0000": the sender did not say; read it as UTC
        when = when.replace(tzinfo=datetime.UTC)
    return when


# -- bodies ----------------------------------------------------------------------------------
def _repair_multipart(msg: Message, raw: bytes) -> Message:
    """A multipart whose declared boundary never occurs: re-read the body with the one it uses."""
    if msg.get_content_maintype() != "multipart" or msg.is_multipart():
        return msg
    head_end = raw.find(b"\n\n")
    crlf_end = raw.find(b"\r\n\r\n")
    if crlf_end != -1 and (head_end == -1 or crlf_end < head_end):
        body = raw[crlf_end + 4 :]
    elif head_end != -1:
        body = raw[head_end + 2 :]
    else:
        return msg
    match = _BOUNDARY_LINE.search(body)
    if not match:
        return msg
    boundary = match.group(1)
    fake = b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n' + body
    try:
        repaired = _PARSER.parsebytes(fake)
    except Exception:  # noqa: BLE001 - keep the unrepaired message
        return msg
    return repaired if repaired.is_multipart() else msg


def _leaves(part):
    if part.get_content_maintype() == "multipart" and part.is_multipart():
        for sub in part.get_payload():
            yield from _leaves(sub)
    else:
        yield part


def _is_attachment(part) -> bool:
    try:
        return part.get_content_disposition() == "attachment" or bool(part.get_filename())
    except Exception:  # noqa: BLE001 - a broken Content-Disposition: treat it as inline
        return False


def _body_parts(root):
    """The first inline text/plain and text/html leaves (alternatives nested anywhere)."""
    text = html = None
    for part in _leaves(root):
        if part.get_content_maintype() != "text" or _is_attachment(part):
            continue
        subtype = part.get_content_subtype()
        if subtype == "plain" and text is None:
            text = part
        elif subtype == "html" and html is None:
            html = part
        if text is not None and html is not None:
            break
    if text is None and html is None and not root.is_multipart() and root.get_content_maintype() == "multipart":
        text = root  # an unrepairable multipart: its raw body is the best text there is
    return text, html


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Bytes in a declared charset; undeclared or unknown: UTF-8, else cp1252 (never fails)."""
    if charset:
        try:
            codecs.lookup(charset)
        except LookupError:
            charset = None
    if charset and charset.lower() not in ("us-ascii", "ascii"):
        return data.decode(charset, "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def part_text(part) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - a broken transfer encoding: take the raw payload
        payload = None
    if payload is None:
        raw = part.get_payload()
        if not isinstance(raw, str):
            return ""
        payload = raw.encode("utf-8", "surrogateescape")
    try:
        charset = part.get_content_charset()
    except Exception:  # noqa: BLE001
        charset = None
    return decode_bytes(payload, charset).replace("\r\n", "\n")


def _attachment(part) -> dict | None:
    ctype = part.get_content_type()
    if ctype.startswith("multipart/"):
        return None
    if ctype.startswith("text/") and not _is_attachment(part):
        return None  # more inline text (footers, second alternatives): not an attachment
    try:
        filename = part.get_filename() or ""
    except Exception:  # noqa: BLE001
        filename = ""
    if "=?" in filename:
        filename = header_text(filename)
    return {"filename": clean_raw(filename), "content_type": ctype, "size": _part_size(part)}


def _part_size(part) -> int:
    try:
        if part.is_multipart():  # message/rfc822: the attached message as a whole
            return len(part.get_payload(0).as_bytes())
        payload = part.get_payload(decode=True)
        return len(payload) if payload is not None else 0
    except Exception:  # noqa: BLE001 - size unknown
        return 0


# -- HTML to text ----------------------------------------------------------------------------
def summary_of(text: str, limit: int = 500) -> str:
    text = text[: limit * 2]
    # The substitutions only where they can match: a scan for a few characters (in C) costs
    # far less than the regular expression's own walk over text with nothing to replace.
    if "  " in text or "\t" in text or "\r" in text or "\f" in text or "\v" in text:
        text = _SPACES.sub(" ", text)
    text = text.strip()
    if "\n\n\n" in text:
        text = _MANY_NEWLINES.sub("\n\n", text)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
