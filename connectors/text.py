"""HTML the hub did not write, handled one way everywhere.

html_to_text: mail bodies without a text part, CalDAV descriptions written as HTML, workflow
templates rendered as HTML. Standard library only (the HTML parser keeps going through broken
markup); blocks become line breaks, scripts, styles and the head are dropped, character
references decoded, runs of spaces and blank lines collapsed.

clean_html: the one nh3 policy, for synced content shown in the hub's pages and for the HTML of
the cards workflows deliver: a fixed set of tags and attributes, no scripts or styles (nor their
text), links only to absolute http(s) or mailto addresses, images only from http(s), every link
rel="noopener noreferrer nofollow", images lazy and without a referrer.
"""

from __future__ import annotations

import contextlib
import re
from html.parser import HTMLParser

import nh3

_SPACES = re.compile(r"[ \t\r\f\v]{2,}|[\t\r\f\v]")  # runs to collapse (single spaces stay)
_BLANK_LINES = re.compile(r"\n\s*\n+")
_BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "blockquote", "hr"}
_HIDDEN = {"script", "style", "head", "title", "template", "noscript"}


class _TextExtractor(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """The text of an HTML fragment or document, its blocks on lines of their own."""
    extractor = _TextExtractor()
    with contextlib.suppress(Exception):  # broken HTML: keep what was read
        extractor.feed(html)
        extractor.close()
    text = "".join(extractor.parts).replace("\xa0", " ")
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del", "div", "dl", "dt", "em",
    "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark",
    "ol", "p", "pre", "q", "s", "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th",
    "thead", "time", "tr", "u", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "time": {"datetime"},
}
LINK_REL = "noopener noreferrer nofollow"
CLEAN_CONTENT_TAGS = {"script", "style", "template", "iframe", "object", "embed", "noscript", "svg", "math"}


def _attribute_filter(tag: str, attribute: str, value: str):
    """Links must be absolute http(s) or mailto; images only http(s). Everything else is dropped
    (javascript:, data:, relative paths that would point into the hub itself)."""
    if attribute == "href":
        lowered = value.strip().lower()
        return value if lowered.startswith(("http://", "https://", "mailto:")) else None
    if attribute == "src":
        lowered = value.strip().lower()
        return value if tag == "img" and lowered.startswith(("http://", "https://")) else None
    return value


def clean_html(html: str) -> str:
    """HTML safe to show or send: what the policy above allows, nothing else."""
    return nh3.clean(
        html or "",
        tags=ALLOWED_TAGS,
        clean_content_tags=CLEAN_CONTENT_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=_attribute_filter,
        link_rel=LINK_REL,
        url_schemes={"http", "https", "mailto"},
        set_tag_attribute_values={"img": {"loading": "lazy", "referrerpolicy": "no-referrer"}},
    )
