"""The quick multipart reader (well-formed text/plain + text/html alternatives, read without the
feedparser) gives exactly what the generic path gives, for the awkward-mail corpus and for
variants on either side of what it accepts; it accepts the common shapes and leaves the rest."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest

from connectors.imap_mail import parse as parse_module
from connectors.imap_mail.parse import ParsedMail, _quick_split, _read_simple_multipart, parse

CORPUS = Path(__file__).resolve().parent.parent / "data" / "mail"
CORPUS_NAMES = sorted(p.name for p in CORPUS.glob("*.eml") if p.name != "14-garbage.eml")

HEAD = "From: Sam <sam@example.com>\r\nTo: a@example.com\r\nSubject: Numbers\r\nMIME-Version: 1.0\r\n"


def multipart(parts: list[str], *, ctype='multipart/alternative; boundary="alt"', close="--alt--", extra=""):
    body = "".join(f"--alt\r\n{part}\r\n" for part in parts) + close + "\r\n"
    return f"{HEAD}{extra}Content-Type: {ctype}\r\n\r\n{body}".encode("utf-8", "surrogateescape")


PLAIN = "Content-Type: text/plain; charset=utf-8\r\n\r\nHello,\r\n\r\nthe numbers.\r\n"
HTML = "Content-Type: text/html; charset=utf-8\r\n\r\n<p>Hello, <b>the numbers</b>.</p>"
ACCEPTED = {
    "alternative": multipart([PLAIN, HTML]),
    "html first": multipart([HTML, PLAIN]),
    "plain only": multipart([PLAIN]),
    "two plains": multipart([PLAIN, PLAIN.replace("Hello", "Second")]),
    "preamble and epilogue": multipart([PLAIN, HTML]).replace(b"\r\n\r\n--alt", b"\r\n\r\nThis is MIME.\r\n--alt", 1)
    + b"epilogue\r\n",
    "quoted-printable": multipart(
        [
            "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
            "Gr=FC=DFe, caf=E9 =\r\nsoft break",
            HTML,
        ]
    ),
    "base64": multipart(
        [
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\nSGVsbG8sIGTDvGRlIQ==",
            HTML,
        ]
    ),
    "no charset": multipart(["Content-Type: text/plain\r\n\r\nplain ascii", HTML]),
    "unknown charset": multipart(["Content-Type: text/plain; charset=x-nonsense\r\n\r\ncaf\xc3\xa9", HTML]),
    "unquoted boundary, mixed": multipart([PLAIN], ctype="multipart/mixed; boundary=alt"),
    "whitespace after the close": multipart([PLAIN, HTML], close="--alt--  "),
    "folded content type": multipart([PLAIN, HTML], ctype='multipart/alternative;\r\n boundary="alt"'),
    "empty text": multipart(["Content-Type: text/plain\r\n\r\n", HTML]),
}
REFUSED = {
    "attachment": multipart(
        [PLAIN, 'Content-Type: application/pdf; name="a.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0x']
    ),
    "disposition": multipart(["Content-Disposition: attachment; filename=a.txt\r\nContent-Type: text/plain\r\n\r\nx"]),
    "named text": multipart(['Content-Type: text/plain; name="notes.txt"\r\n\r\nx']),
    "nested": multipart(
        ['Content-Type: multipart/alternative; boundary="in"\r\n\r\n--in\r\n' + PLAIN + "\r\n--in--", HTML],
        ctype='multipart/mixed; boundary="alt"',
    ),
    "no close boundary": multipart([PLAIN, HTML], close=""),
    "no boundary at all": multipart([PLAIN], ctype='multipart/alternative; boundary="other"'),
    "bare LF inside": multipart([PLAIN.replace("the numbers.", "the\nnumbers."), HTML]),
    "part without headers": multipart(["\r\njust text", HTML]),
    "part without content type": multipart(["X-Note: 1\r\n\r\njust text", HTML]),
    "encoded whole": multipart([PLAIN], extra="Content-Transfer-Encoding: base64\r\n"),
    "rfc 2231 boundary": multipart([PLAIN], ctype="multipart/alternative; boundary*=''alt"),
    "digest": multipart([PLAIN], ctype='multipart/digest; boundary="alt"'),
    "uuencoded part": multipart(["Content-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin"]),
}


def generic(raw: bytes, monkeypatch, max_body_chars: int = 65536) -> dict:
    """What the generic path (the feedparser) reads: the reference."""
    with monkeypatch.context() as patch:
        patch.setattr(parse_module, "_read_simple_multipart", lambda *args: False)
        return asdict(parse(raw, max_body_chars=max_body_chars))


def accepted(raw: bytes) -> bool:
    headers, body = _quick_split(raw)
    return _read_simple_multipart(headers, body, ParsedMail())


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_common_shapes_are_read_quickly_and_the_same(name, monkeypatch):
    raw = ACCEPTED[name]
    assert accepted(raw)
    assert asdict(parse(raw, max_body_chars=65536)) == generic(raw, monkeypatch)
    assert asdict(parse(raw, max_body_chars=10)) == generic(raw, monkeypatch, max_body_chars=10)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_other_shapes_are_left_to_the_generic_path(name, monkeypatch):
    raw = REFUSED[name]
    assert not accepted(raw)
    assert asdict(parse(raw, max_body_chars=65536)) == generic(raw, monkeypatch)


@pytest.mark.parametrize("name", CORPUS_NAMES)
@pytest.mark.parametrize("line_ending", ["lf", "crlf"])
def test_the_awkward_corpus_reads_the_same(name, line_ending, monkeypatch):
    raw = (CORPUS / name).read_bytes()
    if line_ending == "crlf":
        raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    assert asdict(parse(raw, max_body_chars=65536)) == generic(raw, monkeypatch)


def test_summary_skips_substitutions_only_where_they_cannot_match():
    import random

    from connectors.imap_mail.parse import _MANY_NEWLINES, _SPACES, summary_of

    def plain(text, limit):
        text = _MANY_NEWLINES.sub("\n\n", _SPACES.sub(" ", text[: limit * 2]).strip())
        return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"

    pieces = ["a", "bc", " ", "  ", "\n", "\n\n\n", "\t", "\r", "\f", "\v", "é", "\u00a0", "x" * 30]
    rng = random.Random(13)
    for _ in range(5000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 120)))
        for limit in (500, 20):
            assert summary_of(text, limit) == plain(text, limit), repr(text)
