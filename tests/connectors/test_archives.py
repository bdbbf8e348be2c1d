"""The shared archive helpers (connectors/archives.py) with bad uploads, through the engine: a
damaged zip member, a zip cut short, a 0-byte file, CSV columns renamed."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from connectors.archives import Columns, Member, stream_batches
from connectors.base import Context
from connectors.errors import ConfigError, ItemError
from connectors.mint import Mint
from integrations.sync.engine import run_job
from integrations.sync.jobs import queue_sync
from tests.connectors.archive_helpers import import_files, items, zip_of, zip_opens
from tests.connectors.helpers import connect

MINT_HEADER = '"Date","Description","Original Description","Amount","Transaction Type","Category","Account Name"\n'


def mint_rows(start: int, count: int) -> str:
    return "".join(f'"1/{1 + n % 28}/2020","Shop {n}","SHOP {n}","{n}.00","debit","Misc","Card"\n'
                   for n in range(start, start + count))  # fmt: skip


@pytest.fixture
def mint(catalogue, owner):
    return connect(owner, "mint")


def test_a_damaged_member_is_reported_and_the_other_files_are_imported(mint, tmp_path):
    path = tmp_path / "bank.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("a/transactions.csv", MINT_HEADER + mint_rows(0, 5))
        archive.writestr("b/transactions.csv", MINT_HEADER + mint_rows(100, 400))
    data = bytearray(path.read_bytes())
    spot = data.index(b"SHOP 300")  # flip bytes inside the second member: its CRC no longer matches
    data[spot : spot + 8] = b"XXXX 300"
    path.write_bytes(bytes(data))

    job = import_files(mint, [str(path)])

    assert job.status == "partial"
    assert job.item_errors[-1]["error"].startswith("bank.zip: b/transactions.csv is damaged or cut short after ")
    assert "The records before that point were imported" in job.item_errors[-1]["error"]
    assert items(mint, data__account="Card").count() >= 5  # the first file whole, the second up to the damage


def test_a_zip_cut_short_fails_the_import_with_a_sentence_naming_it(mint, tmp_path):
    path = zip_of(tmp_path / "bank.zip", {"transactions.csv": MINT_HEADER + mint_rows(0, 50)})
    cut = tmp_path / "cut.zip"
    cut.write_bytes(Path(path).read_bytes()[:200])

    job = import_files(mint, [str(cut)])

    assert job.status == "failed"
    assert job.error_message == "cut.zip is not a readable zip archive: it is damaged or was cut short."
    assert job.remediation == "Download the export again and upload the complete file."
    assert items(mint).count() == 0


def test_an_empty_file_among_good_ones_is_named_and_the_rest_imported(mint, tmp_path):
    good = tmp_path / "transactions.csv"
    good.write_text(MINT_HEADER + mint_rows(0, 3))
    path = zip_of(tmp_path / "two.zip", {"x/transactions.csv": MINT_HEADER + mint_rows(10, 2)})
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("y/transactions.csv", "")
    job = import_files(mint, [str(good), path])
    assert job.status == "succeeded"  # an empty member is not a Mint file: it is simply not read
    assert items(mint).count() == 5

    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    job = import_files(mint, [str(empty)])
    assert job.status == "failed"
    assert job.error_message == "empty.csv is empty (0 bytes)."


def test_columns_are_matched_without_case_spaces_or_punctuation():
    columns = Columns(["order_date", "ORDER ID", "Total-Owed"], {"date": ["Order Date"], "id": ["Order ID"],
                      "total": ["Total Owed"]}, "f.csv")  # fmt: skip
    assert columns.row(["2020-01-01", "A1", "3.00"], "f.csv", 2) == {"date": "2020-01-01", "id": "A1", "total": "3.00"}
    with pytest.raises(ItemError, match=r"f.csv line 3: the row has 2 columns, the header 3 \(no Total-Owed\)"):
        columns.row(["2020-01-01", "A1"], "f.csv", 3)
    with pytest.raises(ConfigError, match=r"f.csv has no Amount column"):
        Columns(["Date"], {"amount": ["Amount"]}, "f.csv", required=("amount",))


def test_a_batch_never_splits_one_entry_so_every_cursor_resumes_exactly(tmp_path, settings):
    settings.SYNC_BATCH_SIZE = 2
    path = tmp_path / "entries.txt"
    path.write_text("x" * 100)
    files = [Member("", str(path), 100), Member("", str(path), 100)]

    def parse(member, stream):
        stream.read()
        for entry in range(4):
            for part in range(3):  # e.g. a day's three activity rings
                yield entry, {"id": f"{member.name[-1]}{entry}.{part}"}

    def run(cursor):
        return [(batch.cursor, [item["id"] for item in batch.items]) for batch in stream_batches(files, parse, cursor)]

    batches = run(None)
    everything = [item for _cursor, found in batches for item in found]
    assert len(everything) == 24
    for done, (cursor, _found) in enumerate(batches):
        already = [item for _cursor, found in batches[: done + 1] for item in found]
        rest = [item for _cursor, found in run(cursor) for item in found]
        assert already + rest == everything, cursor


def test_batches_estimate_the_total_from_the_bytes_read(tmp_path, settings):
    settings.SYNC_BATCH_SIZE = 500
    path = tmp_path / "transactions.csv"
    path.write_text(MINT_HEADER + mint_rows(0, 5000))
    ctx = Context(config={}, secrets={}, http=None, options={"archive_paths": [str(path)]})
    batches = list(Mint(ctx).list_changes(None))

    assert sum(len(b.items) for b in batches) == 5000
    # A tenth of the file stored (shorter rows than later ones), a little more read ahead: near 5000.
    assert 4000 <= batches[0].total <= 6000
    assert batches[-1].total == 5000


def test_a_cursor_left_by_another_upload_does_not_skip_the_start_of_this_one(mint, tmp_path):
    first = tmp_path / "first.csv"
    first.write_text(MINT_HEADER + mint_rows(0, 3))
    import_files(mint, [str(first)])
    assert mint.sync_cursor is not None  # the integration keeps the last position

    second = tmp_path / "second.csv"
    second.write_text(MINT_HEADER + mint_rows(100, 2))
    job = queue_sync(mint, options={"archive_paths": [str(second)]}, enqueue=False)  # not a backfill
    assert job.kind == "incremental"
    run_job(job.pk)
    assert items(mint).count() == 5


def test_an_upload_of_many_files_opens_its_zip_a_few_times_for_the_check_and_the_import(mint, tmp_path, monkeypatch):
    """Member.head and Member.open reuse one open zip within shared_zips(): the upload check, the
    choice of files and the import each open the zip once, not once per file (each opening reads
    the whole central directory). Outside an import nothing stays shared."""
    from connectors import archives

    files = {f"export/{n:03d}/transactions.csv": MINT_HEADER + mint_rows(n * 10, 2) for n in range(150)}
    files.update({f"export/notes/{n:03d}.txt": f"note {n}" for n in range(150)})
    path = zip_of(tmp_path / "mint.zip", files)
    opened = zip_opens(monkeypatch, path)
    assert "transactions.csv" in Mint.sniff([path])
    job = import_files(mint, [path])

    assert job.status == "succeeded", job.error_message
    assert items(mint).count() == 300
    assert len(opened) < 10
    assert archives._shared_zip(path) is None
    before = len(opened)
    assert Member(path, "export/000/transactions.csv", 1).head(6) == b'"Date"'
    assert len(opened) == before + 1  # alone, a head opens its zip


def test_an_upload_whose_export_cannot_be_read_says_why_not_that_it_is_another_export(tmp_path):
    """A zip holding the export zipped once more (a download re-zipped, a data request bundle), or
    only members that are refused, is named for what it is: "does not look like" would send the
    person looking for another file."""
    import io

    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("transactions.csv", MINT_HEADER + mint_rows(0, 3))
    nested = zip_of(tmp_path / "download.zip", {"Mint Export/transactions.zip": inner.getvalue()})
    with pytest.raises(ConfigError) as refused:
        Mint.sniff([nested])
    assert refused.value.message == (
        "download.zip holds another archive (transactions.zip) instead of a Mint transactions file."
    )
    assert refused.value.remediation == "Unzip transactions.zip and upload what it holds."

    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("transactions.csv", MINT_HEADER + " " * (8 * 1024 * 1024))
        archive.writestr("../transactions.csv", MINT_HEADER)
    with pytest.raises(ConfigError) as refused:
        Mint.sniff([str(bomb)])
    message = refused.value.message
    assert message.startswith("Nothing in bomb.zip could be read: bomb.zip: transactions.csv was skipped: ")
    assert "(a zip bomb)" in message
    assert "bomb.zip: ../transactions.csv was skipped: its name points outside the archive." in message


def test_a_zip_of_more_files_than_any_export_is_refused_before_its_directory_is_read(
    mint, tmp_path, settings, monkeypatch
):
    settings.ARCHIVE_MAX_ENTRIES = 100
    files = {f"export/{n:04d}.txt": "" for n in range(150)}
    files["export/transactions.csv"] = MINT_HEADER + mint_rows(0, 3)
    path = zip_of(tmp_path / "many.zip", files)
    opened = zip_opens(monkeypatch, path)
    with pytest.raises(ConfigError, match=r"many.zip holds 151 files, more than the import limit \(100\)"):
        Mint.sniff([path])
    job = import_files(mint, [path])
    assert job.status == "failed"
    assert job.error_message == "many.zip holds 151 files, more than the import limit (100)."
    assert opened == []

    # Past 65,535 files the end record says 0xFFFF: the ZIP64 record holds the count.
    zip64 = tmp_path / "zip64.zip"
    with zipfile.ZipFile(zip64, "w") as archive:
        for n in range(70_000):
            archive.writestr(f"f/{n}", b"")
    with pytest.raises(ConfigError, match=r"zip64.zip holds 70,000 files, more than the import limit \(100\)"):
        Mint.sniff([str(zip64)])
