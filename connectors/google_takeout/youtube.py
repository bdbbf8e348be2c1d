"""YouTube watch history from Google Takeout ("YouTube and YouTube Music" > history), as `article`
records: url, channel (and author, the same name), published (when you watched it), title.

Takeout writes watch-history.html by default and watch-history.json when asked; both are read,
by content (the file is "Wiedergabeverlauf.html" in German):
- JSON: [{"header": "YouTube", "title": "Watched <title>", "titleUrl": ".../watch?v=ID",
  "subtitles": [{"name": channel, "url": channel url}], "time": ISO 8601, "details": [...]}, ...],
  streamed one entry at a time (ijson).
- HTML: one <div class="outer-cell ..."> per entry: "Watched <a href=video>title</a><br><a
  href=channel>channel</a><br>Jan 5, 2021, 10:15:30 PM CET". The file (often one single line of
  hundreds of MB) is read in chunks and cut at each entry's opening tag, and each entry is parsed on
  its own, so memory stays bounded. The date is written in the account's language: English
  ("Jan 5, 2021, 10:15:30 PM CET") and German ("05.01.2021, 22:15:30 MEZ" or "5. Jan. 2021,
  22:15:30 MEZ") are read, with the usual zone abbreviations; an entry whose date cannot be read is
  imported without its time and named in a notice.
Left out: YouTube Music plays unless include_music is on, ads (details "From Google Ads"), and
searches (in a My Activity export). Entries are keyed by video id and watch time (watching a video
twice is two records); a removed video, which has no link, by a hash of its entry.
"""

from __future__ import annotations

import datetime
import itertools
import re
from urllib.parse import parse_qs, urlparse

from bs4 import BeautifulSoup

from connectors import archives
from connectors.base import Record
from connectors.errors import ItemError
from connectors.google_takeout import common
from connectors.registry import registry

ENTRY = '<div class="outer-cell'
CHUNK = 256 * 1024
MAX_ENTRY = 1024 * 1024  # an "entry" longer than this is no Takeout entry: the file is damaged
TITLE_PATTERNS = [
    re.compile(r"^Watched\s+(?P<title>.+)$", re.S),
    re.compile(r"^(?:Hat\s+)?„?(?P<title>.+?)“?\s+angesehen$", re.S),
    re.compile(r"^Angesehen:?\s+(?P<title>.+)$", re.S),
]
ZONES = {
    "UTC": 0, "GMT": 0, "Z": 0, "WET": 0, "WEZ": 0, "WEST": 60, "WESZ": 60, "BST": 60, "CET": 60, "MEZ": 60,
    "CEST": 120, "MESZ": 120, "EET": 120, "OEZ": 120, "EEST": 180, "OESZ": 180, "MSK": 180,
    "EST": -300, "EDT": -240, "CST": -360, "CDT": -300, "MST": -420, "MDT": -360, "PST": -480, "PDT": -420,
    "AKST": -540, "AKDT": -480, "HST": -600, "JST": 540, "KST": 540, "AEST": 600, "AEDT": 660,
    "NZST": 720, "NZDT": 780,
}  # fmt: skip
ENGLISH_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
GERMAN_MONTHS = ["jan", "feb", "mär", "apr", "mai", "jun", "jul", "aug", "sep", "okt", "nov", "dez"]
MONTHS = {
    **{m: n for n, m in enumerate(ENGLISH_MONTHS, 1)},
    **{m: n for n, m in enumerate(GERMAN_MONTHS, 1)},
    "mrz": 3, "sept": 9, "june": 6, "july": 7, "märz": 3, "juni": 6, "juli": 7,
}  # fmt: skip
ENGLISH = re.compile(
    r"^(?P<mon>[A-Za-z]{3,9})\.?\s+(?P<day>\d{1,2}),\s*(?P<year>\d{4}),?\s+(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?"
    r"\s*(?P<ampm>[AP]M)?\s*(?P<zone>.*)$",
    re.I,
)
GERMAN = re.compile(
    r"^(?P<day>\d{1,2})\.\s*(?:(?P<num>\d{1,2})\.|(?P<mon>[A-Za-zä]{3,9})\.?)\s*(?P<year>\d{4}),?\s+"
    r"(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?\s*(?:Uhr)?\s*(?P<zone>.*)$",
    re.I,
)
OFFSET = re.compile(r"^(?:GMT|UTC)?\s*(?P<sign>[+\-\u2212])(?P<h>\d{1,2})(?::?(?P<m>\d{2}))?$")


class UnknownZone(ValueError):
    pass


def _zone(text: str) -> datetime.timezone:
    text = text.strip()
    if not text:
        return datetime.UTC
    if text.upper() in ZONES:
        return datetime.timezone(datetime.timedelta(minutes=ZONES[text.upper()]))
    match = OFFSET.match(text)
    if match:
        minutes = int(match.group("h")) * 60 + int(match.group("m") or 0)
        return datetime.timezone(datetime.timedelta(minutes=-minutes if match.group("sign") in "-\u2212" else minutes))
    raise UnknownZone(text)


def parse_html_date(text: str) -> datetime.datetime | None:
    """The watch time of an HTML entry in English or German; None when the format is unknown. An
    unknown zone abbreviation raises UnknownZone (the caller reads the time as UTC and says so)."""
    text = " ".join(text.replace("\u202f", " ").replace("\xa0", " ").split())
    for pattern in (ENGLISH, GERMAN):
        match = pattern.match(text)
        if not match:
            continue
        parts = match.groupdict()
        month = int(parts["num"]) if parts.get("num") else MONTHS.get((parts.get("mon") or "").lower().rstrip("."))
        if not month:
            continue
        hour = int(parts["h"])
        ampm = (parts.get("ampm") or "").upper()
        if ampm == "PM" and hour < 12:
            hour += 12
        elif ampm == "AM" and hour == 12:
            hour = 0
        try:
            naive = datetime.datetime(int(parts["year"]), month, int(parts["day"]), hour, int(parts["m"]),
                                      int(parts["s"] or 0))  # fmt: skip
        except ValueError:
            return None
        return naive.replace(tzinfo=_zone(parts["zone"]))
    return None


def video_id(url: str) -> str:
    parsed = urlparse(url or "")
    if parsed.hostname == "youtu.be":
        return parsed.path.strip("/")
    return (parse_qs(parsed.query).get("v") or [""])[0]


def clean_title(title: str) -> str:
    for pattern in TITLE_PATTERNS:
        match = pattern.match(title.strip())
        if match:
            return match.group("title").strip()
    return title.strip()


EMPTY_NAMES = {"watch-history.json", "watch-history.html", "wiedergabeverlauf.json", "wiedergabeverlauf.html"}


def is_watch_history(member: archives.Member) -> bool:
    base = member.basename.lower()
    if common.empty_export_file(member, EMPTY_NAMES):
        return True
    if not common.data_file(member, (".json", ".html", ".htm")):
        return False
    text = common.head_text(member, 256 * 1024 if base.endswith((".html", ".htm")) else 64 * 1024)
    if base.endswith(".json"):
        return text.startswith("[") and '"header"' in text and "youtube.com/watch" in text
    return ENTRY in text and "youtube.com/watch" in text


def html_entries(stream):
    """The text of each entry of a Takeout activity HTML file, read in chunks."""
    text = archives.text_stream(stream)
    buffer = ""
    while True:
        chunk = text.read(CHUNK)
        buffer += chunk
        starts = [m.start() for m in re.finditer(re.escape(ENTRY), buffer)]
        if not chunk:
            starts.append(len(buffer))
        for begin, end in itertools.pairwise(starts):
            yield buffer[begin:end]
        if starts:
            buffer = buffer[starts[-1] :] if chunk else ""
        if len(buffer) > MAX_ENTRY:
            buffer = buffer[-len(ENTRY) :]  # no Takeout entry is this long: keep only what may begin one
        if not chunk:
            return


def html_entry(entry: str) -> dict:
    """{header, title, url, channel, channel_url, when (text), details} of one HTML entry."""
    soup = BeautifulSoup(entry, "html.parser")
    header = soup.find(class_="mdl-typography--title")
    content = soup.find(class_="content-cell")
    caption = soup.find(class_="mdl-typography--caption")
    links = content.find_all("a") if content else []
    texts = [s.strip() for s in (content.find_all(string=True, recursive=False) if content else []) if s.strip()]
    watch = next((a for a in links if "/watch" in (a.get("href") or "")), None)
    channel = next((a for a in links if a is not watch), None)
    return {
        "header": header.get_text(" ", strip=True) if header else "",
        "title": watch.get_text(" ", strip=True) if watch else clean_title(" ".join(texts[:-1])),
        "url": watch.get("href", "") if watch else "",
        "channel": channel.get_text(" ", strip=True) if channel else "",
        "channel_url": channel.get("href", "") if channel else "",
        "when": texts[-1] if texts else "",
        "details": caption.get_text(" ", strip=True) if caption else "",
        "searched": any("search_query" in (a.get("href") or "") for a in links),
    }


@registry.register("youtube_history")
class YouTubeHistory(common.TakeoutArchive):
    EXPORT = "youtube-history"

    @classmethod
    def wanted(cls, member: archives.Member) -> bool:
        return is_watch_history(member)

    def parse(self, member: archives.Member, stream):
        if member.basename.lower().endswith(".json"):
            yield from self._json(member, stream)
        else:
            yield from self._html(member, stream)

    def _keep(self, header: str, details: str, url: str, searched: bool) -> bool:
        if searched or (url and "/watch" not in url):
            return False
        if "google ads" in details.lower():
            return False
        return "music" not in header.lower() or bool(self.config.get("include_music"))

    def _json(self, member, stream):
        label, record = member.label, 0
        try:
            for _, entry in common.objects(stream, {"item"}):
                record += 1
                if not isinstance(entry, dict):
                    continue
                try:
                    yield record - 1, self._json_entry(entry, label, record)
                except (AttributeError, TypeError, ValueError, KeyError, IndexError):
                    # A field of another type than Google writes: a hand-edited or forged entry.
                    message = f"{label} record {record}: skipped, its fields are not shaped as Google writes them."
                    yield record - 1, ItemError(message, external_id=f"{label}#{record}")
        except common.JSON_ERRORS as exc:
            yield record, common.malformed(member, record, exc)

    def _json_entry(self, entry: dict, label: str, record: int) -> dict | ItemError | None:
        subtitles = entry.get("subtitles") or [{}]
        details = " ".join(str(d.get("name", "")) for d in entry.get("details") or [] if isinstance(d, dict))
        url = entry.get("titleUrl") or ""
        if not self._keep(entry.get("header") or "", details, url, "search_query" in url):
            return None
        watched = common.parse_time(entry.get("time"))
        if watched is None:
            when = str(entry.get("time"))[:40]
            message = f"{label} record {record}: skipped, the time {when!r} is not a date the hub can read."
            return ItemError(message, external_id=f"{label}#{record}")
        title = clean_title(entry.get("title") or "")
        return self._raw(title, url, subtitles[0], watched, entry)

    def _html(self, member, stream):
        label, unknown = member.label, False
        for index, text in enumerate(html_entries(stream)):
            entry = html_entry(text)
            if not self._keep(entry["header"], entry["details"], entry["url"], entry["searched"]):
                yield index, None
                continue
            try:
                watched = parse_html_date(entry["when"])
            except UnknownZone as exc:
                zone = str(exc)
                watched = parse_html_date(entry["when"].replace(zone, "").strip())
                yield (
                    index,
                    archives.Notice(
                        f"{label}: the time zone {zone[:20]!r} is not one the hub knows; those times were read as UTC."
                    ),
                )
            if watched is None and not unknown:
                unknown = True
                yield (
                    index,
                    archives.Notice(
                        f"{label} entry {index + 1}: the date {entry['when'][:60]!r} is in a format the hub does not "
                        "know; videos with such dates were imported without their time."
                    ),
                )
            subtitle = {"name": entry["channel"], "url": entry["channel_url"]}
            raw = self._raw(entry["title"], entry["url"], subtitle, watched, {"header": entry["header"]})
            if watched is None:
                raw["watched_text"] = entry["when"]
                raw["id"] = archives.content_id("youtube-watch", entry["url"], entry["title"], entry["when"])
            yield index, raw

    @staticmethod
    def _raw(title: str, url: str, subtitle: dict, watched, entry: dict) -> dict:
        vid = video_id(url)
        key = f"{vid}|{common.id_time(watched)}" if vid and watched else f"{url}|{title}|{common.iso(watched)}"
        return {
            "id": archives.content_id("youtube-watch", key),
            "title": title,
            "url": url,
            "video_id": vid,
            "channel": subtitle.get("name") or "",
            "channel_url": subtitle.get("url") or "",
            "author": subtitle.get("name") or "",
            "published": common.iso(watched),
            "header": entry.get("header") or "",
            "music": "music" in (entry.get("header") or "").lower(),
            **{k: entry[k] for k in ("products", "activityControls", "description", "details") if entry.get(k)},
        }

    def transform(self, raw) -> Record:
        data = {k: v for k, v in raw.items() if k != "id"}
        return Record(
            external_id=raw["id"],
            kind="article",
            title=(raw["title"] or "A removed video")[:300],
            summary=raw["channel"],
            occurred_at=common.parse_time(raw["published"]) if raw["published"] else None,
            data=data,
            source_url=raw["url"],
        )
