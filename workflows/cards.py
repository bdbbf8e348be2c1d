"""Turning what a source step found into content cards.

Granularity: a source step makes ONE card per run by default: its title names the source, its
data holds the list of entries (`data["entries"]`), its markdown content is a readable list. With
"one card per entry" it makes a card per entry instead (title = the entry's title, content = the
entry in full). A step that finds nothing makes no card, so an output never sends an empty digest.

Entries are plain JSON-safe dicts; the same dicts are what templates see (never model instances).
"""

from __future__ import annotations

import datetime
import re
import zoneinfo
from dataclasses import dataclass, field

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from connectors.text import html_to_text

SUMMARY_CHARS = 2000
DATA_STRING_CHARS = 2000
DROPPED_DATA_KEYS = {"html", "content_html", "text", "raw"}  # bulky bodies: the summary carries the gist


@dataclass
class Entry:
    title: str
    kind: str = ""
    summary: str = ""
    url: str = ""
    when: datetime.datetime | None = None
    external_id: str = ""
    data: dict = field(default_factory=dict)

    @classmethod
    def from_synced(cls, item) -> Entry:
        return cls(
            title=item.title or item.external_id,
            kind=item.kind,
            summary=plain_text(item.summary),
            url=http_url(item.source_url) or _data_url(item.data),
            when=item.occurred_at,
            external_id=item.external_id,
            data=compact(item.data or {}),
        )

    @classmethod
    def from_record(cls, record) -> Entry:
        return cls(
            title=record.title or record.external_id,
            kind=record.kind,
            summary=plain_text(record.summary, limit=20_000),
            url=http_url(record.source_url) or _data_url(record.data),
            when=record.occurred_at,
            external_id=record.external_id,
            data=compact(record.data or {}),
        )

    def as_data(self) -> dict:
        return {
            "title": self.title,
            "kind": self.kind,
            "summary": self.summary,
            "url": self.url,
            "when": self.when.isoformat() if self.when else None,
            "external_id": self.external_id,
            "data": self.data,
        }


@dataclass
class CardDraft:
    title: str
    content: str
    data: dict
    request: dict
    tags: list[str]
    source_label: str


def drafts_for(entries: list[Entry], *, title: str, per_entry: bool, request: dict, tags, label, more: int = 0):
    if not entries:
        return []
    if per_entry:
        return [
            CardDraft(
                title=entry.title[:300],
                content=entry_markdown(entry),
                data={"entries": [entry.as_data()], "count": 1, "more": 0, "url": entry.url},
                request={**request, "external_id": entry.external_id},
                tags=list(tags),
                source_label=label,
            )
            for entry in entries
        ]
    lines = [entry_line(entry) for entry in entries]
    if more:
        lines.append(f"- … and {more} more")
    data = {"entries": [e.as_data() for e in entries], "count": len(entries), "more": more}
    return [CardDraft(title[:300], "\n".join(lines) + "\n", data, request, list(tags), label)]


# -- markdown lines, by entry kind --------------------------------------------------------------------
def entry_line(entry: Entry) -> str:
    return LINE_FORMATTERS.get(entry.kind, _link_line)(entry)


def entry_markdown(entry: Entry) -> str:
    """One entry in full, for one-card-per-entry."""
    head = entry_line(entry).removeprefix("- ")
    parts = [head]
    if entry.summary:
        parts.append(escape_md(entry.summary))
    citations = entry.data.get("citations") if isinstance(entry.data, dict) else None
    if isinstance(citations, list) and citations:
        parts.append(
            "Sources:\n" + "\n".join(f"{i}. <{md_url(c)}>" for i, c in enumerate(citations[:20], 1) if _is_url(c))
        )
    return "\n\n".join(p for p in parts if p) + "\n"


def _link_line(entry: Entry) -> str:
    title = escape_md(entry.title)
    line = f"- [{title}]({md_url(entry.url)})" if _is_url(entry.url) else f"- **{title}**"
    if entry.summary:
        line += " — " + escape_md(_shorten(entry.summary, 200))
    return line


def _event_line(entry: Entry) -> str:
    data = entry.data
    when = _event_when(entry)
    line = f"- **{when}** {escape_md(entry.title)}" if when else f"- {escape_md(entry.title)}"
    if data.get("location"):
        line += f" · {escape_md(str(data['location']))}"
    return line


def _message_line(entry: Entry) -> str:
    sender = entry.data.get("from")
    if isinstance(sender, dict):
        sender = sender.get("name") or sender.get("address") or sender.get("email") or ""
    line = f"- **{escape_md(entry.title)}**"
    if sender:
        line += f" — from {escape_md(str(sender))}"
    if entry.when:
        line += f" ({timezone.localtime(entry.when):%a %H:%M})"
    return line


LINE_FORMATTERS = {"event": _event_line, "message": _message_line}


def _day(value) -> str:
    """ "Sun 05 May", with the year when it is not this year (the owner's year, see runner)."""
    return f"{value:%a %d %b}" + (f" {value.year}" if value.year != timezone.localdate().year else "")


def _own_time(start, tzid) -> str:
    """ " (08:00 America/New_York)" when the event's own zone shows another time than the owner's."""
    from integrations.timezones import place_zone

    zone = place_zone(tzid)
    if not zone or not timezone.is_aware(start):
        return ""
    theirs = start.astimezone(zoneinfo.ZoneInfo(zone))
    return f" ({theirs:%H:%M} {zone})" if theirs.utcoffset() != start.utcoffset() else ""


def _event_when(entry: Entry) -> str:
    data = entry.data
    if data.get("all_day"):
        day = parse_date(str(data.get("start", ""))[:10])
        return f"{_day(day)}, all day" if day else "All day"
    start = entry.when or _parse(data.get("start"))
    if start is None:
        return ""
    start = timezone.localtime(start) if timezone.is_aware(start) else start
    text = f"{_day(start)} {start:%H:%M}"
    end = _parse(data.get("end"))
    if end is not None:
        end = timezone.localtime(end) if timezone.is_aware(end) else end
        text += f"\u2013{end:%H:%M}" if end.date() == start.date() else f" \u2013 {_day(end)} {end:%H:%M}"
    return text + _own_time(start, data.get("tzid"))


# -- helpers --------------------------------------------------------------------------------------------
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~])")


def escape_md(text: str) -> str:
    """Source text inside our markdown: its own markup characters stay literal."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def plain_text(value: str, limit: int = SUMMARY_CHARS) -> str:
    """Summaries may hold HTML (feeds): keep the words only."""
    if not value:
        return ""
    text = html_to_text(str(value))
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r"\n\s*\n\s*", "\n\n", text).strip()
    return _shorten(text, limit)


def compact(data: dict) -> dict:
    """An entry's data, minus bulky bodies, with long strings cut: cards stay small."""
    result = {}
    for key, value in data.items():
        if key in DROPPED_DATA_KEYS:
            continue
        result[key] = _compact_value(value)
    return result


def _compact_value(value, depth=0):
    if isinstance(value, str):
        return _shorten(value, DATA_STRING_CHARS)
    if depth > 5:
        return None
    if isinstance(value, dict):
        return {str(k): _compact_value(v, depth + 1) for k, v in list(value.items())[:100]}
    if isinstance(value, list | tuple):
        return [_compact_value(v, depth + 1) for v in value[:100]]
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    return value if isinstance(value, int | float | bool) or value is None else str(value)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


_URL_BREAKERS = re.compile(r"[\s<>\\]")


def md_url(url: str) -> str:
    """A link's address as a markdown destination: the characters that would end it or break the
    link (spaces, angle brackets, backslashes, parentheses that do not pair up) percent-encoded, as
    a browser sends them; Wikipedia's Python_(language) keeps its pair."""
    url = _URL_BREAKERS.sub(lambda m: "".join(f"%{byte:02X}" for byte in m.group().encode()), url)
    depth = 0
    for char in url:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            break
    if depth != 0:
        url = url.replace("(", "%28").replace(")", "%29")
    return url


def _is_url(value) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))


def http_url(value) -> str:
    """The value when it is an absolute http(s) address, else "": a card's link is clicked in mails,
    chats and receivers' pages, so a javascript: or data: address from a source never becomes one."""
    return value if _is_url(value) else ""


def _data_url(data) -> str:
    return http_url((data or {}).get("url") if isinstance(data, dict) else "")


def _parse(value):
    if isinstance(value, datetime.datetime):
        return value
    if not value:
        return None
    return parse_datetime(str(value))


def template_card(card) -> dict:
    """The plain-data view of a stored Card that templates receive."""
    data = card.data if isinstance(card.data, dict) else {}
    return {
        "id": card.pk,
        "title": card.title,
        "content": card.content,
        "entries": [_template_entry(e) for e in data.get("entries", []) if isinstance(e, dict)],
        "count": data.get("count", 0),
        "more": data.get("more", 0),
        "url": data.get("url", ""),
        "tags": list(card.tags or []),
        "source": card.source_label,
        "partial": card.is_partial,
        "failures": list(data.get("failures", [])),
        "created_at": card.created_at,
    }


def _template_entry(entry: dict) -> dict:
    return {**entry, "when": _parse(entry.get("when"))}
