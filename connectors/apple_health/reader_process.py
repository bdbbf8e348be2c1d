"""The reader process (see reader.py): parses export.xml from stdin, as AppleHealth.parse_here does
in the worker, and writes what it yields to stdout as framed lists of plain values (reader.dumps)."""

from __future__ import annotations

import gc
import json
import sys

from connectors.apple_health.connector import AppleHealth
from connectors.apple_health.reader import FRAME, FRAME_ENTRIES, dumps
from connectors.archives import Member
from connectors.base import Context
from connectors.errors import ItemError


def _serve():
    """The child: parse stdin (a JSON header line, then export.xml) and write framed answers."""
    # What it allocates by the million (samples: dicts of strings and numbers) holds no cycles and
    # is freed by reference counting; the cyclic collector would only rescan it. The process is
    # short-lived and its memory bounded by the open groups.
    gc.disable()
    stdin = sys.stdin.buffer
    header = json.loads(stdin.readline())
    member = Member(*header["member"])
    connector = AppleHealth(Context(config=header["config"], secrets={}, http=None))
    out = sys.stdout.buffer
    frame = []

    def send(value):
        data = dumps(value)
        out.write(FRAME.pack(len(data)) + data)

    for entry, thing in connector.parse_here(member, stdin):
        if isinstance(thing, ItemError):
            thing = ("error", str(thing), thing.external_id)
        frame.append((entry, thing))
        if len(frame) >= FRAME_ENTRIES:
            send(frame)
            frame = []
    if frame:
        send(frame)
    send("end")
    out.flush()


if __name__ == "__main__":
    _serve()
