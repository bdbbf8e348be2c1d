"""Where uploaded archives live: MEDIA_ROOT/uploads/<user id>/<upload id>/<file name>.

MEDIA_ROOT is not served by any URL (no MEDIA_URL route, whitenoise serves only static files), so
these files are reachable only through the import. Each upload has its own folder, named by its
random id, so two files of the same name never meet and removing an upload removes its folder.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
from pathlib import Path

from django.conf import settings

log = logging.getLogger(__name__)

ROOT = "uploads"
# Other per-user folders of imported media (the Google Photos connector's content-addressed
# files): they go with the account too.
USER_MEDIA_FOLDERS = (ROOT, "google-photos")
ARCHIVE_EXTENSIONS = ("zip", "xml", "json", "csv", "txt", "html", "htm", "qif", "ofx", "qfx")
UNSAFE = re.compile(r"[^A-Za-z0-9._()\- ]+")


def safe_filename(name: str) -> str:
    """The file's own name without any folder, with only harmless characters, at most 120 long
    (keeping the extension, which the connectors read)."""
    base = str(name).replace("\\", "/").rsplit("/", 1)[-1].strip()
    base = UNSAFE.sub("_", base).strip(". ") or "archive"
    stem, dot, ext = base.rpartition(".")
    if dot and len(base) > 120:
        base = f"{stem[: 119 - len(ext)]}.{ext}"
    return base[:120]


def extension(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def user_root(user_id) -> Path:
    return Path(settings.MEDIA_ROOT) / ROOT / str(int(user_id))


def folder(upload) -> Path:
    return user_root(upload.user_id) / upload.pk.hex


def path_of(upload) -> Path:
    return folder(upload) / upload.filename


def remove_files(user_id, upload_id) -> None:
    """Delete one upload's folder (its file and anything half-written), then the user's folder
    when it is left empty."""
    root = user_root(user_id)
    shutil.rmtree(root / upload_id.hex, ignore_errors=True)
    with contextlib.suppress(OSError):  # other uploads are still there, or it never existed
        root.rmdir()


def remove_user_media(user_id) -> None:
    """Everything stored on disk for a deleted account."""
    for name in USER_MEDIA_FOLDERS:
        target = Path(settings.MEDIA_ROOT) / name / str(int(user_id))
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
            log.info("Removed the files of deleted account %s under %s/", user_id, name)


def remove_unheld_media(user_id, names) -> None:
    """Imported media files (content-addressed: one file for every record of the person holding
    the same bytes) that no record of the person holds any more, after records were deleted."""
    from django.core.files.storage import default_storage

    from integrations.models import SyncedItem

    prefixes = tuple(f"{folder}/{int(user_id)}/" for folder in USER_MEDIA_FOLDERS if folder != ROOT)
    names = sorted({n for n in names if isinstance(n, str) and n.startswith(prefixes) and ".." not in n})
    for start in range(0, len(names), 500):
        chunk = names[start : start + 500]
        held = set(
            SyncedItem.objects.filter(user_id=user_id, data__file__in=chunk).values_list("data__file", flat=True)
        )
        for name in chunk:
            if name not in held:
                default_storage.delete(name)
                # What the Google Photos Picker said about it, kept beside the bytes
                # (connectors.google.media_store.remember_pick): it goes with them.
                folder, _, filename = name.rpartition("/")
                default_storage.delete(f"{folder}/{filename.split('.', 1)[0]}.pick.json")
