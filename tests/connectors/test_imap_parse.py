"""Reading the awkward-mail corpus (tests/data/mail/) without a server: every message the email
package can read gives the same headers through the connector's fast path, and the ones it reads
badly (raw 8-bit headers, unknown charsets) come out readable."""

from __future__ import annotations

import base64
import datetime
import email
import email.policy
import subprocess
import sys
from pathlib import Path

import pytest

from connectors.imap_mail.parse import Unreadable, parse
from connectors.imap_mail.structure import attachments_from_structure

CORPUS = Path(__file__).resolve().parent.parent / "data" / "mail"
READABLE = sorted(p.name for p in CORPUS.glob("*.eml") if p.name != "14-garbage.eml")
# The email package's own reading of these is what the connector improves on (see below): raw
# 8-bit headers, and an encoded-word in an unknown charset (U+FFFD there, UTF-8 or cp1252 here).
EIGHT_BIT = {"05-raw-8bit-headers.eml", "06-latin1-raw-subject.eml", "07-unknown-charset-word.eml"}


def _crlf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")  # as an IMAP server sends it


@pytest.mark.parametrize("name", READABLE)
@pytest.mark.parametrize("line_ending", ["lf", "crlf"])
def test_headers_match_what_the_email_package_reads(name, line_ending):
    raw = (CORPUS / name).read_bytes()
    raw = _crlf(raw) if line_ending == "crlf" else raw
    reference = email.message_from_bytes(raw, policy=email.policy.default)

    mail = parse(raw, max_body_chars=65536)

    if name not in EIGHT_BIT:
        assert mail.subject == str(reference["Subject"])
        sender = reference["From"].addresses[0]
        if sender.domain:
            assert mail.from_ == {"name": sender.display_name, "email": sender.addr_spec}
    expected_date = reference["Date"].datetime if reference["Date"] is not None else None
    if expected_date is not None and expected_date.tzinfo is None:
        expected_date = expected_date.replace(tzinfo=datetime.UTC)
    assert mail.date == expected_date
    expected_to = [a.addr_spec for a in reference["To"].addresses] if reference["To"] else []
    assert [a["email"] for a in mail.to] == expected_to
    assert mail.text or mail.html


def test_raw_eight_bit_headers_are_read_as_utf8_or_cp1252_not_replacement_characters():
    utf8 = parse((CORPUS / "05-raw-8bit-headers.eml").read_bytes(), max_body_chars=1000)
    latin1 = parse((CORPUS / "06-latin1-raw-subject.eml").read_bytes(), max_body_chars=1000)

    assert utf8.subject == "Grüße aus München"
    assert utf8.from_ == {"name": "Jürgen Groß", "email": "juergen@example.de"}
    assert utf8.text == "Viele Grüße, unlabelled UTF-8 body.\n"  # no charset given: UTF-8 tried first
    assert latin1.subject == "Información del año"
    assert latin1.text == "Señor, el año.\n"  # an unknown charset name: decoded anyway


def test_a_file_that_is_not_mail_is_unreadable():
    with pytest.raises(Unreadable, match="no headers"):
        parse((CORPUS / "14-garbage.eml").read_bytes(), max_body_chars=1000)


def test_bodies_are_capped_and_html_only_mail_gets_a_text_version():
    html = parse((CORPUS / "09-html-only.eml").read_bytes(), max_body_chars=100)

    assert len(html.html) == 100
    assert html.truncated
    assert html.text.startswith("Weekly digest")


def test_attachment_metadata_from_a_bodystructure_matches_the_parsed_message():
    # What Dovecot answers to FETCH BODYSTRUCTURE for 08-nested-mime.eml, as imapclient returns it.
    structure = (
        [
            (
                [
                    (b"text", b"plain", (b"charset", b"utf-8"), None, None, b"7bit", 33, 0, None, None, None, None),
                    (b"text", b"html", (b"charset", b"utf-8"), None, None, b"7bit", 211, 0, None, None, None, None),
                ],
                b"alternative",
                (b"boundary", b"inner-b"),
                None,
                None,
                None,
            ),
            (
                b"application",
                b"pdf",
                (b"name", b"report.pdf"),
                None,
                None,
                b"base64",
                4118,
                None,
                (b"attachment", (b"filename*", b"utf-8''R%C3%A9sum%C3%A9%20Q1.pdf")),
                None,
                None,
            ),
            (
                b"image",
                b"png",
                (b"name", b"chart.png"),
                b"<chart@example.com>",
                None,
                b"base64",
                288,
                None,
                (b"inline", (b"filename", b"chart.png")),
                None,
                None,
            ),
        ],
        b"mixed",
        (b"boundary", b"outer-b"),
        None,
        None,
        None,
    )
    parsed = parse((CORPUS / "08-nested-mime.eml").read_bytes(), max_body_chars=65536)

    from_structure = attachments_from_structure(structure)

    def described(attachments):
        return [(a["filename"], a["content_type"]) for a in attachments]

    assert described(from_structure) == [("Résumé Q1.pdf", "application/pdf"), ("chart.png", "image/png")]
    assert described(from_structure) == described(parsed.attachments[:2])
    for estimated, exact in zip(from_structure, parsed.attachments, strict=False):
        assert abs(estimated["size"] - exact["size"]) <= 2  # base64 padding is not in the structure


def _labelled(charset: str, body: bytes) -> bytes:
    return (
        b"From: a@example.com\r\nSubject: hi\r\nDate: Mon, 07 Dec 2026 10:00:00 +0000\r\n"
        + b"Content-Type: text/plain; charset="
        + charset.encode()
        + b"\r\n\r\n"
        + body
    )


@pytest.mark.parametrize(
    ("charset", "text"),
    [
        # Labels read as mail clients read them (WHATWG Encoding Standard): ISO-8859-1 mail from
        # Windows holds cp1252's quotes and euro sign, GB2312 mail holds GBK, Shift_JIS mail
        # holds Windows-31J; windows-874 and iso-8859-8-i are labels Python does not know.
        ("iso-8859-1", "\u201cQuoted\u201d \u2013 \u20ac5 caf\u00e9"),
        ('"ISO-8859-1"', "\u201cQuoted\u201d \u2013 \u20ac5 caf\u00e9"),
        ("gb2312", "\u5586\u54f2 \u4f60\u597d"),
        ("shift_jis", "\u2460 \u9ad9\u6a4b"),
        ("windows-874", "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35"),
        ("iso-8859-8-i", "\u05e9\u05dc\u05d5\u05dd"),
        ("ks_c_5601-1987", "\ud55c\uae00"),
        ("x-mac-roman", "caf\u00e9 \u2022"),
    ],
)
def test_charset_labels_are_read_as_mail_clients_read_them(charset, text):
    codec = {
        "iso-8859-1": "cp1252",
        '"ISO-8859-1"': "cp1252",
        "gb2312": "gbk",
        "shift_jis": "cp932",
        "windows-874": "cp874",
        "iso-8859-8-i": "iso8859-8",
        "ks_c_5601-1987": "cp949",
        "x-mac-roman": "mac-roman",
    }[charset]
    mail = parse(_labelled(charset, text.encode(codec) + b"\r\n"), max_body_chars=1000)

    assert mail.text == text + "\n"


@pytest.mark.parametrize("charset", ["base64", "zlib", "hex", "rot13", "idna", "punycode", "undefined", "x-unknown"])
def test_a_charset_name_that_is_no_text_charset_is_read_as_unlabelled_text(charset):
    # Python finds codecs by these names, but they are no charsets: reading the body with them
    # raised and the whole message was lost as an item error.
    utf8 = parse(_labelled(charset, "Caf\u00e9 cr\u00e8me\r\n".encode()), max_body_chars=1000)
    latin = parse(_labelled(charset, "Caf\u00e9 \u201cok\u201d\r\n".encode("cp1252")), max_body_chars=1000)
    multipart = parse(
        b'From: a@example.com\r\nContent-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\n'
        + b"Content-Type: text/plain; charset="
        + charset.encode()
        + b"\r\n\r\nCaf\xc3\xa9\r\n--B\r\n"
        + b'Content-Type: application/pdf; name="a.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--B--\r\n',
        max_body_chars=1000,
    )

    assert utf8.text == "Caf\u00e9 cr\u00e8me\n"
    assert latin.text == "Caf\u00e9 \u201cok\u201d\n"
    assert multipart.text == "Caf\u00e9"
    assert [a["filename"] for a in multipart.attachments] == ["a.pdf"]


def test_encoded_words_in_unknown_or_legacy_charsets_give_real_text_and_no_lone_surrogates():
    raw = (
        b"From: =?x-unknown?Q?J=E9r=F4me_Dupr=E9?= <jerome@example.org>\r\n"
        b"To: =?windows-874?B?"
        + base64.b64encode("\u0e2a\u0e21\u0e0a\u0e32\u0e22".encode("cp874"))
        + b"?= <somchai@example.th>, =?utf8?Q?Ren=C3=A9e?= <renee@example.org>\r\n"
        b"Cc: =?x-user-defined?B?" + base64.b64encode("M\u00fcller".encode()) + b"?= <mueller@example.de>\r\n"
        b"Subject: =?iso-8859-1?Q?=93Quoted=94_caf=E9?= =?iso-8859-8-i?B?"
        + base64.b64encode("\u05e9\u05dc\u05d5\u05dd".encode("iso8859-8"))
        + b"?=\r\nDate: Mon, 07 Dec 2026 10:00:00 +0000\r\n\r\nbody\r\n"
    )

    mail = parse(raw, max_body_chars=1000)

    assert mail.from_ == {"name": "J\u00e9r\u00f4me Dupr\u00e9", "email": "jerome@example.org"}
    assert mail.to == [
        {"name": "\u0e2a\u0e21\u0e0a\u0e32\u0e22", "email": "somchai@example.th"},
        {"name": "Ren\u00e9e", "email": "renee@example.org"},
    ]
    assert mail.cc == [{"name": "M\u00fcller", "email": "mueller@example.de"}]
    assert mail.subject == "\u201cQuoted\u201d caf\u00e9\u05e9\u05dc\u05d5\u05dd"


LONG_HEADERS = """
import sys
from connectors.imap_mail.parse import parse
to = ", ".join(f"=?utf-8?q?J=C3=A9r=C3=B4me_{i}?= <u{i}@example.com>" for i in range(20000))
subject = "=?utf-8?b?w6k=?= " * 50000
raw = ("From: a@example.com\\r\\nTo: " + to + '\\r\\nCc: "Doe, Jane" <jane@example.com>, Team: x@example.com;'
       + "\\r\\nSubject: " + subject + "\\r\\n\\r\\nbody\\r\\n").encode()
mail = parse(raw, max_body_chars=1000)
assert len(mail.to) == 20000, len(mail.to)
assert mail.to[-1] == {"name": "J\\u00e9r\\u00f4me 19999", "email": "u19999@example.com"}, mail.to[-1]
assert mail.cc == [{"name": "Doe, Jane", "email": "jane@example.com"}, {"name": "", "email": "x@example.com"}]
assert mail.subject.startswith("\\u00e9" * 400), mail.subject[:20]
print("read")
"""


def test_a_mail_with_huge_headers_is_read_in_reasonable_time_with_every_recipient():
    """The email package's header parser is quadratic in a header's length (CPython gh-136063): a
    mail to 20,000 recipients with encoded names and a 900 KB subject took minutes to read (again
    on every retry of its batch). Read in a child process with a generous deadline: it finishes in
    about a second."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", LONG_HEADERS], cwd=root, capture_output=True, text=True, timeout=90, check=False
    )

    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "read"


@pytest.mark.parametrize("multipart", [False, True])
def test_an_html_body_without_a_mime_charset_is_read_in_the_charset_its_meta_names(multipart):
    """Newsletters sent as text/html without a MIME charset often name theirs in the HTML itself;
    a browser, and a mail client, read it so. The hub read such Cyrillic or Polish text as
    cp1252 mojibake."""
    russian = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1251"></head>'
        "<body><p>Привет, мир! Новости недели.</p></body></html>"
    ).encode("cp1251")
    polish = '<meta charset="ISO-8859-2"><p>Zażółć gęślą jaźń</p>'.encode("iso8859-2")
    for body, text in [(russian, "Привет, мир! Новости недели."), (polish, "Zażółć gęślą jaźń")]:
        if multipart:
            raw = (
                b'From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="b"\r\n\r\n'
                b"--b\r\nContent-Type: text/html\r\n\r\n" + body + b"\r\n--b--\r\n"
            )
        else:
            raw = b"From: a@example.com\r\nContent-Type: text/html\r\n\r\n" + body

        mail = parse(raw, max_body_chars=10000)

        assert mail.text == text
    # A MIME charset, where given, wins over the page's own.
    labelled = '<meta charset="iso-8859-2"><p>Привет</p>'.encode("cp1251")
    raw = b"From: a@example.com\r\nContent-Type: text/html; charset=windows-1251\r\n\r\n" + labelled
    assert parse(raw, max_body_chars=10000).text == "Привет"


@pytest.mark.parametrize(
    ("written", "offset_hours"),
    [
        ("Mon, 07 Dec 2026 10:00:00 CET", 1),
        ("Mon, 07 Dec 2026 10:00:00 CEST", 2),
        ("Mon, 07 Dec 2026 10:00:00 MSK (Moscow)", 3),
        ("Mon, 07 Dec 2026 10:00:00 JST", 9),
        ("Mon, 7 Dec 2026 10:00:00 GMT+0100", 1),
        ("Mon, 7 Dec 2026 10:00:00 UTC-05:00", -5),
        ("Mon, 07 Dec 2026 10:00:00 PST", -8),  # the ones the email package knew stay as they were
        ("Mon, 07 Dec 2026 10:00:00 +0100 (CET)", 1),
        ("Mon, 07 Dec 2026 10:00:00 GMT", 0),
    ],
)
def test_a_date_with_a_zone_name_instead_of_an_offset_is_read_in_that_zone(written, offset_hours):
    """Mailers that write "CEST" or "GMT+0100" instead of "+0200" / "+0100": the email package knows
    only UT, GMT and the North American names, and read the rest as UTC, hours off."""
    from connectors.imap_mail.parse import parse_date

    expected = datetime.datetime(2026, 12, 7, 10, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=offset_hours)))
    assert parse_date(written) == expected
    assert parse_date(written).utcoffset() == datetime.timedelta(hours=offset_hours)
