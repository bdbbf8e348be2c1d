"""RSS and Atom feeds (feedparser): conditional GET, entries deduplicated by guid, then link, then
a hash of their content; XML entity tricks (billion laughs, external entities) refused up front
with defusedxml before feedparser sees the document."""

from __future__ import annotations

import calendar
import datetime
import hashlib
from urllib.parse import urlsplit

import feedparser
from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

from connectors.base import Batch, Connector, Record
from connectors.errors import ConfigError, ItemError
from connectors.fetch import conditional_get
from connectors.registry import registry

ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.1"
MAPPED = {
    "id", "guidislink", "link", "links", "title", "title_detail", "summary", "summary_detail", "content",
    "published", "published_parsed", "updated", "updated_parsed", "author", "author_detail", "authors", "tags",
    "enclosures",
}  # fmt: skip


def _refuse_xml_tricks(data: bytes):
    """feedparser is lenient by design; entity declarations are refused before it runs."""
    try:
        SafeET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise ConfigError(
            f"The feed declares XML entities ({type(exc).__name__}), which the hub refuses for safety.",
            remediation="This protects against XML bombs; ask the publisher for a standard RSS or Atom feed.",
            field="url",
        ) from None
    except SafeET.ParseError:
        pass  # malformed XML: feedparser's own recovery decides below


def entry_id(entry) -> str:
    """guid, else link, else a hash of what the entry says."""
    if entry.get("id"):
        return str(entry["id"])
    if entry.get("link"):
        return str(entry["link"])
    digest = hashlib.sha256()
    for part in (entry.get("title", ""), entry.get("summary", ""), entry.get("published", "")):
        digest.update(str(part).encode("utf-8", "replace") + b"\0")
    return "sha256:" + digest.hexdigest()


def _when(entry) -> datetime.datetime | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if not parsed:
        return None
    return datetime.datetime.fromtimestamp(calendar.timegm(parsed), tz=datetime.UTC)


def newest_first(entries: list) -> list:
    """RSS fixes no order (many podcast feeds list the oldest episode first): the entries by date,
    newest first, so a per-sync limit keeps the newest; entries without a date keep their place
    in the document after the dated ones, and a feed with no dates at all keeps its own order."""
    dated = [(when, index) for index, entry in enumerate(entries) if (when := _when(entry))]
    if not dated:
        return list(entries)
    order = [index for _, index in sorted(dated, key=lambda pair: (-pair[0].timestamp(), pair[1]))]
    placed = set(order)
    return [entries[i] for i in order] + [entry for i, entry in enumerate(entries) if i not in placed]


@registry.register("rss")
class FeedConnector(Connector):
    # The timeline's kinds (connectors.kinds): how this connector's records are seen there.
    kind_map = {"feed_item": "article"}

    @staticmethod
    def typed_fields(item) -> dict:
        return {"url": item.source_url, "published": item.occurred_at, "channel": (item.data or {}).get("feed")}

    @property
    def url(self) -> str:
        url = self.config.get("url") or self.secrets.get("url")
        if not url:
            raise ConfigError("No feed address is set.", field="url", remediation="Enter the feed's address.")
        return url

    def _parse(self, fetched):
        data = fetched.read()
        _refuse_xml_tricks(data)
        parsed = feedparser.parse(data, response_headers={"content-location": fetched.url or self.url})
        if not parsed.entries and (parsed.bozo or not parsed.feed):
            start = data[:60].decode("utf-8", "replace").strip()
            raise ConfigError(
                f"The address did not return an RSS or Atom feed (it starts with {start!r}).",
                field="url",
                remediation="Use the feed's own address (often ending in /feed, /rss or .xml), not the web page.",
            )
        return parsed

    def test_connection(self) -> str:
        fetched = conditional_get(self.http, self.url, None, accept=ACCEPT)
        try:
            parsed = self._parse(fetched)
        finally:
            fetched.close()
        title = parsed.feed.get("title") or urlsplit(self.url).hostname
        return f"{title} ({len(parsed.entries)} entries)"

    def list_changes(self, cursor):
        fetched = conditional_get(self.http, self.url, cursor, accept=ACCEPT)
        try:
            if fetched.not_modified:
                return
            parsed = self._parse(fetched)
        finally:
            fetched.close()
        self.feed_title = parsed.feed.get("title", "")
        limit = int(self.config.get("max_items") or 50)
        entries, errors, seen = [], [], set()
        for entry in newest_first(parsed.entries)[:limit]:
            try:
                external_id = entry_id(entry)
            except Exception as exc:  # noqa: BLE001 - one odd entry must not stop the feed
                errors.append(ItemError(f"An entry could not be identified: {exc}"))
                continue
            if external_id in seen:
                continue  # the same entry twice in one document
            seen.add(external_id)
            entries.append((external_id, entry))
        # Feeds are a moving window: entries that drop out were not deleted, so no tombstones.
        yield Batch(items=entries, errors=errors, cursor=fetched.validators, total=len(entries))

    def transform(self, raw) -> Record:
        external_id, entry = raw
        content = entry.get("content") or []
        html = content[0].get("value", "") if content else ""
        unmapped = sorted(k for k in entry if k not in MAPPED and not k.endswith("_detail"))
        data = {
            "guid": entry.get("id", ""),
            "author": entry.get("author", ""),
            "tags": [t.get("term", "") for t in entry.get("tags", []) if t.get("term")],
            "content_html": html,
            "enclosures": [
                {"url": e.get("href", ""), "type": e.get("type", ""), "length": e.get("length", "")}
                for e in entry.get("enclosures", [])
            ],
            "feed": getattr(self, "feed_title", ""),
        }
        extra = {k: str(entry[k])[:1000] for k in unmapped}
        if extra:
            data["extra"] = extra
        link = entry.get("link", "")
        return Record(
            external_id=external_id,
            kind="feed_item",
            title=entry.get("title", "") or "(untitled)",
            summary=entry.get("summary", ""),  # may hold HTML: sanitized when rendered
            occurred_at=_when(entry),
            data=data,
            source_url=link if link.startswith(("http://", "https://")) else "",
            unmapped=unmapped,
        )
