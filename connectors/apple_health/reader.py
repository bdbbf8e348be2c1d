"""Reading a big export.xml in a second process, so the import uses both cores.

An Apple Health import is two halves of about equal cost: parsing the XML and grouping millions of
samples into day series (pure Python over lxml), and merging, hashing and storing those series
(the worker and its database). In one process they take turns; here the parse runs in a child
process (reader_process.py) while the worker stores what the child has
already read. The child runs exactly the in-process code (AppleHealth._parse) on the bytes the
worker sends it, so what is imported, in which order and with which messages, is the same.

The worker keeps everything that touches the upload and the database: it reads the file (so a
damaged zip is still reported as TruncatedFile naming the file, and progress still counts bytes)
and writes it to the child's stdin from a thread; a second thread reads the child's answers into a
queue bounded in bytes, so the child can run about one batch ahead and memory stays bounded. The
answers are lists of plain values (dicts, tuples, strings, numbers) in the marshal format, which
decodes about 3.5 times faster than the restricted unpickler used before (the largest part of the
worker's own time). marshal knows only built-in types and never looks up a class or calls
anything while decoding (a code object it could build is never run here), but Python's documentation
warns it is not hardened against malformed or malicious bytes: it is fine here because only this
module's child, running the same Python and code as the worker, writes them (the export's contents
reach the frames only as string and number values).

Both threads need the worker's GIL, which its main thread (merging, hashing, storing) holds for
up to the interpreter's switch interval (5 ms) at a time; with the default 64 KB pipes the child,
which reads 64 KB in about 1 ms, starved between the GIL hand-overs. The pipes are enlarged to
1 MB (Linux) and the file is written in 1 MB pieces, so the child has about 20 ms of work buffered
each way.
If the worker stops early (a cancelled job, a lost lease) the child is killed; if the child dies,
the import stops with a message naming the file, and what was stored before stays.
"""

from __future__ import annotations

import contextlib
import json
import marshal
import os
import queue
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from connectors.errors import ItemError

FRAME = struct.Struct("!I")
# Read from a zip member as the in-process parse reads it, so a damaged zip loses no more and its
# message names the same offset; a plain file in big reads (each read waits for the GIL again).
ZIP_CHUNK = 64 * 1024
BUFFERED_BYTES = 8 * 1024 * 1024  # the child may run this far ahead of the worker (a few batches)
FRAME_ENTRIES = 64  # entries sent together (a day's group is one entry)
PIPE_BYTES = 1024 * 1024  # Linux's default pipe-max-size for an unprivileged process
WRITE_BYTES = 1024 * 1024
_DONE = object()
ROOT = Path(__file__).resolve().parents[2]
COMMAND = [sys.executable, "-m", "connectors.apple_health.reader_process"]


def dumps(value) -> bytes:
    """A frame's bytes (in the child): ValueError for anything but built-in values."""
    return marshal.dumps(value)


def _loads(data: bytes):
    return marshal.loads(data)  # noqa: S302 - our own child's frames; values only (module docstring)


def _enlarge(pipe) -> None:
    with contextlib.suppress(ImportError, AttributeError, OSError):  # not Linux, or a lower pipe-max-size
        import fcntl

        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)


class _Answers:
    """The child's frames, read by a thread into a queue bounded by their total size."""

    def __init__(self, stdout):
        self._stdout = stdout
        self._queue: queue.Queue = queue.Queue()
        self._room = threading.Condition()
        self._buffered = 0
        self._closed = False
        self.thread = threading.Thread(target=self._run, name="health-reader-out", daemon=True)
        self.thread.start()

    def _run(self):
        try:
            while True:
                head = self._stdout.read(FRAME.size)
                if len(head) < FRAME.size:
                    break
                (size,) = FRAME.unpack(head)
                data = self._stdout.read(size)
                if len(data) < size:
                    break
                with self._room:
                    while self._buffered > BUFFERED_BYTES and not self._closed:
                        self._room.wait()
                    if self._closed:
                        break
                    self._buffered += size
                self._queue.put(data)
        except (OSError, ValueError):  # the pipe closed under us: the worker is stopping
            pass
        finally:
            self._queue.put(_DONE)

    def close(self):
        """The worker stops reading (a cancelled job): a thread waiting for room must not wait on."""
        with self._room:
            self._closed = True
            self._room.notify_all()

    def __iter__(self):
        while True:
            data = self._queue.get()
            if data is _DONE:
                return
            with self._room:
                self._buffered -= len(data)
                self._room.notify()
            yield _loads(data)


class _Feeder:
    """Copies the upload's stream to the child's stdin; keeps the stream's own error (a damaged zip)
    to raise in the worker once the child has said everything it read before it."""

    def __init__(self, stream, stdin, header: bytes, read_size: int):
        self._stream, self._stdin, self._header, self._read_size = stream, stdin, header, read_size
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="health-reader-in", daemon=True)
        self.thread.start()

    def _run(self):
        pending, size = [self._header], len(self._header)
        try:
            while True:
                chunk = self._stream.read(self._read_size)
                if not chunk:
                    break
                pending.append(chunk)
                size += len(chunk)
                if size >= WRITE_BYTES:
                    self._stdin.write(b"".join(pending))
                    pending, size = [], 0
            self._stdin.write(b"".join(pending))
        except (BrokenPipeError, ValueError):  # the child is gone (or killed): its exit says why
            pass
        except BaseException as exc:  # noqa: BLE001 - re-raised in the worker's thread
            self.error = exc
            with contextlib.suppress(OSError, ValueError):  # what was read before the damage is parsed
                self._stdin.write(b"".join(pending))
        finally:
            with contextlib.suppress(OSError):
                self._stdin.close()


def parse_in_child(member, stream, config: dict):
    """What AppleHealth._parse(member, stream, ...) yields, parsed by a child process: (entry,
    raw | ("error", message, external_id))."""
    described = {"config": config, "member": [member.archive, member.name, member.size]}
    header = json.dumps(described, default=str).encode() + b"\n"
    with tempfile.TemporaryFile() as stderr:
        child = subprocess.Popen(  # noqa: S603 - our own module, no shell, no user input in the command
            COMMAND,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, cwd=str(ROOT),
            env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))},
        )  # fmt: skip
        _enlarge(child.stdin)
        _enlarge(child.stdout)
        answers = _Answers(child.stdout)
        feeder = _Feeder(stream, child.stdin, header, ZIP_CHUNK if member.archive else WRITE_BYTES)
        finished = False
        try:
            for frame in answers:
                if frame == "end":
                    finished = True
                    continue
                yield from frame
            child.wait()
            feeder.thread.join()
            if feeder.error is not None:
                raise feeder.error
            if not finished or child.returncode:
                stderr.seek(0)
                detail = stderr.read()[-2000:].decode("utf-8", "replace").strip().splitlines()
                reason = detail[-1] if detail else f"exit status {child.returncode}"
                raise ItemError(
                    f"{member.label}: reading stopped part-way ({reason[:300]}); the records read before "
                    "that point were imported. Try the import again; if it stops at the same place, the file "
                    "is damaged.",
                    external_id=member.label,
                )
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            answers.close()
            child.stdout.close()
            answers.thread.join(timeout=30)
            feeder.thread.join(timeout=30)
