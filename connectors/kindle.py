"""Kindle highlights, notes and bookmarks from the `My Clippings.txt` file of a Kindle (in its
documents folder when plugged in by USB).

Each clipping is a title line "Book Title (Author)", a metadata line, a blank line, the text, and
a line of ten "=". The metadata line is in the Kindle's language:
  - Your Highlight on page 12 | Location 180-185 | Added on Sunday, March 1, 2020 10:00:00 AM
  - Ihre Markierung auf Seite 12 | Position 180-185 | Hinzugefügt am Sonntag, 1. März 2020 10:00:00
  - 12ページ|位置No. 180-185のハイライト |作成日: 2020年3月1日日曜日 10:00:00
Recognised: English, German, French, Spanish, Portuguese, Italian, Dutch, Japanese, Chinese (and the
older "Loc." form). The Kindle appends to the file and never rewrites it: extending a highlight adds a second
clipping (same book, overlapping location, a text containing the first). That clipping updates the
first record instead of adding one. Clippings have no ids: they are keyed by a hash of book, type,
location and text.
"""

from __future__ import annotations

import datetime
import re
import unicodedata

from connectors import archives
from connectors.base import Record
from connectors.errors import ItemError
from connectors.registry import registry

SEPARATOR = "=========="
TYPES = [  # checked in this order: "marcador" (es bookmark) must not read as a highlight
    ("bookmark", ["bookmark", "lesezeichen", "signet", "marcador", "segnalibro", "bladwijzer", "ブックマーク", "书签"]),
    (
        "highlight",
        [
            "highlight",
            "markierung",
            "surlignement",
            "subrayado",
            "destaque",
            "evidenziazione",
            "markering",
            "ハイライト",
            "标注",
        ],
    ),
    ("note", ["note", "notiz", "nota", "notitie", "メモ", "笔记"]),
]
LOCATION = re.compile(
    r"(?:location|loc\.|position|emplacement|posici[oó]n|posi[cç][aã]o|posizione|locatie|位置no\.|位置)\s*#?\s*(\d+)"
    r"(?:\s*-\s*(\d+))?",
    re.I,
)
PAGE = re.compile(r"(?:page|seite|p[aá]gina|pagina)\s*([0-9ivxlcdm]+)(?:\s*-\s*[0-9ivxlcdm]+)?|(\d+)\s*ページ", re.I)
ADDED = re.compile(r"added on|hinzugefügt am|ajouté le|añadido el|adicionado|aggiunto|toegevoegd|作成日|添加于", re.I)
MONTHS = {
    name: number
    for names in (
        "january february march april may june july august september october november december",
        "januar februar märz april mai juni juli august september oktober november dezember",
        "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
        "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre",
        "janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro dezembro",
        "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre",
        "januari februari maart april mei juni juli augustus september oktober november december",
    )
    for number, name in enumerate(names.split(), start=1)
}
MONTHS["jänner"] = 1  # Austrian German
TIME = re.compile(r"(午前|午後|上午|下午)?\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(am|pm)?", re.I)


def _plain(text: str) -> str:
    return " ".join(text.split())


def parse_added(text: str) -> datetime.datetime | None:
    """The date of "Added on Sunday, March 1, 2020 10:00:00 AM" in any of the languages; None
    when it cannot be read. Kindles write local time without a zone: taken as UTC."""
    clock = TIME.search(text)
    hour = minute = second = 0
    if clock:
        hour, minute, second = int(clock.group(2)), int(clock.group(3)), int(clock.group(4) or 0)
        meridiem = (clock.group(1) or clock.group(5) or "").lower()
        if meridiem in ("pm", "午後", "下午") and hour < 12:
            hour += 12
        elif meridiem in ("am", "午前", "上午") and hour == 12:
            hour = 0
        text = text[: clock.start()] + text[clock.end() :]
    japanese = re.search(r"(\d{4})年(\d{1,2})月(\d{1,2})日", text)
    try:
        if japanese:
            year, month, day = (int(g) for g in japanese.groups())
        else:
            words = re.findall(r"[^\W\d_]+", text.lower())
            month = next((MONTHS[w] for w in words if w in MONTHS), None)
            year_match = re.search(r"\b(\d{4})\b", text)
            day_match = re.search(r"\b(\d{1,2})\b", text)
            if month is None or year_match is None or day_match is None:
                return None
            year, day = int(year_match.group(1)), int(day_match.group(1))
        return datetime.datetime(year, month, day, hour, minute, second, tzinfo=datetime.UTC)
    except ValueError:
        return None


def parse_metadata(line: str) -> dict:
    """{note_type, location_start, location_end, page, added, added_text} of a metadata line;
    ValueError when the line names no clipping type."""
    lowered = unicodedata.normalize("NFC", line).lower()
    segments = [s.strip() for s in lowered.lstrip("- ").split("|")]
    head = " ".join(segments[:2])
    note_type = next((kind for kind, words in TYPES if any(word in head for word in words)), None)
    if note_type is None:
        raise ValueError(f"the line {line.strip()[:80]!r} names no highlight, note or bookmark")
    location, page = LOCATION.search(lowered), PAGE.search(lowered)
    added_text = next((s for s in segments if ADDED.search(s)), segments[-1] if len(segments) > 1 else "")
    original = line.strip().lstrip("- ").split("|")
    added_original = next((s.strip() for s in original if ADDED.search(s)), "")
    start = int(location.group(1)) if location else None
    end = int(location.group(2)) if location and location.group(2) else start
    if start is not None and end < start:  # old Kindles shorten "1234-1238" to "1234-38"
        end = int(str(start)[: -len(str(end))] + str(end)) if len(str(end)) < len(str(start)) else start
    return {
        "note_type": note_type,
        "location_start": start,
        "location_end": end,
        "page": (page.group(1) or page.group(2)) if page else None,
        "added": parse_added(added_text) if added_text else None,
        "added_text": added_original or added_text,
    }


def split_title(line: str) -> tuple[str, str]:
    line = line.replace("\ufeff", "").strip()
    match = re.match(r"^(?P<title>.*?)\s*\((?P<author>[^()]*)\)\s*$", line)
    if match and match.group("title"):
        return match.group("title"), match.group("author").strip()
    return line, ""


class _Highlights:
    """One book's highlights so far, by location, for finding the one a new clipping extends.

    Only neighbours are looked at: highlights starting in the location buckets the new one spans,
    or up to MAX_SPAN before it, at most LOOK_AT of them (the nearest buckets first, the latest
    highlights first within one). A real book's
    highlights are a few locations long and seldom share one, so this finds every extension a
    Kindle writes; a forged file of 100,000 highlights at one location no longer makes each
    clipping compare itself with all the earlier ones (quadratic: hours of a worker).
    """

    BUCKET = 64  # locations
    MAX_SPAN = 5000  # a longer "highlight" is not a Kindle's; it extends and is extended by nothing
    LOOK_AT = 500

    def __init__(self):
        self.buckets: dict[int, list[dict]] = {}

    def extended_by(self, start: int, end: int, text: str) -> str | None:
        if not 0 <= end - start <= self.MAX_SPAN:
            return None
        looked = 0
        for bucket in range(end // self.BUCKET, (start - self.MAX_SPAN) // self.BUCKET - 1, -1):
            for known in reversed(self.buckets.get(bucket, ())):
                looked += 1
                if looked > self.LOOK_AT:
                    return None
                overlaps = known["start"] <= end and start <= known["end"]
                if overlaps and known["text"] and known["text"] in text:
                    self._move(known, min(start, known["start"]))
                    known.update(end=max(end, known["end"]), text=text)
                    return known["id"]
        return None

    def add(self, external_id: str, start: int, end: int, text: str) -> None:
        if 0 <= end - start <= self.MAX_SPAN:
            known = {"id": external_id, "start": start, "end": end, "text": text}
            self.buckets.setdefault(start // self.BUCKET, []).append(known)

    def _move(self, known: dict, start: int) -> None:
        if start // self.BUCKET != known["start"] // self.BUCKET:
            self.buckets[known["start"] // self.BUCKET].remove(known)
            self.buckets.setdefault(start // self.BUCKET, []).append(known)
        known["start"] = start


def clippings(stream, label: str):
    """(entry index, first line number, title line, metadata line, text) of each clipping."""
    index, lines, first = 0, [], 1
    for number, line in enumerate(archives.text_stream(stream, label=label), start=1):
        line = line.rstrip("\r\n")
        if line.strip() == SEPARATOR:
            if any(part.strip() for part in lines):
                yield index, first, lines
                index += 1
            lines, first = [], number + 1
            continue
        lines.append(line)
    if any(part.strip() for part in lines):
        yield index, first, lines


@registry.register("kindle_highlights")
class KindleHighlights(archives.ArchiveConnector):
    EXPORT = "kindle"

    @classmethod
    def wanted(cls, member: archives.Member) -> bool:
        if not member.size:
            return False
        return archives.identify_member(member, member.head()) == "kindle"

    def parse(self, member: archives.Member, stream):
        # Two passes: the first finds which clipping is the last version of each highlight, so an
        # extended highlight is stored once with its final text (not the short one, then the long).
        # A file damaged part-way ends the first pass where it ends the second: the clippings
        # before the damage are imported, the damage is named when the second pass reaches it.
        last = {}
        with archives.reading_ahead(member) as first:
            for index, raw in self._read(member, first):
                if isinstance(raw, dict):
                    last[raw["id"]] = index
        for index, raw in self._read(member, stream):
            if isinstance(raw, dict):
                wanted = self.config.get("include_notes", True) if raw["note_type"] == "note" else True
                if raw["note_type"] == "bookmark":
                    wanted = self.config.get("include_bookmarks", False)
                if last.get(raw["id"]) != index or not wanted:
                    raw = None
            yield index, raw

    def _read(self, member: archives.Member, stream):
        earlier: dict[str, _Highlights] = {}  # book -> its highlights so far, for extended ones
        undated = False
        for index, line, lines in clippings(stream, member.label):
            while lines and not lines[0].replace("\ufeff", "").strip():
                lines = lines[1:]
            try:
                if len(lines) < 2:
                    raise ValueError("the clipping has no metadata line")
                meta = parse_metadata(lines[1])
            except ValueError as exc:
                where = f"{member.label} line {line}"
                yield index, ItemError(f"{where}: clipping skipped, {exc}.", external_id=f"{member.label}#{line}")
                continue
            title, author = split_title(lines[0])
            text = "\n".join(lines[2:]).strip()
            if meta["added"] is None and not undated:
                undated = True
                yield (
                    index,
                    archives.Notice(
                        f"{member.label} line {line + 1}: the date {meta['added_text'][:60]!r} is in a format the hub "
                        "does not know; clippings with such dates were imported without their date."
                    ),
                )
            raw = {
                **meta,
                "added": meta["added"].isoformat() if meta["added"] else None,
                "text": text,
                "source_title": title,
                "author": author,
                "line": line,
            }
            raw["id"] = self._identify(raw, earlier.setdefault(f"{title}\n{author}", _Highlights()))
            yield index, raw

    @staticmethod
    def _identify(raw: dict, book: _Highlights) -> str:
        """The record id: a hash of the clipping, or the id of the earlier highlight it extends."""
        start, end = raw["location_start"], raw["location_end"]
        if raw["note_type"] == "highlight" and start is not None:
            extended = book.extended_by(start, end, _plain(raw["text"]))
            if extended:
                return extended
        key = raw["text"] if raw["note_type"] != "bookmark" else ""
        where = start if start is not None else raw["page"]
        external_id = archives.content_id(
            "kindle", raw["source_title"], raw["author"], raw["note_type"], where, _plain(key)
        )
        if raw["note_type"] == "highlight" and start is not None:
            book.add(external_id, start, end, _plain(raw["text"]))
        return external_id

    def transform(self, raw) -> Record:
        position = []
        if raw["page"]:
            position.append(f"page {raw['page']}")
        if raw["location_start"] is not None:
            location = raw["location_start"]
            if raw["location_end"] not in (None, location):
                location = f"{location}-{raw['location_end']}"
            position.append(f"location {location}")
        data = {
            "text": raw["text"],
            "note_type": raw["note_type"],
            "source_title": raw["source_title"],
            "author": raw["author"],
            "position": ", ".join(position),
            "location_start": raw["location_start"],
            "location_end": raw["location_end"],
            "page": raw["page"],
            "added": raw["added"],
            "added_text": raw["added_text"],
        }
        snippet = _plain(raw["text"])[:80] or f"{raw['note_type'].capitalize()} in {raw['source_title']}"
        return Record(
            external_id=raw["id"],
            kind="note",
            title=snippet,
            summary=raw["source_title"],
            occurred_at=datetime.datetime.fromisoformat(raw["added"]) if raw["added"] else None,
            data=data,
        )
