"""Spotify Web API through spotipy, over the hub's outbound path.

- Recently played: GET me/player/recently-played?limit=50&after=<cursor>. Spotify keeps only
  the last 50 plays, so the hub syncs every 30 minutes by default (the type's details say so).
  A sync that receives 50 plays since the last cursor may have missed older ones: it says so on
  the job (an item-level warning: the job ends partial) with the time span that may be missing
  and how to fill it (import the account-data export).
  https://developer.spotify.com/documentation/web-api/reference/get-recently-played
- Saved tracks (me/tracks, newest first): listed in full once a day (removals become
  tombstones), in between only until the first page of already-known tracks.
- Playlists (me/playlists): one record each, version = snapshot_id; items are read again only
  when the snapshot changed.
- Account-data export import (options {"archive_paths": [...]}, see export.py), merged with the
  API plays by the rule in plays.py.

spotipy gets the integration's guarded requests session, the token provider as its auth manager,
`prefix` pointing at the API base (the OAuth app's api_base_url in tests) and retries=0: the hub's
adapter does the retrying (Retry-After, backoff) in one place.
"""

from __future__ import annotations

import datetime
import logging

import spotipy
from django.conf import settings
from django.utils import timezone
from spotipy.exceptions import SpotifyException

from connectors.base import Batch, Connector, Record
from connectors.errors import (
    AuthError,
    ConnectorError,
    ItemError,
    RateLimited,
    from_status,
    register_classifier,
)
from connectors.http import retry_after_value
from connectors.paging import PageGuard
from connectors.registry import registry
from connectors.spotify_music import export, plays

log = logging.getLogger(__name__)

API = "https://api.spotify.com"
RECENT_LIMIT = 50
FULL_LIBRARY_EVERY = datetime.timedelta(hours=24)
PLAYLIST_ITEMS_MAX = 1000


@register_classifier
def classify_spotify(exc: BaseException) -> ConnectorError | None:
    if not isinstance(exc, SpotifyException):
        return None
    status, message = exc.http_status, str(exc.msg or "").split("\n")[-1].strip()[:200]
    if status == 429:
        retry = retry_after_value((exc.headers or {}).get("Retry-After"))
        return RateLimited(f"Spotify is rate limiting us ({message}).", retry_after=retry)
    if status == 403 and "not registered" in message.lower():
        return AuthError(
            "Spotify refused this account: the hub's Spotify app is in development mode.",
            remediation="Ask the operator to add your Spotify account to the app's users in the developer dashboard.",
        )
    if status in (401, 403):
        return AuthError(
            f"Spotify refused the request ({message}).",
            remediation="Re-authenticate Spotify and allow every permission the hub asks for.",
        )
    return from_status(status or 0, body=message) if status else None


def plays_id(item: dict) -> str:
    play = item["play"]
    ended = datetime.datetime.fromisoformat(play["ended"])
    if play.get("precision") == "minute":
        return plays.legacy_id(play["artist"], play["track"], ended)
    return plays.precise_id(play.get("track_id") or play["track"]["id"], ended)


def _played_at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(datetime.UTC)


def _artists(track: dict) -> str:
    return ", ".join(a.get("name", "") for a in track.get("artists") or [] if a.get("name"))


def _track_summary(track: dict) -> dict:
    return {
        "track_id": track.get("id"),
        "track_name": track.get("name", ""),
        "artists": [a.get("name", "") for a in track.get("artists") or []],
        "artist_ids": [a.get("id") for a in track.get("artists") or []],
        "album": (track.get("album") or {}).get("name", ""),
        "album_id": (track.get("album") or {}).get("id"),
        "duration_ms": track.get("duration_ms"),
        "explicit": track.get("explicit"),
        "isrc": (track.get("external_ids") or {}).get("isrc"),
        "uri": track.get("uri"),
    }


@registry.register("spotify")
class SpotifyConnector(Connector):
    # The timeline's kinds (connectors.kinds): how this connector's records are seen there.
    kind_map = {"play": "play", "saved_track": "other", "playlist": "other"}

    @staticmethod
    def typed_fields(item) -> dict:
        return plays.typed_fields(item)

    def _client(self) -> spotipy.Spotify:
        if not hasattr(self, "_sp"):
            if self.ctx.tokens is None:
                raise AuthError(
                    "This Spotify connection has no OAuth token.", remediation="Connect it from the gallery."
                )
            sp = spotipy.Spotify(
                auth_manager=self.ctx.tokens,
                requests_session=self.http.session,
                retries=0,
                status_retries=0,
                requests_timeout=settings.OUTBOUND_TIMEOUT,
            )
            base = getattr(self.ctx.tokens, "api_base_url", "") or API
            sp.prefix = base.rstrip("/") + "/v1/"
            self._sp = sp
        return self._sp

    def _call(self, method: str, *args, **kwargs):
        sp = self._client()
        used = self.ctx.tokens.access_token()
        try:
            return getattr(sp, method)(*args, **kwargs)
        except SpotifyException as exc:
            if exc.http_status != 401:
                raise
        # Spotify refused a token we believed valid: refresh once (unless another worker did).
        self.ctx.tokens.refresh(stale=used)
        return getattr(sp, method)(*args, **kwargs)

    @classmethod
    def sniff(cls, paths: list[str]) -> str:
        """The uploaded files are a Spotify account-data export (ConfigError saying why not)."""
        return export.describe(paths)

    def test_connection(self) -> str:
        me = self._call("me")
        return me.get("id") or me.get("display_name") or "Spotify account"

    # -- sync -----------------------------------------------------------------------------------
    def list_changes(self, cursor):
        paths = self.ctx.options.get("archive_paths") or []
        if paths:
            yield from self._import_export(paths, cursor)
            return
        cursor = dict(cursor or {})
        state = {k: v for k, v in cursor.items() if k in ("after", "library_full_at")}
        yield from self._recently_played(state)
        if self.config.get("include_saved", True):
            yield from self._saved_tracks(state)
        if self.config.get("include_playlists", False):
            yield from self._playlists(state)

    def _recently_played(self, state: dict):
        after = state.get("after")
        response = self._call("current_user_recently_played", limit=RECENT_LIMIT, after=after)
        entries, pages = list(response.get("items") or []), 0
        newest = (response.get("cursors") or {}).get("after")
        guard = PageGuard("Spotify", what="recently played")
        while guard.follow(response.get("next")) and pages < 20:
            response = self._call("next", response)
            entries += response.get("items") or []
            pages += 1
        parsed = []
        for entry in entries:
            track = entry.get("track") or {}
            if not track.get("id") or not entry.get("played_at"):
                continue  # local files have no Spotify id
            parsed.append((entry, track, _played_at(entry["played_at"])))
        parsed.sort(key=lambda p: p[2])  # oldest first: plays of a track on repeat pair up in order
        notices = [self._gap(after, entries, parsed)] if after and len(entries) >= RECENT_LIMIT else []
        index = plays.PlayIndex(self._stored_plays(parsed))
        items, deletes = [], []
        for entry, track, ended in parsed:
            if index.same_listen(track["id"], ended, source=plays.API, span_ms=track.get("duration_ms")):
                continue  # rule 4: a stored play is not rewritten
            artist = (track.get("artists") or [{}])[0].get("name", "")
            deletes += index.legacy_duplicates(artist, track.get("name", ""), ended)
            fuzzy = plays.fuzzy_key(artist, track.get("name", ""), ended)
            index.add(plays.precise_id(track["id"], ended), plays.play_version(fuzzy, plays.API))
            items.append(
                {
                    "play": {
                        "source": "api",
                        "track": track,
                        "ended": ended.isoformat(),
                        "context": entry.get("context"),
                        "fuzzy": fuzzy,
                    }
                }
            )
        if newest:
            state["after"] = newest
        yield Batch(items=items, deletes=sorted(set(deletes)), notices=notices, cursor=dict(state))

    def _stored_plays(self, parsed) -> dict[str, str]:
        """{external_id: version} of the stored plays these API plays may duplicate: every precise
        play of their tracks (rule 1 looks a whole listen around each) and their minute twins."""
        ids: set[str] = set()
        for _entry, track, ended in parsed:
            artist = (track.get("artists") or [{}])[0].get("name", "")
            ids.update(plays.legacy_candidates(artist, track.get("name", ""), ended))
        for track_id in sorted({track["id"] for _entry, track, _ended in parsed}):
            ids |= self.ctx.known_ids(prefix=plays.track_prefix(track_id))
        return self.ctx.known_versions(ids) if ids else {}

    def _gap(self, after: str, entries: list, parsed: list) -> str:
        """Spotify forgot the plays before its last 50: say which span may be missing, and how to
        get it back. A notice on the job (which ends partial), not only in the log."""
        since = datetime.datetime.fromtimestamp(int(after) / 1000, tz=datetime.UTC)
        oldest = parsed[0][2] if parsed else timezone.now()
        log.warning(
            "Spotify integration %s: %s plays since the last sync; older ones may be missing",
            getattr(self.ctx.integration, "pk", None),
            len(entries),
        )
        return (
            f"Spotify only keeps your last {RECENT_LIMIT} plays, and {len(entries)} were played since the last "
            f"sync: plays between {since:%Y-%m-%d %H:%M} and {oldest:%Y-%m-%d %H:%M} UTC may be missing. To fill "
            "the gap, request your account data from Spotify (Account privacy, then Download your data) and import "
            "it with Import an export on this integration's page (or the operator runs manage.py "
            "import_spotify_export with it), without creating duplicates. Syncing "
            "more often avoids the gap."
        )

    def _saved_tracks(self, state: dict):
        last_full = state.get("library_full_at")
        full = not last_full or timezone.now() - datetime.datetime.fromisoformat(last_full) > FULL_LIBRARY_EVERY
        known = self.ctx.known_ids(prefix="saved:")
        seen, offset, totals = set(), 0, set()
        pages = PageGuard("Spotify", what="saved tracks", start=offset)
        while True:
            response = self._call("current_user_saved_tracks", limit=50, offset=offset)
            page = [entry for entry in response.get("items") or [] if (entry.get("track") or {}).get("id")]
            ids = {f"saved:{entry['track']['id']}" for entry in page}
            seen |= ids
            totals.add(response.get("total"))
            items = [{"saved": entry} for entry in page if full or f"saved:{entry['track']['id']}" not in known]
            offset += len(response.get("items") or [])
            more = bool(response.get("next")) and (full or not ids <= known)
            if not more:
                # Pages are read by offset: a track saved or removed meanwhile (the total moved)
                # shifts them, and a track skipped that way is not a deleted one. Such a listing
                # deletes nothing, and the next sync lists the library again.
                complete = full and len(totals) == 1
                if complete:
                    state["library_full_at"] = timezone.now().isoformat()
                elif full:
                    log.info("Spotify library changed while it was listed; nothing deleted this time")
                yield Batch(items=items, deletes=sorted(known - seen) if complete else [], cursor=dict(state))
                return
            pages.follow(offset)  # a page without items does not move the offset: the same page again
            yield Batch(items=items, cursor=dict(state))

    def _playlists(self, state: dict):
        versions = self.ctx.known_versions(self.ctx.known_ids(prefix="playlist:"))
        seen, offset, totals = set(), 0, set()
        pages = PageGuard("Spotify", what="playlists", start=offset)
        while True:
            response = self._call("current_user_playlists", limit=50, offset=offset)
            totals.add(response.get("total"))
            items = []
            for playlist in response.get("items") or []:
                external_id = f"playlist:{playlist['id']}"
                seen.add(external_id)
                if versions.get(external_id) == playlist.get("snapshot_id"):
                    continue
                items.append({"playlist": playlist, "tracks": self._playlist_tracks(playlist["id"])})
            offset += len(response.get("items") or [])
            if not response.get("next"):
                # As for saved tracks: a listing whose total moved may have skipped one; it deletes nothing.
                deletes = sorted(set(versions) - seen) if len(totals) == 1 else []
                yield Batch(items=items, deletes=deletes, cursor=dict(state))
                return
            pages.follow(offset)
            yield Batch(items=items, cursor=dict(state))

    def _playlist_tracks(self, playlist_id: str) -> list[dict]:
        tracks, offset = [], 0
        pages = PageGuard("Spotify", what="playlist tracks", start=offset)
        while offset < PLAYLIST_ITEMS_MAX:
            response = self._call("playlist_items", playlist_id, limit=50, offset=offset)
            for entry in response.get("items") or []:
                track = entry.get("track") or entry.get("item") or {}
                if track.get("type", "track") == "track" and track.get("id"):
                    tracks.append(
                        {
                            "track_id": track["id"],
                            "name": track.get("name", ""),
                            "artists": _artists(track),
                            "added_at": entry.get("added_at"),
                        }
                    )
            offset += len(response.get("items") or [])
            if not response.get("next"):
                break
            pages.follow(offset)
        return tracks

    # -- export import ---------------------------------------------------------------------------
    def _import_export(self, paths: list[str], cursor):
        refused: list[ItemError] = []
        files = export.export_files(paths, refused)
        resume = (cursor or {}).get("export") or {}
        index = plays.PlayIndex(self.ctx.known_versions())
        size = max(1, settings.SYNC_BATCH_SIZE)
        items, deletes, errors, position = [], [], ([] if resume else refused), dict(resume)
        for file_index, (container, member, label) in enumerate(files):
            if file_index < resume.get("file", 0):
                continue
            entries = export.read_entries(container, member)
            start = resume.get("entry", 0) if file_index == resume.get("file") else 0
            for entry_index in range(start, len(entries)):
                try:
                    play = export.parse(entries[entry_index])
                except (ValueError, KeyError, TypeError) as exc:
                    errors.append(
                        ItemError(f"{label} entry {entry_index + 1}: {exc}", external_id=f"{label}#{entry_index + 1}")
                    )
                    play = None
                if play is not None:
                    replaced: list[str] = []
                    item = self._merge_export_play(play, index, replaced)
                    if replaced:  # a minute-precision play this precise one replaces
                        pending = {plays_id(i) for i in items}
                        items = [i for i in items if plays_id(i) not in replaced]
                        deletes += [r for r in replaced if r not in pending]
                    if item is not None:
                        items.append(item)
                position = {"file": file_index, "entry": entry_index + 1}
                if len(items) + len(errors) >= size:
                    yield Batch(items=items, deletes=deletes, errors=errors, cursor={"export": position})
                    items, deletes, errors = [], [], []
            self.ctx.heartbeat()
            del entries
        yield Batch(items=items, deletes=deletes, errors=errors, cursor={"export": position})

    @staticmethod
    def _merge_export_play(play: dict, index: plays.PlayIndex, deletes: list) -> dict | None:
        ended = play["ended"]
        if play["precision"] == "second":
            if index.same_listen(play["track_id"], ended, source=plays.EXPORT, span_ms=play.get("ms_played")):
                return None
            deletes += index.legacy_duplicates(play["artist"], play["track"], ended)
            fuzzy = plays.fuzzy_key(play["artist"], play["track"], ended)
            index.add(plays.precise_id(play["track_id"], ended), plays.play_version(fuzzy, plays.EXPORT))
            return {"play": {**play, "source": "export", "ended": ended.isoformat(), "fuzzy": fuzzy}}
        external_id = plays.legacy_id(play["artist"], play["track"], ended)
        if external_id in index.ids or index.covers_minute(play["artist"], play["track"], ended):
            return None
        index.add(external_id)
        return {"play": {**play, "source": "export", "ended": ended.isoformat()}}

    # -- records -------------------------------------------------------------------------------
    def transform(self, raw) -> Record:
        if "play" in raw:
            return self._play_record(raw["play"])
        if "saved" in raw:
            entry = raw["saved"]
            track = entry["track"]
            return Record(
                external_id=f"saved:{track['id']}",
                kind="saved_track",
                title=f"{track.get('name', '')} — {_artists(track)}",
                occurred_at=_played_at(entry["added_at"]) if entry.get("added_at") else None,
                data={**_track_summary(track), "added_at": entry.get("added_at")},
                source_url=(track.get("external_urls") or {}).get("spotify", ""),
            )
        playlist = raw["playlist"]
        counts = playlist.get("tracks") or playlist.get("items") or {}
        return Record(
            external_id=f"playlist:{playlist['id']}",
            kind="playlist",
            title=playlist.get("name") or "(untitled playlist)",
            summary=playlist.get("description") or "",
            data={
                "playlist_id": playlist["id"],
                "owner": (playlist.get("owner") or {}).get("display_name") or (playlist.get("owner") or {}).get("id"),
                "public": playlist.get("public"),
                "collaborative": playlist.get("collaborative"),
                "total": counts.get("total") if isinstance(counts, dict) else None,
                "tracks": raw.get("tracks") or [],
            },
            source_url=(playlist.get("external_urls") or {}).get("spotify", ""),
            version=playlist.get("snapshot_id", ""),
        )

    @staticmethod
    def _play_record(play: dict) -> Record:
        ended = datetime.datetime.fromisoformat(play["ended"])
        if play["source"] == "api":
            track = play["track"]
            title = f"{track.get('name', '')} — {_artists(track)}"
            data = {**_track_summary(track), "played_at": play["ended"], "source": "api", "precision": "millisecond"}
            if play.get("context"):
                data["context"] = {"type": play["context"].get("type"), "uri": play["context"].get("uri")}
            return Record(
                external_id=plays.precise_id(track["id"], ended),
                kind="play",
                title=title,
                occurred_at=ended,
                data=data,
                source_url=(track.get("external_urls") or {}).get("spotify", ""),
                version=plays.play_version(play["fuzzy"], plays.API),
            )
        data = {
            "track_name": play["track"],
            "artists": [play["artist"]] if play["artist"] else [],
            "played_at": play["ended"],
            "ms_played": play.get("ms_played"),
            "source": "export",
            "precision": play["precision"],
        }
        for key in ("album", "reason_start", "reason_end", "shuffle", "skipped", "offline", "platform", "country"):
            if key in play:
                data[key] = play[key]
        unmapped = []
        if play.get("extra"):
            data["extra"] = play["extra"]
            unmapped = sorted(play["extra"])
        if play["precision"] == "second":
            data["track_id"] = play["track_id"]
            external_id = plays.precise_id(play["track_id"], ended)
            version = plays.play_version(play["fuzzy"], plays.EXPORT)
            url = f"https://open.spotify.com/track/{play['track_id']}"
        else:
            external_id, version, url = plays.legacy_id(play["artist"], play["track"], ended), "", ""
        return Record(
            external_id=external_id,
            kind="play",
            title=f"{play['track']} — {play['artist']}".strip(" —"),
            occurred_at=ended,
            data=data,
            source_url=url,
            version=version,
            unmapped=unmapped,
        )
