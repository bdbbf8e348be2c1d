"""The child process that parses a big export.xml (connectors/apple_health/reader.py). The import
tests in test_apple_health.py run every export through it too (the `health` fixture's "reader
process" case) and get the same records; these cover what only the process can do wrong."""

from __future__ import annotations

import datetime
import gc
import io
import os
import pickle
import sys
import threading
from pathlib import Path

import pytest

from connectors.apple_health import AppleHealth, reader
from connectors.archives import Member
from connectors.base import Context
from connectors.errors import ItemError
from tests.connectors.archive_helpers import import_files, items
from tests.connectors.helpers import connect
from tests.connectors.test_apple_health import export_xml, export_zip, record
from tests.waiting import wait_for


@pytest.fixture
def in_reader_process(monkeypatch):
    monkeypatch.setattr(AppleHealth, "reader_process_from", 0)


def _children() -> list[int]:
    """Reader processes started by this test process (Linux /proc; zombies are gone once waited for)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            status = (entry / "status").read_text()
            command = (entry / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        parent = next((line.split()[1] for line in status.splitlines() if line.startswith("PPid:")), "")
        if parent == str(os.getpid()) and b"connectors.apple_health.reader_process" in command:
            found.append(int(entry.name))
    return found


@pytest.mark.usefixtures("in_reader_process")
def test_a_reader_that_dies_stops_the_import_with_a_message_naming_the_file(catalogue, owner, tmp_path, monkeypatch):
    crash = "import sys; sys.stdin.buffer.read(10); sys.stderr.write('MemoryError: out of memory\\n'); sys.exit(1)"
    monkeypatch.setattr(reader, "COMMAND", [sys.executable, "-c", crash])
    health = connect(owner, "apple-health", config={"record_types": []})

    job = import_files(health, [export_zip(tmp_path, export_xml())])

    assert job.status in ("partial", "failed"), job.status
    messages = [e["error"] for e in job.item_errors] + [job.error_message or ""]
    assert any(
        m.startswith(
            "export.zip: apple_health_export/export.xml: reading stopped part-way (MemoryError: out of memory)"
        )
        for m in messages
    ), messages
    assert not _children()


def test_stopping_early_kills_the_reader(tmp_path, monkeypatch):
    monkeypatch.setattr(reader, "BUFFERED_BYTES", 1)  # the worker reads one frame ahead: the child must wait
    path = tmp_path / "export.xml"
    path.write_text(export_xml(steps=0, extra="".join(record(n, every=24 * 60) for n in range(5_000))))  # 5,000 days
    member = Member("", str(path), path.stat().st_size)
    with open(path, "rb") as stream:
        answers = reader.parse_in_child(member, stream, {"record_types": []})
        entry, first = next(answers)
        assert entry == 0
        assert first["record"] == "series"
        assert _children()  # blocked on its full pipe: it has thousands of days left to say
        answers.close()  # the job was cancelled, or its worker lost the lease
    wait_for(lambda: not _children(), seconds=60, explain=lambda: f"still running: {_children()}")
    # The thread that was waiting for room in the full buffer is gone too (not left waiting).
    assert not [t for t in threading.enumerate() if t.name.startswith("health-reader")]


def test_the_reader_gives_what_the_worker_parses_itself(tmp_path):
    path = tmp_path / "export.xml"
    path.write_text(export_xml(steps=300) + "<Record broken")
    member = Member("", str(path), path.stat().st_size)
    connector = AppleHealth(Context(config={"record_types": []}, secrets={}, http=None))

    with open(path, "rb") as stream:
        here = [(entry, str(t) if isinstance(t, ItemError) else t) for entry, t in connector.parse_here(member, stream)]
    with open(path, "rb") as stream:
        there = [
            (entry, f"{t[1]}" if isinstance(t, tuple) else t)
            for entry, t in reader.parse_in_child(member, stream, {"record_types": []})
        ]

    assert there == here
    assert any(isinstance(t, str) and "the XML is broken here" in t for _entry, t in here)


def test_the_reader_and_the_worker_exchange_only_plain_values():
    plain = [(0, {"id": "x", "samples": {("a", "b", 1.0, "", "count"): {"value": 1.0}}, "ok": None})]
    assert reader._loads(reader.dumps(plain)) == plain
    with pytest.raises(ValueError, match="unmarshallable"):  # the child cannot send an object of a class
        reader.dumps([(0, datetime.date(2024, 3, 1))])
    with pytest.raises((ValueError, EOFError, TypeError)):  # what is not a frame is refused, nothing is built
        reader._loads(pickle.dumps(io.BytesIO))


@pytest.mark.usefixtures("in_reader_process")
def test_a_config_with_a_since_date_reaches_the_reader(catalogue, owner, tmp_path):
    health = connect(owner, "apple-health", config={"record_types": ["steps"], "since": "2024-03-02"})
    job = import_files(health, [export_zip(tmp_path, export_xml())])
    assert job.status == "succeeded", job.error_message
    assert not items(health, kind="health_series").exists()  # every sample is from 1 March


@pytest.mark.usefixtures("in_reader_process")
def test_the_collector_is_paused_only_while_the_import_reads(catalogue, owner, tmp_path):
    health = connect(owner, "apple-health", config={"record_types": []})
    seen = []
    original = reader.parse_in_child

    def watching(*args, **kwargs):
        for found in original(*args, **kwargs):
            seen.append(gc.isenabled())
            yield found

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reader, "parse_in_child", watching)
        job = import_files(health, [export_zip(tmp_path, export_xml())])

    assert job.status == "succeeded", job.error_message
    assert seen
    assert not any(seen)
    assert gc.isenabled()


def test_a_cursor_from_another_numbering_of_the_entries_starts_the_upload_again(tmp_path):
    """An import interrupted before a deploy that changed how entries are numbered must not skip
    entries by the old count when it resumes: its cursor names another numbering, so the upload
    starts again (records are keyed: what was stored is merged, never stored twice)."""
    path = tmp_path / "export.xml"
    path.write_text(export_xml(steps=3))
    context = Context(config={"record_types": []}, secrets={}, http=None, options={"archive_paths": [str(path)]})
    connector = AppleHealth(context)
    first = next(iter(connector.list_changes(None)))
    upload = first.cursor["upload"]
    assert upload.endswith(f"#{AppleHealth.ENTRIES_VERSION}")

    def first_entries(cursor) -> list:
        return [item.get("id") for batch in connector.list_changes(cursor) for item in batch.items][:2]

    at_the_end = {**first.cursor, "index": 10_000}
    assert first_entries(at_the_end) == []  # this numbering: resumed where it stopped, nothing left
    older = {**at_the_end, "upload": upload.rsplit("#", 1)[0]}  # written before the numbering changed
    assert first_entries(older) == first_entries(None) != []
