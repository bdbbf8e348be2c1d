"""Reading a Spotify account-data export, one JSON file at a time.

Accepted: the zip Spotify sends (my_spotify_data.zip or my_spotify_extended_streaming_history.zip),
a folder of its JSON files, or single JSON files. Recognised files:
- extended streaming history: Streaming_History_Audio_*.json (older: endsong_*.json), entries
  with ts (UTC, to the second), ms_played, spotify_track_uri, master_metadata_* names,
  reason_start/reason_end, shuffle, skipped, offline, platform, conn_country;
- account data: StreamingHistory*.json / StreamingHistory_music_*.json, entries with endTime
  ("2023-01-05 14:03", UTC, to the minute), artistName, trackName, msPlayed.
Podcast and video history (episodes) are not imported, like the API side. IP addresses and user
agents in the extended history are deliberately not kept.
https://support.spotify.com/article/understanding-my-data/
"""

from __future__ import annotations

import datetime
import json
import re
import zipfile
from pathlib import Path

from connectors import archives
from connectors.errors import ConfigError, ItemError

MUSIC_FILE = re.compile(
    r"(^|/)(Streaming_History_Audio_[^/]*|endsong_\d+|StreamingHistory\d+|StreamingHistory_music_\d+)\.json$", re.I
)
DROPPED = {"ip_addr", "ip_addr_decrypted", "user_agent_decrypted", "username"}
EXTENDED_KNOWN = {
    "ts", "platform", "ms_played", "conn_country", "master_metadata_track_name", "master_metadata_album_artist_name",
    "master_metadata_album_album_name", "spotify_track_uri", "episode_name", "episode_show_name",
    "spotify_episode_uri", "reason_start", "reason_end", "shuffle", "skipped", "offline", "offline_timestamp",
    "incognito_mode", "audiobook_title", "audiobook_uri", "audiobook_chapter_uri", "audiobook_chapter_title",
} | DROPPED  # fmt: skip


# Each history file is read whole (json.load): Spotify's are about 12 MB at most (some 16,000 plays),
# so one far larger is not one of them and is refused rather than read into memory (a JSON file takes
# several times its size as Python objects).
MAX_FILE_BYTES = 64 * 1024 * 1024


def export_files(paths: list[str], refused: list[ItemError] | None = None) -> list[tuple[str, str, str]]:
    """(container, member, label) of every music history file, in a stable order. A container is
    a zip path ("" for a plain file). A file that must not be read (a zip member named outside the
    archive, a zip bomb, a file too large to be a history file) is left out and named in `refused`;
    when nothing else is left, ConfigError says why."""
    found, skipped = [], []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise ConfigError(f"{raw} does not exist.", remediation="Check the path of the Spotify export.")
        candidates = []  # (container, member, label, why it must not be read)
        if path.is_dir():
            for p in sorted(path.rglob("*.json")):
                if MUSIC_FILE.search(p.name):
                    candidates.append(("", str(p), p.name, _too_large(p.stat().st_size)))
        elif zipfile.is_zipfile(path):
            with archives.open_zip(str(path)) as archive:
                infos = [i for i in archive.infolist() if MUSIC_FILE.search(i.filename)]
            for info in sorted(infos, key=lambda i: i.filename):
                reason = archives.unsafe_reason(info) or _too_large(info.file_size)
                candidates.append((str(path), info.filename, f"{path.name}: {info.filename}", reason))
        elif path.suffix.lower() == ".json":
            candidates.append(("", str(path), path.name, _too_large(path.stat().st_size)))
        else:
            raise ConfigError(
                f"{path.name} is neither a zip, a folder nor a JSON file.",
                remediation="Use the zip Spotify sent, or the JSON files inside it.",
            )
        for container, member, label, reason in candidates:
            if reason:
                skipped.append((label, f"{label} was skipped: {reason}."))
            else:
                found.append((container, member, member if container else label))
    if not found:
        raise ConfigError(
            " ".join(["No streaming history could be read from the export.", *(m for _, m in skipped[:3])])
            if skipped
            else "No streaming history was found in the export.",
            remediation="Use the account-data or extended streaming history export; it holds "
            "StreamingHistory*.json or Streaming_History_Audio_*.json files.",
        )
    if refused is not None:
        refused += [ItemError(message, external_id=label[:300]) for label, message in skipped]
    return found


def _too_large(size: int) -> str:
    if size > MAX_FILE_BYTES:
        return f"at {archives.human_size(size)} it is far larger than a Spotify streaming history file"
    return ""


def describe(paths: list[str]) -> str:
    """What these files are ("Spotify streaming history: 3 files"), checked from the zip listing
    and the first bytes of each history file, without reading the plays; ConfigError when they
    are not a Spotify export."""
    files = export_files(paths)
    for container, member, label in files:
        if container:
            with zipfile.ZipFile(container) as archive, archive.open(member) as handle:
                head = handle.read(4096)
        else:
            with open(member, "rb") as handle:
                head = handle.read(4096)
        text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
        empty = text[1:].lstrip().startswith("]")
        if not text.startswith("[") or not (empty or '"ts"' in text or '"endTime"' in text):
            raise ConfigError(
                f"{Path(label).name} is not a Spotify streaming history file.",
                remediation="Use the zip Spotify sent (my_spotify_data.zip), or the StreamingHistory JSON files in it.",
            )
    return f"Spotify streaming history: {len(files)} file{'s' if len(files) != 1 else ''}"


def read_entries(container: str, member: str) -> list:
    try:
        if container:
            with zipfile.ZipFile(container) as archive, archive.open(member) as handle:
                data = json.load(handle)
        else:
            with open(member, "rb") as handle:
                data = json.load(handle)
    except (ValueError, UnicodeDecodeError, zipfile.BadZipFile, OSError) as exc:
        raise ConfigError(
            f"{Path(member).name} could not be read as JSON ({type(exc).__name__}).",
            remediation="Use the files exactly as Spotify sent them; a file cut short by a download cannot be read.",
        ) from None
    if not isinstance(data, list):
        raise ConfigError(f"{Path(member).name} is not a Spotify streaming history file (no list of plays).")
    return data


def _utc(text: str, fmt: str | None = None) -> datetime.datetime:
    if fmt:
        return datetime.datetime.strptime(text, fmt).replace(tzinfo=datetime.UTC)
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(datetime.UTC)


def parse(entry: dict) -> dict | None:
    """A normalised play, or None for entries that are not music (episodes, audiobooks)."""
    if not isinstance(entry, dict):
        raise ValueError("an entry is not an object")
    if "ts" in entry:
        uri = entry.get("spotify_track_uri") or ""
        if not isinstance(uri, str) or not isinstance(entry["ts"], str):
            raise ValueError("its ts or spotify_track_uri is not text")
        if not uri.startswith("spotify:track:"):
            return None
        _duration(entry.get("ms_played"))
        return {
            "precision": "second",
            "track_id": uri.rsplit(":", 1)[1],
            "ended": _utc(entry["ts"]),
            "artist": entry.get("master_metadata_album_artist_name") or "",
            "track": entry.get("master_metadata_track_name") or "",
            "album": entry.get("master_metadata_album_album_name") or "",
            "ms_played": entry.get("ms_played"),
            "reason_start": entry.get("reason_start"),
            "reason_end": entry.get("reason_end"),
            "shuffle": entry.get("shuffle"),
            "skipped": entry.get("skipped"),
            "offline": entry.get("offline"),
            "platform": entry.get("platform"),
            "country": entry.get("conn_country"),
            "extra": {k: v for k, v in entry.items() if k not in EXTENDED_KNOWN},
        }
    if "endTime" in entry:
        if not entry.get("trackName") or "episodeName" in entry or "podcastName" in entry:
            return None
        if not isinstance(entry["endTime"], str):
            raise ValueError("its endTime is not text")
        _duration(entry.get("msPlayed"))
        return {
            "precision": "minute",
            "ended": _utc(entry["endTime"], "%Y-%m-%d %H:%M"),
            "artist": entry.get("artistName") or "",
            "track": entry["trackName"],
            "ms_played": entry.get("msPlayed"),
        }
    raise ValueError("neither ts nor endTime: not a streaming history entry")


def _duration(value) -> None:
    """ms_played must be a whole number of milliseconds a listen can last (under a year)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 366 * 86_400_000:
        raise ValueError(f"its ms_played {str(value)[:20]!r} is not a duration")
