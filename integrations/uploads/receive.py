"""Receiving an archive in chunks: create the upload, append chunks at the server's offset, hash.

A chunk is accepted only at the offset the server has stored (the client asks for it after a
dropped connection or a reload, and sends the rest). While it is written the upload holds a short
lease taken by a conditional UPDATE, as the sync engine claims jobs, so two requests (a retry
racing its original, two web processes) never write at once. Bytes past the stored offset (a
chunk cut off mid-way) are truncated before the next write: the file is always exactly `offset`
bytes of what the client sent.

Hashing: hashlib objects cannot be stored or pickled, so each web process keeps the running
SHA-256 of the uploads it is receiving, with the offset it covers. A chunk that arrives in the
same process continues it; one that arrives elsewhere (another process, a restart, a resume the
next day) first hashes the bytes stored since that hasher's offset, reading them back from disk.
Each process therefore reads every byte at most once, and the digest is always that of the bytes
on disk.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import os
import shutil
import threading
from collections import OrderedDict

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from connectors import archives
from integrations.models import IntegrationType, Upload, UploadStatus
from integrations.uploads import storage
from integrations.uploads.problems import UploadProblem

log = logging.getLogger(__name__)

READ = 1024 * 1024
LEASE = datetime.timedelta(seconds=120)
KEEP_HASHERS = 32


def expiry() -> datetime.datetime:
    return timezone.now() + datetime.timedelta(hours=settings.UPLOAD_EXPIRE_HOURS)


def _size_text(size: int) -> str:
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


# -- creating ---------------------------------------------------------------------------------


def _whole_bytes(value) -> int | None:
    """A size in bytes as a client may send it (a JSON integer, or its digits as a string); None
    for anything else: int() would read 1.5 as 1 and true as 1, and a wrong size only shows much
    later, as an upload that never completes."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None  # 1e400 is infinity: not an integer
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return None


def create_upload(
    user, itype: IntegrationType, *, filename: str, size, integration=None, fingerprint: str = ""
) -> tuple[Upload, bool]:
    """(upload, created). The same file announced again (same target, name, size and fingerprint)
    while unfinished gives back the upload to resume, with its offset."""
    name = storage.safe_filename(filename)
    if storage.extension(name) not in storage.ARCHIVE_EXTENSIONS:
        raise UploadProblem(
            f"{name} is not a kind of file the hub imports.",
            remediation="Upload the export as the service sent it: "
            + ", ".join(f".{ext}" for ext in storage.ARCHIVE_EXTENSIONS)
            + ".",
            field="filename",
        )
    size = _whole_bytes(size)
    if size is None:
        raise UploadProblem("Say the file's size in bytes, a whole number (e.g. 1048576).", field="size")
    if size <= 0:
        raise UploadProblem(f"{name} is empty.", remediation="Choose the export file itself.", field="size")
    limit = settings.UPLOAD_MAX_BYTES
    if size > limit:
        raise UploadProblem(
            f"{name} is {_size_text(size)}; this hub accepts files up to {_size_text(limit)}.",
            remediation="Ask the operator to raise UPLOAD_MAX_BYTES, or split the export (Google Takeout "
            "can make several smaller zips).",
            field="size",
            status=413,
        )
    fingerprint = str(fingerprint or "")[:100]
    same = Upload.objects.filter(
        user=user,
        type=itype,
        integration=integration,
        filename=name,
        size=size,
        fingerprint=fingerprint,
        status=UploadStatus.UPLOADING,
    ).first()
    if same is not None:
        return same, False
    unfinished = Upload.objects.filter(user=user, status=UploadStatus.UPLOADING).count()
    if unfinished >= settings.UPLOAD_MAX_CONCURRENT:
        raise UploadProblem(
            f"You already have {unfinished} unfinished uploads.",
            remediation="Finish or cancel one of them first (they are listed on the upload page).",
            status=409,
        )
    root = storage.user_root(user.pk)
    root.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(root).free
    if size > free:
        raise UploadProblem(
            f"The hub's server has only {_size_text(free)} of free space, too little for {name}.",
            remediation="Ask the operator to free some space, then upload again.",
            status=507,
        )
    upload = Upload.objects.create(
        user=user,
        type=itype,
        integration=integration,
        filename=name,
        size=size,
        fingerprint=fingerprint,
        expires_at=expiry(),
    )
    storage.folder(upload).mkdir(parents=True, exist_ok=True)
    return upload, True


# -- the first bytes ----------------------------------------------------------------------------


def _looks_like_text(head: bytes) -> bool:
    return b"\x00" not in head[:4096]


def first_bytes_problem(name: str, head: bytes) -> str | None:
    """Why these first bytes cannot start a file of this extension, or None. Refusing here saves
    sending gigabytes of the wrong file; the connector's own check comes once the file is whole."""
    ext = storage.extension(name)
    if ext != "zip" and archives.sniff_encoding(head).startswith("utf-16"):
        # A UTF-16 text export (Excel's "Unicode text", a Notepad re-save), with or without a byte
        # order mark: read as the import will read it.
        head = archives.decode_head(head).encode("utf-8")
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if ext == "zip":
        ok = head.startswith((b"PK\x03\x04", b"PK\x05\x06"))
        kind = "a zip archive"
    elif ext in ("xml", "html", "htm"):
        ok = stripped.startswith(b"<")
        kind = "an XML or HTML file"
    elif ext == "json":
        ok = stripped[:1] in (b"[", b"{")
        kind = "a JSON file"
    elif ext in ("ofx", "qfx"):
        ok = stripped.upper().startswith((b"OFXHEADER", b"<?XML", b"<OFX"))
        kind = "an OFX file"
    elif ext == "qif":
        ok = stripped.startswith(b"!")
        kind = "a QIF file"
    else:
        ok = _looks_like_text(head)
        kind = "a text file"
    return None if ok else f"{name} does not start like {kind}: it is probably not the export it is named after."


# -- chunks -----------------------------------------------------------------------------------


class _Hashers:
    """This process's running SHA-256 per upload: {upload id: (offset covered, hasher)}."""

    def __init__(self):
        self.lock = threading.Lock()
        self.items: OrderedDict = OrderedDict()

    def at(self, upload: Upload, offset: int):
        """A hasher covering exactly the first `offset` bytes of the stored file."""
        with self.lock:
            covered, hasher = self.items.pop(upload.pk, (0, None))
        if hasher is None or covered > offset:
            covered, hasher = 0, hashlib.sha256()
        if covered < offset:  # bytes another process received (or a restart forgot): read them back
            with open(storage.path_of(upload), "rb") as handle:
                handle.seek(covered)
                remaining = offset - covered
                while remaining:
                    piece = handle.read(min(READ, remaining))
                    if not piece:
                        raise OSError("the stored file is shorter than its offset")
                    hasher.update(piece)
                    remaining -= len(piece)
        return hasher

    def keep(self, upload: Upload, offset: int, hasher):
        with self.lock:
            self.items[upload.pk] = (offset, hasher)
            while len(self.items) > KEEP_HASHERS:
                self.items.popitem(last=False)

    def forget(self, upload_id):
        with self.lock:
            self.items.pop(upload_id, None)


HASHERS = _Hashers()


def parse_content_range(header: str) -> tuple[int, int, int | None] | None:
    """`bytes START-END/TOTAL` (END inclusive, TOTAL may be *) -> (start, length, total)."""
    unit, _, spec = header.strip().partition(" ")
    if unit.lower() != "bytes" or "/" not in spec:
        return None
    span, _, total = spec.partition("/")
    start, _, end = span.partition("-")
    try:
        first, last = int(start), int(end)
        whole = None if total.strip() == "*" else int(total)
    except ValueError:
        return None
    if first < 0 or last < first:
        return None
    return first, last - first + 1, whole


def receive_chunk(upload: Upload, *, start: int, length: int, stream, total: int | None = None) -> Upload:
    """Write `length` bytes read from `stream` at `start`, which must be the stored offset.
    Returns the upload as stored afterwards; raises UploadProblem (409 with the offset to resume
    from when the client is out of step)."""
    if upload.status != UploadStatus.UPLOADING:
        raise UploadProblem(
            f"{upload.filename} is already {upload.get_status_display().lower()}; it takes no more bytes.",
            status=409,
            code="not_uploading",
        )
    if total is not None and total != upload.size:
        raise UploadProblem(
            f"This upload was created for {upload.size} bytes, not {total}.",
            remediation="Start a new upload for a different file.",
            status=400,
        )
    if start != upload.offset:
        raise UploadProblem(
            f"The server has {upload.offset} bytes of {upload.filename}; send the rest from there.",
            status=409,
            code="offset_mismatch",
        )
    if length <= 0:
        raise UploadProblem("The chunk is empty.", status=400)
    if length > settings.UPLOAD_CHUNK_MAX_BYTES:
        raise UploadProblem(
            f"A chunk may be at most {_size_text(settings.UPLOAD_CHUNK_MAX_BYTES)}.",
            remediation="Send the file in smaller chunks.",
            status=413,
        )
    if start + length > upload.size:
        raise UploadProblem(f"The chunk goes past the end of the file ({upload.size} bytes).", status=400)
    now = timezone.now()
    claimed = (
        Upload.objects.filter(pk=upload.pk, status=UploadStatus.UPLOADING, offset=start)
        .filter(Q(receiving_until__isnull=True) | Q(receiving_until__lt=now))
        .update(receiving_until=now + LEASE)
    )
    if not claimed:
        upload.refresh_from_db()
        raise UploadProblem(
            f"Another chunk of {upload.filename} is being received; the server has {upload.offset} bytes.",
            remediation="Wait for it, then ask the server for its offset and go on from there.",
            status=409,
            code="offset_mismatch",
        )
    try:
        digest = _write(upload, start, length, stream)
    except BaseException:
        Upload.objects.filter(pk=upload.pk).update(receiving_until=None)
        raise
    end = start + length
    fields = {"offset": end, "receiving_until": None, "expires_at": expiry(), "updated_at": timezone.now()}
    if end == upload.size:
        fields.update(status=UploadStatus.COMPLETE, sha256=digest.hexdigest())
        HASHERS.forget(upload.pk)
    updated = Upload.objects.filter(pk=upload.pk, offset=start).update(**fields)
    if not updated and not Upload.objects.filter(pk=upload.pk).exists():
        # Removed while this chunk was written (by its owner, or the expiry sweep): the folder was
        # deleted before these bytes landed, and no row is left to remove them later.
        HASHERS.forget(upload.pk)
        storage.remove_files(upload.user_id, upload.pk)
        raise UploadProblem(f"{upload.filename} was removed while this chunk arrived.", status=404, code="not_found")
    upload.refresh_from_db()
    return upload


def _write(upload: Upload, start: int, length: int, stream):
    path = storage.path_of(upload)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.touch()
    if path.stat().st_size < start:  # the stored bytes went missing: the client must start again
        Upload.objects.filter(pk=upload.pk).update(offset=0)
        HASHERS.forget(upload.pk)
        raise UploadProblem(
            f"The part of {upload.filename} already sent is gone from the server; it must be sent again.",
            status=409,
            code="offset_mismatch",
        )
    hasher = HASHERS.at(upload, start).copy()
    with open(path, "r+b") as handle:
        handle.truncate(start)  # anything past the offset is a chunk that never finished
        handle.seek(start)
        remaining, first = length, start == 0
        while remaining:
            piece = stream.read(min(READ, remaining))
            if not piece:
                break
            if first:
                first = False
                if problem := first_bytes_problem(upload.filename, piece):
                    handle.truncate(0)
                    reject(upload, problem)
                    raise UploadProblem(problem, remediation=_export_hint(upload), status=422, code="wrong_export")
            handle.write(piece)
            hasher.update(piece)
            remaining -= len(piece)
        if remaining:
            handle.truncate(start)
            raise UploadProblem(
                f"The connection dropped after {length - remaining} of {length} bytes of this chunk.",
                remediation="Ask the server for its offset and send the chunk again.",
                status=400,
                code="incomplete_chunk",
            )
        handle.flush()
        os.fsync(handle.fileno())
    HASHERS.keep(upload, start + length, hasher.copy())
    return hasher


def _export_hint(upload: Upload) -> str:
    return f"Choose the {upload.type.display_name} export file and upload it again."


def reject(upload: Upload, message: str) -> None:
    """Not the right export: say so on the upload and drop its bytes."""
    Upload.objects.filter(pk=upload.pk).update(
        status=UploadStatus.REJECTED, detail=message[:1000], receiving_until=None, updated_at=timezone.now()
    )
    HASHERS.forget(upload.pk)
    storage.remove_files(upload.user_id, upload.pk)
    upload.refresh_from_db()


def receive_whole_file(user, itype: IntegrationType, uploaded, *, integration=None) -> Upload:
    """A file posted in one plain form (the upload page without JavaScript): Django has spooled it
    to a temporary file; it goes through the same chunk path (first-bytes check, hashing)."""
    upload, _created = create_upload(
        user, itype, filename=uploaded.name, size=uploaded.size, integration=integration, fingerprint="form"
    )
    uploaded.seek(0)
    while upload.offset < upload.size:
        length = min(settings.UPLOAD_CHUNK_MAX_BYTES, upload.size - upload.offset)
        upload = receive_chunk(upload, start=upload.offset, length=length, stream=uploaded)
    return upload
