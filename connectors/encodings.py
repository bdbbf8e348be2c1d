"""Text that should be UTF-8 and sometimes is not: what Windows tools wrote (Excel re-saves, old
Outlook feeds) holds Windows-1252 bytes. `UTF8_ELSE_CP1252` is a codec error handler reading each
byte that is not UTF-8 as Windows-1252, so "Café" stays "Café" instead of "Caf\ufffd"; the five bytes
cp1252 leaves undefined are read as Latin-1. Use: data.decode("utf-8", UTF8_ELSE_CP1252)."""

from __future__ import annotations

import codecs

UTF8_ELSE_CP1252 = "metacortex-cp1252"


def _cp1252_bytes(error: UnicodeDecodeError):
    bad = error.object[error.start : error.end]
    return "".join(bytes([b]).decode("cp1252", "ignore") or chr(b) for b in bad), error.end


codecs.register_error(UTF8_ELSE_CP1252, _cp1252_bytes)
