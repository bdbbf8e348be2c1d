"""Reading one raw message (bytes) into the fields of a mail record, whatever shape it is in.

The stdlib email package does the work, in two gears. The MIME structure is parsed with the
compat32 policy, whose headers stay plain strings: policy.default re-parses Content-Type through
its header registry at every step and costs ~370 us per message against ~40 us, which alone
would put a 10,000-message sync at 4x the bare fetch (bench/bench_imap.py). Headers are then
read through policy.default's header registry wherever it matters (encoded-words, 8-bit bytes,
address lists that the quick email.utils path cannot split cleanly), so the result is the same.
Around it, this module makes awkward mail readable instead of failing on it:
- headers in raw 8-bit bytes (UTF-8, or cp1252 when that is not valid UTF-8) and RFC 2047
  encoded-words in any charset;
- charset labels read as mail clients read them (the WHATWG Encoding Standard, which Thunderbird
  and every browser follow): labels Python lacks (windows-874, iso-8859-8-i, x-mac-roman...), and
  labels whose mail holds a wider set than Python's codec of that name (ISO-8859-1 mail written on
  Windows holds cp1252's curly quotes and euro sign, GB2312 mail holds GBK, Shift_JIS mail holds
  Windows-31J). An unknown label, or a name that is no text charset at all ("base64", "zlib"),
  is read as an unlabelled text is: UTF-8, else cp1252. No text ever keeps a lone surrogate
  (PostgreSQL refuses to store one, and the whole batch with it);
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
import contextlib
import datetime
import functools
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
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_SURROGATE = re.compile("[\ud800-\udfff]+")
# The email package's header parser takes time quadratic in a header's length (CPython
# gh-136063): a subject or address list of a few hundred kilobytes kept a worker busy for minutes,
# on every retry. Longer headers are read another way (header_text, addresses).
LONG_HEADER = 8192
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
    text = decode_bytes(payload, charset, html=ctype == "text/html").replace("\r\n", "\n")
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
        result.html = decode_bytes(*html, html=True).replace("\r\n", "\n")
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
    if len(value) > LONG_HEADER:  # a record's title keeps 500 characters: the rest is not read
        value = value[:LONG_HEADER].rsplit(None, 1)[0]
    value = _relabel_encoded_words(value)
    try:
        return no_surrogates(str(POLICY.header_factory("subject", value))).strip()
    except Exception:  # noqa: BLE001 - fall back to the older decoder, then to the raw text
        try:
            return no_surrogates(str(make_header(decode_header(value)))).strip()
        except Exception:  # noqa: BLE001
            return value.strip()


def _relabel_encoded_words(value: str) -> str:
    """Encoded-words labelled with a charset Python lacks or reads narrower than mail clients do,
    relabelled with the codec that reads them (codec_for). Words with an unknown label (or one
    that is no text charset) are read as UTF-8 when their bytes together are valid UTF-8, else as
    cp1252: the rule for unlabelled text, instead of replacement characters."""
    words = list(_ENCODED_WORD.finditer(value))
    if not words:
        return value
    codecs_at, unknown = {}, b""
    for word in words:
        codec = codecs_at[word.start()] = codec_for(word.group(1).partition("*")[0])
        if codec is None:
            with contextlib.suppress(Exception):  # broken base64: the header parser copes with it
                unknown += decode_header(word.group(0))[0][0]
    guess = "utf-8" if _is_utf8(unknown) else "cp1252"

    def relabel(word):
        label, star, language = word.group(1).partition("*")
        codec = codecs_at[word.start()] or guess
        if codec == label.lower():
            return word.group(0)
        return f"=?{codec}{star}{language}?{word.group(2)}?{word.group(3)}?="

    return _ENCODED_WORD.sub(relabel, value)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def no_surrogates(text: str) -> str:
    """Text without lone surrogates: the email package leaves bytes it could not decode as
    surrogate escapes, which no database stores. Each run is read as UTF-8, else cp1252."""
    if text.isascii() or not _SURROGATE.search(text):
        return text
    return _SURROGATE.sub(_unescape_run, text)


def _unescape_run(found) -> str:
    run = found.group(0)
    try:
        data = run.encode("ascii", "surrogateescape")  # bytes 0x80-0xff the parser escaped
    except UnicodeEncodeError:  # other lone surrogates: nothing to recover
        return "\ufffd" * len(run)
    return decode_bytes(data, None)


def addresses(name: str, value: str | None) -> list[dict]:
    if value is None:
        return []
    text = clean_raw(value)
    if len(text) > LONG_HEADER:
        return _many_addresses(text)
    if text.isascii() and "=?" not in text:
        if '"' not in text and "\\" not in text:  # the usual: Name <a@b>, c@d (no quoted commas)
            simple = [_SIMPLE_ADDRESS.match(piece) for piece in text.split(",")]
            if simple and all(simple):
                return [{"name": m.group(1) or "", "email": m.group(2) or m.group(3)} for m in simple]
        quick = getaddresses([text])
        if quick and all(_PLAIN_ADDRESS.match(addr) for _name, addr in quick):
            return [{"name": n, "email": a} for n, a in quick]
    try:
        header = POLICY.header_factory(name, _relabel_encoded_words(text) if "=?" in text else text)
        found = [
            {"name": no_surrogates(a.display_name or ""), "email": no_surrogates(a.addr_spec or "")}
            for a in header.addresses
        ]
    except Exception:  # noqa: BLE001 - an address list the parser cannot split: keep it as text
        return [{"name": "", "email": header_text(value)}]
    return [a for a in found if a["email"] or a["name"]]


def _many_addresses(text: str) -> list[dict]:
    """A long address list (a mail to thousands), split by the email package's older parser,
    which is linear, each display name decoded alone."""
    found = []
    for name, email in getaddresses([text]):
        if name or email:
            found.append({"name": header_text(name) if name else "", "email": no_surrogates(email)})
    return found


# Zone names that mailers write in place of a numeric offset (against RFC 5322) and that the email
# package does not know (it knows UT, GMT, Z and the North American ones): it read them as UTC,
# hours off. Ambiguous names (IST, CST for China) are left to that rule.
_ZONE_NAMES = {
    "CET": "+0100", "CEST": "+0200", "MET": "+0100", "MEST": "+0200", "EET": "+0200", "EEST": "+0300",
    "WET": "+0000", "WEST": "+0100", "BST": "+0100", "MSK": "+0300", "JST": "+0900", "KST": "+0900",
    "HKT": "+0800", "SGT": "+0800", "AWST": "+0800", "ACST": "+0930", "AEST": "+1000", "AEDT": "+1100",
    "NZST": "+1200", "NZDT": "+1300", "HST": "-1000", "AKST": "-0900", "AKDT": "-0800",
}  # fmt: skip
# "... 10:00:00 GMT+0100" / "UTC+01:00" / "CET" (optionally with a comment after it).
_NAMED_ZONE = re.compile(r"\s(?:(?:GMT|UTC)([+-]\d{2}):?(\d{2})|([A-Z]{3,4}))(\s*\([^)]*\))?\s*$")


def _numeric_zone(value: str) -> str:
    found = _NAMED_ZONE.search(value)
    if found is None:
        return value
    if found.group(1):
        offset = found.group(1) + found.group(2)
    elif found.group(3) in _ZONE_NAMES:
        offset = _ZONE_NAMES[found.group(3)]
    else:
        return value
    return f"{value[: found.start()]} {offset}"


def parse_date(value: str | None) -> datetime.datetime | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(_numeric_zone(clean_raw(value).strip()))
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


# Labels read as the WHATWG Encoding Standard reads them, where Python's codec of that name differs
# or Python has none (https://encoding.spec.whatwg.org/#names-and-labels). US-ASCII is not here:
# unlabelled and ASCII-labelled text is tried as UTF-8 first (decode_bytes).
_WHATWG = {
    **dict.fromkeys(
        (
            *("iso-8859-1", "iso8859-1", "iso_8859-1", "iso88591", "iso_8859-1:1987", "latin1", "l1", "cp819"),
            *("ibm819", "iso-ir-100", "csisolatin1", "x-cp1252"),
        ),
        "cp1252",
    ),
    **dict.fromkeys(("iso-8859-9", "iso8859-9", "iso_8859-9", "latin5", "l5", "iso-ir-148", "csisolatin5"), "cp1254"),
    **dict.fromkeys(("iso-8859-8-i", "iso_8859-8-i", "csiso88598i", "logical"), "iso8859-8"),
    **dict.fromkeys(("windows-874", "dos-874", "iso-8859-11", "iso8859-11", "tis-620"), "cp874"),
    **dict.fromkeys(("gb2312", "gb_2312", "gb_2312-80", "gbk", "x-gbk", "chinese", "csgb2312", "iso-ir-58"), "gb18030"),
    **dict.fromkeys(
        (
            *("euc-kr", "ks_c_5601-1987", "ks_c_5601-1989", "ksc5601", "ksc_5601", "korean", "windows-949"),
            *("csksc56011987", "iso-ir-149", "cseuckr"),
        ),
        "cp949",
    ),
    **dict.fromkeys(("shift_jis", "shift-jis", "sjis", "x-sjis", "ms_kanji", "csshiftjis", "windows-31j"), "cp932"),
    **dict.fromkeys(("big5", "big5-hkscs", "cn-big5", "csbig5", "x-x-big5"), "big5hkscs"),
    **dict.fromkeys(("unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "x-unicode20utf8"), "utf-8"),
    "x-euc-jp": "euc_jp",
    "x-mac-roman": "mac-roman",
    **dict.fromkeys(("x-mac-cyrillic", "x-mac-ukrainian"), "mac-cyrillic"),
}
# Codecs Python finds by these names that cannot read a declared body: they raise on any byte
# ("undefined"), refuse replacement ("idna"), or turn backslashes into characters.
_NOT_A_CHARSET = {"undefined", "idna", "punycode", "unicode-escape", "raw-unicode-escape"}


@functools.lru_cache(maxsize=512)
def codec_for(label: str | None) -> str | None:
    """The Python codec that reads text labelled `label` as mail clients do; None when the label
    names no text charset (unknown, or a binary codec such as "base64")."""
    if not label:
        return None
    name = label.strip().strip("\"'").strip().lower()
    name = _WHATWG.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_A_CHARSET:
        return None
    return info.name


_META_CHARSET = re.compile(rb"""<meta\b[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9_.:()+-]{1,40})""", re.I)


def decode_bytes(data: bytes, charset: str | None, *, html: bool = False) -> str:
    """Bytes in a declared charset; undeclared or unknown: UTF-8, else (HTML) the charset its own
    <meta> names, as a browser reads it, else cp1252 (never fails)."""
    codec = codec_for(charset)
    if codec is None and html and not _is_utf8(data):
        found = _META_CHARSET.search(data, 0, 4096)
        codec = codec_for(found.group(1).decode("ascii")) if found else None
    if codec is not None and codec != "ascii":
        try:
            return data.decode(codec, "replace")
        except (UnicodeError, LookupError):  # a codec that fails even with "replace"
            pass
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
    return decode_bytes(payload, charset, html=part.get_content_subtype() == "html").replace("\r\n", "\n")


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
    return {"filename": no_surrogates(clean_raw(filename)), "content_type": ctype, "size": _part_size(part)}


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
