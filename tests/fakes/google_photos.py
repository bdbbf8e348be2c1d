"""Contract fake of the Google Photos Picker API (and the OpenID userinfo endpoint), over real
HTTP.

Follows:
- https://developers.google.com/photos/picker/reference/rest/v1/sessions (PickingSession: id,
  pickerUri, pollingConfig {pollInterval, timeoutIn} as "Ns" durations, expireTime,
  mediaItemsSet; create, get, delete);
- https://developers.google.com/photos/picker/guides/sessions (poll sessions.get until
  mediaItemsSet is true);
- https://developers.google.com/photos/picker/reference/rest/v1/mediaItems/list (sessionId,
  pageSize, pageToken; FAILED_PRECONDITION until the user finished picking; PickedMediaItem: id,
  createTime, type PHOTO|VIDEO, mediaFile {baseUrl, mimeType, filename, mediaFileMetadata
  {width, height, cameraMake, cameraModel, photoMetadata | videoMetadata}});
- https://developers.google.com/photos/picker/guides/media-items (bytes at baseUrl + "=d" for
  photos, "=dv" for videos; the request must carry the OAuth bearer token);
- https://developers.google.com/identity/openid-connect/openid-connect#obtaininguserprofileinformation
  (GET /v1/userinfo with the openid / userinfo.email scopes).
A session "picks" once the test calls `pick()`, or by itself after `picks_after` polls (the user
pressing Done while the hub polls).
"""

from __future__ import annotations

import datetime
import itertools

from werkzeug.wrappers import Response

from tests.fakes.oauth_api import GoogleApiFake, Reply, google_error, route

PICKER = "https://www.googleapis.com/auth/photospicker.mediaitems.readonly"
USERINFO = ("openid", "https://www.googleapis.com/auth/userinfo.email", "email")


class GooglePhotosFake(GoogleApiFake):
    def reset(self):
        super().reset()
        self.sessions: dict[str, dict] = {}
        self.pending: dict[str, list] = {}  # session id -> items the user will pick
        self.media: dict[str, bytes] = {}
        self.downloads: list[str] = []
        self.max_page = 100
        self.picks_after = 0
        self._ids = itertools.count(1)

    # -- the test's hands ---------------------------------------------------------------------
    def item(self, filename: str, content: bytes, *, kind="PHOTO", item_id=None, created="2025-06-01T12:00:00Z",
             camera=("Canon", "EOS R6"), size=(4000, 3000)) -> dict:  # fmt: skip
        item_id = item_id or f"AF1Qip{next(self._ids):06d}"
        self.media[item_id] = content
        metadata = {"width": size[0], "height": size[1], "cameraMake": camera[0], "cameraModel": camera[1]}
        if kind == "VIDEO":
            metadata["videoMetadata"] = {"fps": 30, "processingStatus": "READY"}
        else:
            metadata["photoMetadata"] = {"focalLength": 35, "apertureFNumber": 2.8, "isoEquivalent": 200}
        return {
            "id": item_id,
            "createTime": created,
            "type": kind,
            "mediaFile": {
                "baseUrl": self.url(f"/media/{item_id}"),
                "mimeType": "video/mp4" if kind == "VIDEO" else "image/jpeg",
                "filename": filename,
                "mediaFileMetadata": metadata,
            },
        }

    def will_pick(self, session_id: str, items: list[dict]):
        self.pending[session_id] = list(items)

    def pick(self, session_id: str):
        session = self.sessions[session_id]
        session["mediaItemsSet"] = True
        session["_items"] = self.pending.pop(session_id, [])

    # -- the API ------------------------------------------------------------------------------
    @route("GET", r"/v1/userinfo")
    def userinfo(self, request):
        owner = self.owner(request, *USERINFO)
        return {
            "sub": f"1{abs(hash(owner['username'])) % 10**20:020d}",
            "email": owner["email"],
            "email_verified": True,
        }

    @route("POST", r"/v1/sessions")
    def create_session(self, request):
        owner = self.owner(request, PICKER)
        session_id = f"session-{next(self._ids)}"
        expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
        session = {
            "id": session_id,
            "pickerUri": f"https://photos.google.com/picker/{session_id}",
            "pollingConfig": {"pollInterval": "0.05s", "timeoutIn": "30s"},
            "expireTime": expires.isoformat().replace("+00:00", "Z"),
            "mediaItemsSet": False,
        }
        self.sessions[session_id] = {**session, "_owner": owner["username"], "_polls": 0}
        return session

    def _session(self, request, session_id) -> dict:
        owner = self.owner(request, PICKER)
        session = self.sessions.get(session_id)
        if session is None or session["_owner"] != owner["username"]:
            raise Reply(404, google_error(404, "Requested entity was not found.", "notFound", "NOT_FOUND"))
        return session

    @route("GET", r"/v1/sessions/(?P<session_id>[^/]+)")
    def get_session(self, request, session_id):
        session = self._session(request, session_id)
        session["_polls"] += 1
        if not session["mediaItemsSet"] and self.picks_after and session["_polls"] > self.picks_after:
            self.pick(session_id)
        return {k: v for k, v in session.items() if not k.startswith("_")}

    @route("DELETE", r"/v1/sessions/(?P<session_id>[^/]+)")
    def delete_session(self, request, session_id):
        self._session(request, session_id)
        del self.sessions[session_id]
        return {}

    @route("GET", r"/v1/mediaItems")
    def list_items(self, request):
        session = self._session(request, request.args.get("sessionId", ""))
        if not session["mediaItemsSet"]:
            raise Reply(
                400,
                google_error(400, "The user has not finished picking.", "failedPrecondition", "FAILED_PRECONDITION"),
            )
        items = session["_items"]
        size = min(int(request.args.get("pageSize", 25)), self.max_page)
        offset = int(request.args.get("pageToken") or 0)
        body = {"mediaItems": items[offset : offset + size]}
        if offset + size < len(items):
            body["nextPageToken"] = str(offset + size)
        return body

    @route("GET", r"/media/(?P<item_id>[^=/]+)=(?P<params>[^/]*)")
    def download(self, request, item_id, params):
        self.owner(request, PICKER)
        if item_id not in self.media or params not in ("d", "dv"):
            raise Reply(404, b"not found")
        self.downloads.append(item_id)
        return Response(self.media[item_id], mimetype="application/octet-stream")
