"""Search across everything in the timeline: PostgreSQL full-text search where the hub runs on
PostgreSQL (an index on the tsvector of Entity.search_text), every word as a substring elsewhere."""

from __future__ import annotations

import re

from django.db import connection

MAX_TEXT = 20_000
CONFIG = "simple"  # no stemming: names, places and mixed languages search as typed
TEXT_FIELDS = ("location", "place_name", "name", "track", "artist", "album", "payee", "memo", "text", "source_title")


def text_of(entity, sources=()) -> str:
    """What finds the entity: its title, summary, names and text fields; with its sources (an
    entity merged from several), the title and text fields each of them gave too, so the name one
    calendar gave an event finds it when another's is shown."""
    parts = [entity.title, entity.summary[:4000]]
    fields = entity.fields or {}
    parts += [str(fields[name]) for name in TEXT_FIELDS if fields.get(name)]
    for source in sources:
        parts.append(source.item.title or "")
        parts += [str(source.fields[name]) for name in TEXT_FIELDS if (source.fields or {}).get(name)]
    parts = list(dict.fromkeys(parts))  # each text once
    for name in ("from", "organizer"):
        if isinstance(fields.get(name), dict):
            parts += [fields[name].get("name", ""), fields[name].get("email", "")]
    for name in ("to", "cc", "attendees", "people"):
        for person in fields.get(name) or []:
            parts += [person.get("name", ""), person.get("email", "")]
    return " ".join(p for p in parts if p).lower()[:MAX_TEXT]


def matching(queryset, query: str):
    """The records holding every word of the query, each word as the beginning of one ("lun"
    finds "lunch") on PostgreSQL and anywhere in a word elsewhere. Words are the runs of letters
    and digits (punctuation and tsquery operators are not words: "lunch," is "lunch"); a query
    without any finds nothing."""
    from integrations.models.items import tsquery

    words = re.findall(r"\w+", query.lower())[:8]
    if not words:
        return queryset.none()
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchVector

        vector = SearchVector("search_text", config=CONFIG)
        return queryset.annotate(search=vector).filter(
            search=SearchQuery(tsquery(words), search_type="raw", config=CONFIG)
        )
    for word in words:
        queryset = queryset.filter(search_text__contains=word)
    return queryset
