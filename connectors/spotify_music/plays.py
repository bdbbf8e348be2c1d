"""One listen, whatever told us about it: the identity and merge rule of Spotify plays.

Sources: the Web API's recently played (track id, played_at to the millisecond), the extended
streaming history export (track URI, `ts` to the second, ms_played), and the older account-data
StreamingHistory files (artist and track names, `endTime` to the minute, no track id).

The rule:
1. A play is (track id, time to the second, UTC): external id "play:<track id>:<time>". Plays
   of one listen reported by the two precise sources are merged: the API's played_at is mostly
   the moment the track stopped, but sometimes the moment it started, while the export's ts is
   always the end and ms_played says how long it played. So a play matches a stored play of the
   same track from the other source when their times are within the listen: for an export play
   (ts, ms_played) an API play within [ts - ms_played - SLACK, ts + SLACK]; for an API play
   (played_at, the track's duration) an export play within [played_at - SLACK, played_at +
   duration + SLACK]. Each stored play absorbs at most one incoming play (a track on repeat is
   several listens), the closest one; plays of the same source only match by their exact id.
2. A StreamingHistory play (names, minute) has the id "play:~<key>:<minute>", where key hashes
   the normalised artist and track names. It is skipped when a precise play of the same artist
   and track ending within that minute is already stored (the precise one is better).
3. When a precise play arrives and a StreamingHistory play of the same artist, track and minute
   is stored, the minute-precision record is tombstoned: the precise one replaces it.
4. Plays never change, so a stored play is never rewritten by another source: the first
   source's record stays (so its extra fields, e.g. ms_played from the export, are kept).
Each precise play stores "<fuzzy key>@<source>" as its record version: the fuzzy key is how rule 2
finds it, the source is how rule 1 tells the two sources apart. (Plays stored before the source
was recorded match only within SLACK of the same time.)
"""

from __future__ import annotations

import datetime
import hashlib
import unicodedata
from collections import defaultdict

SLACK = 5  # seconds: the two clocks disagree a little, and both are cut to the second
API, EXPORT = "api", "export"


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


def track_prefix(track_id: str) -> str:
    return f"play:{track_id}:"


def play_version(fuzzy: str, source: str) -> str:
    return f"{fuzzy}@{source}"


def _split_version(version: str) -> tuple[str, str]:
    fuzzy, _, source = (version or "").partition("@")
    return fuzzy, source


def _parse_precise(external_id: str) -> tuple[str, datetime.datetime] | None:
    if not external_id.startswith("play:") or external_id.startswith("play:~"):
        return None
    track_id, _, stamp = external_id[len("play:") :].partition(":")
    try:
        moment = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    except ValueError:
        return None
    return track_id, moment


class PlayIndex:
    """What is stored already, for one import or sync: ids, the fuzzy keys of precise plays, and
    the precise plays of each track with their source."""

    def __init__(self, known: dict[str, str]):
        self.ids: set[str] = set()
        self.fuzzy: set[str] = set()
        self.by_track: dict[str, list[tuple[datetime.datetime, str, str]]] = defaultdict(list)
        self.claimed: set[str] = set()  # stored plays an incoming play of the other source matched
        for external_id, version in known.items():
            self.add(external_id, version)

    def add(self, external_id: str, version: str = ""):
        self.ids.add(external_id)
        fuzzy, source = _split_version(version)
        if fuzzy and not external_id.startswith("play:~"):
            self.fuzzy.add(fuzzy)
        parsed = _parse_precise(external_id)
        if parsed is not None:
            self.by_track[parsed[0]].append((parsed[1], source, external_id))

    def same_listen(self, track_id: str, moment: datetime.datetime, *, source: str, span_ms) -> bool:
        """Rule 1: is this play (from `source`, at `moment`, lasting up to `span_ms`) stored already?
        For an export play `span_ms` is ms_played; for an API play, the track's duration."""
        if precise_id(track_id, moment) in self.ids:
            return True
        slack = datetime.timedelta(seconds=SLACK)
        span = datetime.timedelta(milliseconds=max(0, int(span_ms or 0)))
        if source == EXPORT:  # ts is the end: the API's played_at is the end, or the start
            earliest, latest, anchors = moment - span - slack, moment + slack, (moment, moment - span)
        else:  # played_at is the end or the start: the export's ts is the end
            earliest, latest, anchors = moment - slack, moment + span + slack, (moment,)
        best = None
        for when, other, external_id in self.by_track.get(track_id, ()):
            if other == source or external_id in self.claimed:
                continue
            inside = earliest <= when <= latest if other else abs(when - moment) <= slack
            if not inside:
                continue
            rank = (min(abs(when - anchor) for anchor in anchors), when)  # closest, then earliest
            if best is None or rank < best[0]:
                best = (rank, external_id)
        if best is None:
            return False
        self.claimed.add(best[1])
        return True

    def covers_minute(self, artist: str, track: str, minute: datetime.datetime) -> bool:
        """Rule 2: a precise play of this artist and track ended within this minute (or in the
        half minute before, should endTime have been rounded up)."""
        key = name_key(artist, track)
        earlier = minute - datetime.timedelta(minutes=1)
        return f"~{key}:{utc_minute(minute)}" in self.fuzzy or f"~{key}:{utc_minute(earlier)}" in self.fuzzy

    def legacy_duplicates(self, artist: str, track: str, ended: datetime.datetime) -> list[str]:
        """Rule 3: stored minute-precision records this precise play replaces."""
        return [i for i in legacy_candidates(artist, track, ended) if i in self.ids]


def typed_fields(item) -> dict:
    """A stored play (API or export) as the timeline's "play": the play ends at played_at, so it
    started ms_played (the export) or the track's length (the API: it counts whole plays) before."""
    data = item.data or {}
    ended = datetime.datetime.fromisoformat(data["played_at"]) if data.get("played_at") else item.occurred_at
    length = data.get("ms_played") or data.get("duration_ms")
    track_id = data.get("track_id")
    fields = {
        "track": data.get("track_name", ""),
        "artist": ", ".join(a for a in data.get("artists") or [] if a),
        "album": data.get("album", ""),
        "track_uri": data.get("uri") or (f"spotify:track:{track_id}" if track_id else ""),
        "end": ended,
        "ms_played": data.get("ms_played") or data.get("duration_ms"),
    }
    if ended is not None and isinstance(length, int | float) and length > 0:
        fields["start"] = ended - datetime.timedelta(milliseconds=length)
    return fields
