"""One listen, whatever told us about it: the identity and merge rule of Spotify plays.

Sources: the Web API's recently played (track id, played_at to the millisecond), the extended
streaming history export (track URI, `ts` to the second, ms_played), and the older account-data
StreamingHistory files (artist and track names, `endTime` to the minute, no track id).

The rule:
1. A play is (track id, end time to the second, UTC): external id "play:<track id>:<time>".
   API plays and extended-history plays of the same listen get the same id. Both report the
   moment the track stopped; when the two clocks disagree by a second or two, a play within
   TOLERANCE seconds of a stored play of the same track is the same play.
2. A StreamingHistory play (names, minute) has the id "play:~<key>:<minute>", where key hashes
   the normalised artist and track names. It is skipped when a precise play of the same artist
   and track ending within that minute is already stored (the precise one is better).
3. When a precise play arrives and a StreamingHistory play of the same artist, track and minute
   is stored, the minute-precision record is tombstoned: the precise one replaces it.
4. Plays never change, so a stored play is never rewritten by another source: the first
   source's record stays (so its extra fields, e.g. ms_played from the export, are kept).
Each precise play stores its fuzzy key as its record version, which is how rule 2 finds it.
"""

from __future__ import annotations

import datetime
import hashlib
import unicodedata

TOLERANCE = 2  # seconds between the API's played_at and the export's ts for one listen


def utc_second(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_minute(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%MZ")


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "").casefold()
    return " ".join(text.split())


def name_key(artist: str, track: str) -> str:
    return hashlib.sha1(f"{normalise(artist)}|{normalise(track)}".encode()).hexdigest()[:16]  # noqa: S324 - an id


def precise_id(track_id: str, ended: datetime.datetime) -> str:
    return f"play:{track_id}:{utc_second(ended)}"


def legacy_id(artist: str, track: str, minute: datetime.datetime) -> str:
    return f"play:~{name_key(artist, track)}:{utc_minute(minute)}"


def fuzzy_key(artist: str, track: str, ended: datetime.datetime) -> str:
    """The version of a precise play: what a minute-precision play of it would be called."""
    return legacy_id(artist, track, ended)[len("play:") :]


def legacy_candidates(artist: str, track: str, ended: datetime.datetime) -> list[str]:
    """Minute-precision ids a precise play may duplicate (endTime may be cut or rounded)."""
    return sorted({legacy_id(artist, track, ended + datetime.timedelta(seconds=shift)) for shift in (-30, 0, 30)})


def nearby_ids(track_id: str, ended: datetime.datetime) -> list[str]:
    return [precise_id(track_id, ended + datetime.timedelta(seconds=s)) for s in range(-TOLERANCE, TOLERANCE + 1)]


class PlayIndex:
    """What is stored already, for one import or sync: ids and the fuzzy keys of precise plays."""

    def __init__(self, known: dict[str, str]):
        self.ids = set(known)
        self.fuzzy = {
            version for external_id, version in known.items() if version and not external_id.startswith("play:~")
        }

    def add(self, external_id: str, version: str = ""):
        self.ids.add(external_id)
        if version and not external_id.startswith("play:~"):
            self.fuzzy.add(version)

    def has_precise(self, track_id: str, ended: datetime.datetime) -> bool:
        return any(candidate in self.ids for candidate in nearby_ids(track_id, ended))

    def covers_minute(self, artist: str, track: str, minute: datetime.datetime) -> bool:
        """Rule 2: a precise play of this artist and track ended within this minute (or in the
        half minute before, should endTime have been rounded up)."""
        key = name_key(artist, track)
        earlier = minute - datetime.timedelta(minutes=1)
        return f"~{key}:{utc_minute(minute)}" in self.fuzzy or f"~{key}:{utc_minute(earlier)}" in self.fuzzy

    def legacy_duplicates(self, artist: str, track: str, ended: datetime.datetime) -> list[str]:
        """Rule 3: stored minute-precision records this precise play replaces."""
        return [i for i in legacy_candidates(artist, track, ended) if i in self.ids]
