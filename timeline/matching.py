"""Cross-source matches: what says two records are the same thing.

Strong keys identify a thing on their own (an iCalendar UID, a Message-ID, a content hash, a bank's
transaction id) and join records from any source. Weak keys (a photo's capture time and size, a
play's track and end time) only join records of different integrations and never override a
strong key that disagrees: two photos of one burst share a second and a size, but not a source,
nor a file name (a photo's name is in its key, and two names that differ refuse a match).
"""

from __future__ import annotations

import datetime
import posixpath
import re
from dataclasses import dataclass

from connectors.kinds import Typed, parse_time

MAX_KEY = 300
PLAY_BUCKET = 30  # seconds: a play's end time as the API and the export give it differs by under that


@dataclass(frozen=True)
class Key:
    value: str
    strong: bool


def _utc(value) -> str:
    parsed = parse_time(value)
    return parsed.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S") if parsed else str(value or "")


def keys_for(typed: Typed) -> list[Key]:
    f, kind = typed.fields, typed.kind
    keys: list[Key] = []
    if kind == "event" and f.get("uid") and not f["uid"].startswith("nouid-"):
        instance = _utc(f["recurrence_id"]) if f.get("recurrence_id") else ""
        keys.append(Key(f"event:uid:{f['uid']}|{instance}", True))
    elif kind == "message" and f.get("message_id"):
        keys.append(Key(f"message:id:{f['message_id'].strip().strip('<>').lower()}", True))
    elif kind == "photo":
        if f.get("sha256"):
            keys.append(Key(f"photo:sha256:{f['sha256'].lower()}", True))
        if typed.start and f.get("width") and f.get("height"):
            # The size as an unordered pair: one service reports the stored pixels, another the
            # photo as shown (turned by its EXIF orientation).
            small, large = sorted((f["width"], f["height"]))
            capture = f"photo:capture:{_utc(typed.start)}:{small}x{large}"
            stem = photo_stem(f.get("filename"))
            if stem:  # a burst shares the second and the size: the name tells its photos apart
                keys.append(Key(f"{capture}:{stem}", False))
            keys.append(Key(capture, False))
    elif kind == "play" and f.get("track_uri") and (typed.end or typed.start):
        ended = (typed.end or typed.start).timestamp()
        for shift in (0, PLAY_BUCKET / 2):
            keys.append(Key(f"play:{f['track_uri']}:{int((ended + shift) // PLAY_BUCKET)}:{shift > 0}", False))
    elif kind == "transaction" and f.get("transaction_id") and f.get("account_id"):
        keys.append(Key(f"transaction:{f['account_id']}:{f['transaction_id']}", True))
    elif kind == "order" and f.get("order_id"):
        keys.append(Key(f"order:{f['order_id']}", True))
    elif kind == "place" and f.get("provider_place_id"):
        keys.append(Key(f"place:{f['provider_place_id']}", True))
    elif kind == "article" and f.get("url"):
        keys.append(Key(f"article:{f['url']}", True))
    return [Key(k.value[:MAX_KEY], k.strong) for k in keys]


COPY_NUMBER = re.compile(r"\s*\(\d{1,3}\)$")


def photo_stem(filename) -> str:
    """A photo's file name without folder, extension or the copy number an exporter adds when a
    folder already has the name ("IMG_0001 (1)", "IMG_0001(1)"), case ignored: "IMG_0001.HEIC"
    exported as "img_0001 (1).jpeg" is the same photo. (A phone's burst numbers, "IMG…~2", stay:
    those are other photos.)"""
    name = posixpath.basename(str(filename or "").replace("\\", "/")).strip()
    return COPY_NUMBER.sub("", posixpath.splitext(name)[0]).casefold() if name else ""


# (Not a photo's sha256: the weak key exists for copies whose bytes differ, e.g. re-encoded by a service.)
STRONG_FIELDS = {"event": "uid", "message": "message_id"}


def conflicts(typed: Typed, entity_fields: dict) -> bool:
    """A weak match is refused when the two disagree on the kind's strong identity."""
    if typed.kind == "photo":
        # Both named, and not alike: two photos of one second and size (a burst), not one photo.
        ours, theirs = photo_stem(typed.fields.get("filename")), photo_stem(entity_fields.get("filename"))
        return bool(ours and theirs and ours != theirs)
    name = STRONG_FIELDS.get(typed.kind)
    if not name:
        return False
    ours, theirs = typed.fields.get(name), entity_fields.get(name)
    return bool(ours and theirs and ours.lower() != theirs.lower())
