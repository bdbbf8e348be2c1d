"""Search across everything in the timeline: PostgreSQL full-text search where the hub runs on
PostgreSQL (an index on the tsvector of Entity.search_text), every word as a substring elsewhere."""

from __future__ import annotations

from django.db import connection

MAX_TEXT = 20_000
CONFIG = "simple"  # no stemming: names, places and mixed languages search as typed
TEXT_FIELDS = ("location", "place_name", "name", "track", "artist", "album", "payee", "memo", "text", "source_title")


def text_of(entity) -> str:
    parts = [entity.title, entity.summary[:4000]]
    fields = entity.fields or {}
    parts += [str(fields[name]) for name in TEXT_FIELDS if fields.get(name)]
    for name in ("from", "organizer"):
        if isinstance(fields.get(name), dict):
            parts += [fields[name].get("name", ""), fields[name].get("email", "")]
    for name in ("to", "cc", "attendees", "people"):
        for person in fields.get(name) or []:
            parts += [person.get("name", ""), person.get("email", "")]
    return " ".join(p for p in parts if p).lower()[:MAX_TEXT]


def matching(queryset, query: str):
    words = query.lower().split()[:8]
    if not words:
        return queryset
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchVector

        vector = SearchVector("search_text", config=CONFIG)
        return queryset.annotate(search=vector).filter(search=SearchQuery(" ".join(words), config=CONFIG))
    for word in words:
        queryset = queryset.filter(search_text__contains=word)
    return queryset
