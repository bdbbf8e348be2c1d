"""Reading the awkward-mail corpus (tests/data/mail/) without a server: every message the email
package can read gives the same headers through the connector's fast path, and the ones it reads
badly (raw 8-bit headers, unknown charsets) come out readable."""

from __future__ import annotations

import datetime
import email
import email.policy
from pathlib import Path

import pytest

from connectors.imap_mail.parse import Unreadable, parse
from connectors.imap_mail.structure import attachments_from_structure

CORPUS = Path(__file__).resolve().parent.parent / "data" / "mail"
READABLE = sorted(p.name for p in CORPUS.glob("*.eml") if p.name != "14-garbage.eml")
# The email package's own reading of these is what the connector improves on (see below).
EIGHT_BIT = {"05-raw-8bit-headers.eml", "06-latin1-raw-subject.eml"}


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
