"""Apple Photos: an exported library uploaded as a zip (iCloud Photos has no public API).

Exports come from Photos on a Mac ("Export Unmodified Originals": files only), from osxphotos
(`osxphotos export --sidecar xmp|json`: a sidecar next to each file, see sidecars.py) or from
icloudpd (files only, in YYYY/MM/DD folders by default, each file's time set to its capture time).
Each photo or video is streamed from the zip, hashed (SHA-256) and stored once per user, in the
same content-addressed storage as Google Photos (photos.store_file), so the same photo reaching
the hub from a Takeout and from Apple Photos is one file, and one moment on the timeline by its
data.sha256.

What a record says, first source that knows it winning: the sidecar, then the file's own
headers (media_meta.py), then for the capture time the dated folder and last the time the zip
keeps for the file.
"""

from __future__ import annotations

import datetime
import logging
import mimetypes
import posixpath
import re
import zipfile
import zlib

from connectors import archives
from connectors.apple_photos import media_meta, sidecars
from connectors.base import Record
from connectors.errors import ItemError
from connectors.google import media_match
from connectors.google.media_store import max_media_bytes, spool_and_hash, store_file
from connectors.google.takeout import MEDIA_EXTENSIONS
from connectors.registry import registry

log = logging.getLogger(__name__)

# The upload page and archives.sniff name exports through this table.
archives.EXPORTS.setdefault("apple-photos", "an Apple Photos export")

CHUNK = 1024 * 1024
SIDECAR_EXTENSIONS = (".xmp", ".json")
VIDEO_EXTENSIONS = {"mp4", "mov", "m4v", "3gp", "avi", "mkv", "mpg", "mts", "m2ts", "wmv"}
MIME_TYPES = {  # the platform's mimetypes table lacks some of Apple's formats
    "heic": "image/heic", "heif": "image/heif", "dng": "image/x-adobe-dng", "mov": "video/quicktime",
    "m4v": "video/x-m4v", "3gp": "video/3gpp",
}  # fmt: skip
DATED_FOLDER = re.compile(r"(?:^|/)(\d{4})[/-](\d{1,2})[/-](\d{1,2})(?:/|$)")
KNOWN = {"taken", "geo", "camera_make", "camera_model", "width", "height", "keywords", "people", "albums"}


def extension(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in posixpath.basename(name) else ""


def sidecar_names(member: str) -> list[str]:
    """Where osxphotos puts the sidecars of a file: "IMG_1.HEIC.xmp", or "IMG_1.xmp" with
    --sidecar-drop-ext (lower-cased: the lookup ignores case)."""
    stem = posixpath.splitext(member)[0]
    return [f"{base}{ext}".lower() for ext in SIDECAR_EXTENSIONS for base in (member, stem)]


def folder_date(member: str) -> datetime.datetime | None:
    match = DATED_FOLDER.search(posixpath.dirname(member.replace("\\", "/")) + "/")
    if not match:
        return None
    try:
        return datetime.datetime(*(int(part) for part in match.groups()))  # a local day: see in_zone
    except ValueError:
        return None


@registry.register("apple_photos")
class ApplePhotos(archives.ArchiveConnector):
    EXPORT = "apple-photos"

    @classmethod
    def wanted(cls, member: archives.Member) -> bool:
        if archives.identify_member(member) == "google-takeout":
            return False  # a Takeout holds photos too: the Google Photos integration reads it
        return extension(member.name) in MEDIA_EXTENSIONS

    def files(self, paths):
        found, refused = archives.members(paths)
        mine = [m for m in found if self.wanted(m)]
        if not mine:
            archives.sniff(paths, self.EXPORT, self.wanted)  # raises with the reason
        self._sidecars = {(m.archive, m.name.lower()): m for m in found if m.name.lower().endswith(SIDECAR_EXTENSIONS)}
        self._zip_times: dict[tuple[str, str], datetime.datetime] = {}
        for path in {m.archive for m in mine if m.archive}:
            with zipfile.ZipFile(path) as archive:
                for info in archive.infolist():
                    try:
                        moment = datetime.datetime(*info.date_time)  # zip (DOS) times are local
                    except ValueError:
                        continue
                    self._zip_times[(path, info.filename)] = moment
        self._seen: set[str] = set()
        return mine, refused

    def parse(self, member: archives.Member, stream):
        if member.size > max_media_bytes():
            limit = archives.human_size(max_media_bytes())
            message = f"{member.label} was skipped: it is larger than the import limit ({limit})."
            yield 0, ItemError(message, external_id=member.label)
            return
        try:
            spool, digest, size = spool_and_hash(iter(lambda: stream.read(CHUNK), b""))
        except archives.TruncatedFile as exc:
            message = f"{exc}; it was not imported. Upload a complete export to get it."
            yield 0, ItemError(message, external_id=member.label)
            return
        try:
            text = media_match.text_instead_of_media(spool)
            if text:
                message = (
                    f"{member.label} is not a photo or video: it is text ({text}); it was not imported. "
                    "Export it again if it should be one."
                )
                yield 0, ItemError(message, external_id=member.label)
                return
            if digest in self._seen:  # the same file exported into two album folders
                log.info("%s has the same bytes as a file earlier in the upload; skipped", member.label)
                yield 0, None
                return
            self._seen.add(digest)
            from_file = media_meta.read(spool)
            sidecar, sidecar_name = {}, ""
            for candidate in self._sidecar_members(member):
                try:
                    parsed = sidecars.parse(candidate.name, self._read_sidecar(candidate))
                    # An XMP and a JSON sidecar for one file: the first says, the second fills gaps.
                    sidecar.update({k: v for k, v in parsed.items() if v not in (None, "", []) and not sidecar.get(k)})
                    sidecar_name = sidecar_name or candidate.basename
                except sidecars.SidecarError as exc:
                    message = (
                        f"{candidate.label} could not be read as a sidecar: {exc}. {member.basename} was imported "
                        "with what the file itself says."
                    )
                    yield 0, ItemError(message, external_id=candidate.label)
            filename = member.basename
            mime_type = MIME_TYPES.get(extension(filename)) or mimetypes.guess_type(filename)[0] or ""
            stored = store_file(spool, self.ctx.integration.user_id, digest, filename, mime_type)
        finally:
            spool.close()
        yield (
            0,
            {
                "member": member.name,
                "filename": filename,
                "sha256": digest,
                "size": size,
                "file": stored,
                "mime_type": mime_type,
                "sidecar": _jsonable(sidecar),
                "sidecar_name": sidecar_name,
                "from_file": _jsonable(from_file),
                "folder_date": _iso(folder_date(member.name)),
                "zip_time": _iso(self._zip_times.get((member.archive, member.name))),
            },
        )

    def _sidecar_members(self, member: archives.Member) -> list[archives.Member]:
        found = []
        for name in sidecar_names(member.name):
            sidecar = self._sidecars.get((member.archive, name))
            if sidecar is not None and sidecar not in found:
                found.append(sidecar)
        return found

    @staticmethod
    def _read_sidecar(sidecar: archives.Member) -> bytes:
        if sidecar.size > sidecars.SIDECAR_LIMIT:
            raise sidecars.SidecarError(f"it is {archives.human_size(sidecar.size)}, too large for a sidecar")
        try:
            with sidecar.open() as stream:
                return stream.read(sidecars.SIDECAR_LIMIT + 1)
        except (ItemError, zipfile.BadZipFile, EOFError, OSError, zlib.error) as exc:
            raise sidecars.SidecarError("it is damaged in the archive") from exc

    def transform(self, raw) -> Record:
        sidecar, from_file = raw.get("sidecar") or {}, raw.get("from_file") or {}

        def pick(key):
            value = sidecar.get(key)
            return value if value not in (None, "", []) else from_file.get(key)

        taken, time_source = None, None
        for source, value in (("sidecar", sidecar.get("taken")), ("file", from_file.get("taken")),
                              ("folder", raw.get("folder_date")), ("archive", raw.get("zip_time"))):  # fmt: skip
            if value:
                moment = datetime.datetime.fromisoformat(value)
                if moment.tzinfo is None and source == "sidecar":
                    moment = _zone_from_file(moment, from_file.get("taken"))
                taken, time_source = in_zone(moment, self.ctx.zone()), source
                break
        width, height = pick("width"), pick("height")
        geo = pick("geo") if self.config.get("include_location", True) else None
        ext = extension(raw["filename"])
        is_video = ext in VIDEO_EXTENSIONS or (raw.get("mime_type") or "").startswith("video/")
        unmapped = sorted(set(sidecar) - KNOWN - {"title", "description"})
        data = {
            "source": "apple-photos",
            "media_type": "video" if is_video else "photo",
            "start": taken.isoformat() if taken else None,
            "time_source": time_source,
            "geo": geo,
            "width": width,
            "height": height,
            "camera_make": pick("camera_make") or "",
            "camera_model": pick("camera_model") or "",
            "sha256": raw["sha256"],
            "filename": raw["filename"],
            "albums": sidecar.get("albums") or [],
            "keywords": sidecar.get("keywords") or [],
            "people": [{"name": name, "email": ""} for name in sidecar.get("people") or []],
            "file": raw["file"],
            "mime_type": raw["mime_type"],
            "size": raw["size"],
            "member": raw["member"],
            # Not the zip's name: the same export uploaded again under another name changes nothing.
            "sidecar": raw.get("sidecar_name") or None,
            "description": sidecar.get("description", ""),
        }
        if unmapped:
            data["extra"] = {key: sidecar[key] for key in unmapped}
        dims = media_match.dimensions(width, height)
        capture = media_match.capture_key(raw["filename"], taken if time_source in ("sidecar", "file") else None, dims)
        return Record(
            external_id=f"apple-photos:{raw['sha256']}",
            kind="photo",
            title=sidecar.get("title") or raw["filename"],
            summary=sidecar.get("description", ""),
            occurred_at=taken,
            data=data,
            version=media_match.version(raw["sha256"], capture),
            unmapped=unmapped,
        )


def _zone_from_file(moment: datetime.datetime, file_taken) -> datetime.datetime:
    """A sidecar's time without offset, with the offset the file's own headers give the same
    camera time (OffsetTimeOriginal, or the GPS fix: media_meta); as it was otherwise."""
    try:
        found = datetime.datetime.fromisoformat(file_taken) if file_taken else None
    except (TypeError, ValueError):
        return moment
    if found is not None and found.tzinfo is not None and found.replace(tzinfo=None) == moment:
        return found
    return moment


def in_zone(moment: datetime.datetime, zone) -> datetime.datetime:
    """A time without offset (EXIF without OffsetTimeOriginal, a dated folder, a zip's time) as the
    camera's clock showed it where the person lives; one with an offset as it was."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def _iso(value: datetime.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _jsonable(found: dict) -> dict:
    """The metadata as stored in a raw item (the job's raw items are JSON): times as ISO strings."""
    return {key: _iso(value) if isinstance(value, datetime.datetime) else value for key, value in found.items()}
