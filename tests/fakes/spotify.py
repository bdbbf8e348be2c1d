"""Contract fake of the Spotify Web API, over real HTTP, under /v1 like api.spotify.com.

Follows:
- https://developer.spotify.com/documentation/web-api/reference/get-recently-played (limit up to
  50, `after` / `before` Unix-millisecond cursors, items newest first with played_at,
  cursors {after, before}, `next`; only the last 50 plays are kept at all);
- https://developer.spotify.com/documentation/web-api/reference/get-users-saved-tracks
  (offset/limit paging, newest first, added_at);
- https://developer.spotify.com/documentation/web-api/reference/get-a-list-of-current-users-playlists
  and the playlist items endpoint (snapshot_id; items paged by offset);
- https://developer.spotify.com/documentation/web-api/reference/get-current-users-profile
  (spotipy asks for "me/" with a trailing slash);
- https://developer.spotify.com/documentation/web-api/concepts/api-calls (error object
  {"error": {"status", "message"}}: 401 expired token, 403 insufficient scope, 429 with
  Retry-After).
"""

from __future__ import annotations

import datetime

from tests.fakes.oauth_api import ApiFake, Reply, retry_after_header, route

KEEP_PLAYS = 50


def spotify_error(status: int, message: str) -> dict:
    return {"error": {"status": status, "message": message}}


def track(track_id: str, name: str, artist: str, *, album="An Album", duration_ms=200_000) -> dict:
    return {
        "id": track_id,
        "name": name,
        "type": "track",
        "uri": f"spotify:track:{track_id}",
        "duration_ms": duration_ms,
        "explicit": False,
        "artists": [{"id": f"ar-{artist.lower().replace(' ', '')}", "name": artist, "type": "artist"}],
        "album": {"id": f"al-{album.lower().replace(' ', '')}", "name": album, "release_date": "2020-01-01"},
        "external_ids": {"isrc": f"GB{track_id[:10].upper()}"},
        "external_urls": {"spotify": f"https://open.spotify.com/track/{track_id}"},
        "is_local": False,
        "popularity": 50,
    }


def _ms(moment: datetime.datetime) -> int:
    return int(moment.timestamp() * 1000)


class SpotifyFake(ApiFake):
    def reset(self):
        super().reset()
        self.plays: dict[str, list[dict]] = {}
        self.saved: dict[str, list[dict]] = {}
        self.playlists: dict[str, list[dict]] = {}
        self.playlist_items: dict[str, list[dict]] = {}
        # The test's hands while a listing is under way: called once after the next page of saved
        # tracks (or of playlists) is served (the person removes one in the Spotify app meanwhile).
        self.after_saved_page = None
        self.after_playlists_page = None

    def unauthorized(self) -> Reply:
        return Reply(
            401, spotify_error(401, "The access token expired"), {"WWW-Authenticate": 'Bearer realm="spotify"'}
        )

    def insufficient_scope(self, needed) -> Reply:
        return Reply(403, spotify_error(403, "Insufficient client scope"))

    @staticmethod
    def rate_limited(retry_after: int | datetime.datetime = 1) -> tuple:
        return 429, spotify_error(429, "API rate limit exceeded"), {"Retry-After": retry_after_header(retry_after)}

    # -- the test's hands ---------------------------------------------------------------------
    def play(self, username: str, item: dict, played_at: datetime.datetime, *, context=None):
        """A finished listen. played_at keeps milliseconds, as the real API does."""
        with self.lock:
            plays = self.plays.setdefault(username, [])
            stamp = played_at.astimezone(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            plays.append({"track": item, "played_at": stamp, "context": context, "_ms": _ms(played_at)})
            plays.sort(key=lambda p: p["_ms"], reverse=True)
            del plays[KEEP_PLAYS:]  # Spotify forgets everything but the last 50

    def save(self, username: str, item: dict, added_at: str):
        with self.lock:
            saved = self.saved.setdefault(username, [])
            saved.insert(0, {"added_at": added_at, "track": item})

    def unsave(self, username: str, track_id: str):
        self.saved[username] = [s for s in self.saved.get(username, []) if s["track"]["id"] != track_id]

    def add_playlist(self, username: str, playlist_id: str, name: str, items: list[dict], snapshot="s1"):
        playlists = self.playlists.setdefault(username, [])
        playlists[:] = [p for p in playlists if p["id"] != playlist_id]
        playlists.append(
            {
                "id": playlist_id,
                "name": name,
                "description": "",
                "public": False,
                "collaborative": False,
                "snapshot_id": snapshot,
                "owner": {"id": username, "display_name": username.title()},
                "items": {"total": len(items), "href": self.url(f"/v1/playlists/{playlist_id}/items")},
                "external_urls": {"spotify": f"https://open.spotify.com/playlist/{playlist_id}"},
                "type": "playlist",
            }
        )
        self.playlist_items[playlist_id] = [{"added_at": "2025-01-01T00:00:00Z", "track": i} for i in items]

    # -- the API ------------------------------------------------------------------------------
    def _page(self, request, rows: list, path: str) -> dict:
        limit = min(int(request.args.get("limit", 20)), 50)
        offset = int(request.args.get("offset", 0))
        chunk = rows[offset : offset + limit]
        nxt = self.url(f"{path}?offset={offset + limit}&limit={limit}") if offset + limit < len(rows) else None
        return {"href": self.url(path), "items": chunk, "limit": limit, "next": nxt, "offset": offset,
                "previous": None, "total": len(rows)}  # fmt: skip

    @route("GET", r"/v1/me/?")
    def me(self, request):
        owner = self.owner(request)
        return {"id": owner["username"], "display_name": owner["username"].title(), "type": "user",
                "uri": f"spotify:user:{owner['username']}", "country": "FR", "product": "premium"}  # fmt: skip

    @route("GET", r"/v1/me/player/recently-played")
    def recently_played(self, request):
        owner = self.owner(request, "user-read-recently-played")
        limit = min(int(request.args.get("limit", 20)), 50)
        rows = self.plays.get(owner["username"], [])
        if request.args.get("after") and request.args.get("before"):
            raise Reply(400, spotify_error(400, "Only one of after or before can be specified"))
        if request.args.get("after"):
            rows = [r for r in rows if r["_ms"] > int(request.args["after"])]
        if request.args.get("before"):
            rows = [r for r in rows if r["_ms"] < int(request.args["before"])]
        chunk = rows[:limit]
        body = {
            "href": self.url("/v1/me/player/recently-played"),
            "items": [{k: v for k, v in r.items() if not k.startswith("_")} for r in chunk],
            "limit": limit,
            "next": None,
            "cursors": None,
        }
        if chunk:
            body["cursors"] = {"after": str(chunk[0]["_ms"]), "before": str(chunk[-1]["_ms"])}
            if len(rows) > limit:
                body["next"] = self.url(f"/v1/me/player/recently-played?before={chunk[-1]['_ms']}&limit={limit}")
        return body

    @route("GET", r"/v1/me/tracks")
    def saved_tracks(self, request):
        owner = self.owner(request, "user-library-read")
        page = self._page(request, self.saved.get(owner["username"], []), "/v1/me/tracks")
        hook, self.after_saved_page = self.after_saved_page, None
        if hook is not None:
            hook()
        return page

    @route("GET", r"/v1/me/playlists")
    def my_playlists(self, request):
        owner = self.owner(request, "playlist-read-private")
        page = self._page(request, self.playlists.get(owner["username"], []), "/v1/me/playlists")
        hook, self.after_playlists_page = self.after_playlists_page, None
        if hook is not None:
            hook()
        return page

    @route("GET", r"/v1/playlists/(?P<playlist_id>[^/]+)/items")
    def items(self, request, playlist_id):
        self.owner(request, "playlist-read-private")
        if playlist_id not in self.playlist_items:
            raise Reply(404, spotify_error(404, "Resource not found"))
        return self._page(request, self.playlist_items[playlist_id], f"/v1/playlists/{playlist_id}/items")
