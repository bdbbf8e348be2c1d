"""Kindle `My Clippings.txt` imports (connectors/kindle.py), through the engine: localized metadata
lines, extended highlights that replace the earlier shorter clipping, malformed clippings."""

from __future__ import annotations

import datetime

import pytest

from connectors.errors import ConfigError
from connectors.kindle import KindleHighlights, parse_metadata
from tests.connectors.archive_helpers import import_files, import_killed_after_first_batch_then_resumed, items
from tests.connectors.helpers import connect

SEP = "==========\n"


def clip(title: str, meta: str, text: str = "") -> str:
    return f"{title}\n{meta}\n\n{text}\n{SEP}"


BOOK = "\ufeffThe Sample Book (Doe, Jane)"
CLIPS = [
    clip(
        BOOK, "- Your Highlight on page 3 | Location 40-41 | Added on Sunday, March 1, 2020 10:00:00 PM", "Short words"
    ),
    clip(BOOK, "- Your Note on page 3 | Location 41 | Added on Sunday, March 1, 2020 10:01:00 AM", "My own thought"),
    clip(BOOK, "- Your Bookmark on page 5 | Location 70 | Added on Sunday, March 1, 2020 10:02:00 AM"),
    clip(
        BOOK,
        "- Your Highlight on page 3 | Location 39-43 | Added on Monday, March 2, 2020 9:00:00 AM",
        "Before. Short words and more after them.",
    ),
    clip("Another Book (Roe)", "- Your Highlight at location 12-13 | Added on Tuesday, 3 March 2020 08:00:00", "Tx"),
]
CLIPPINGS = "".join(CLIPS)


@pytest.mark.parametrize(
    ("line", "note_type", "start", "end", "added"),
    [
        ("- Your Highlight on page 12 | Location 180-185 | Added on Sunday, March 1, 2020 1:05:09 PM",
         "highlight", 180, 185, "2020-03-01T13:05:09+00:00"),
        ("- Ihre Markierung auf Seite 12 | Position 180-185 | Hinzugefügt am Sonntag, 1. März 2020 10:00:00",
         "highlight", 180, 185, "2020-03-01T10:00:00+00:00"),
        ("- Ihre Notiz auf Seite 12 | Position 185 | Hinzugefügt am Montag, 2. März 2020 10:00:00",
         "note", 185, 185, "2020-03-02T10:00:00+00:00"),
        ("- Votre surlignement sur la page 12 | emplacement 180-185 | Ajouté le dimanche 1 mars 2020 10:00:00",
         "highlight", 180, 185, "2020-03-01T10:00:00+00:00"),
        ("- Votre signet sur la page 12 | emplacement 180 | Ajouté le dimanche 1 mars 2020 10:00:00",
         "bookmark", 180, 180, "2020-03-01T10:00:00+00:00"),
        ("- Tu subrayado en la página 12 | posición 180-185 | Añadido el domingo, 1 de marzo de 2020 10:00:00",
         "highlight", 180, 185, "2020-03-01T10:00:00+00:00"),
        ("- Tu marcador en la página 12 | posición 180 | Añadido el domingo, 1 de marzo de 2020 10:00:00",
         "bookmark", 180, 180, "2020-03-01T10:00:00+00:00"),
        ("- Seu destaque na página 12 | posição 180-185 | Adicionado: domingo, 1 de março de 2020 10:00:00",
         "highlight", 180, 185, "2020-03-01T10:00:00+00:00"),
        ("- Sua nota na página 12 | posição 185 | Adicionado: domingo, 1 de março de 2020 10:00:00",
         "note", 185, 185, "2020-03-01T10:00:00+00:00"),
        ("- La tua evidenziazione a pagina 12 | posizione 180-185 | Aggiunto in data domenica 1 marzo 2020 10:00:00",
         "highlight", 180, 185, "2020-03-01T10:00:00+00:00"),
        ("- Il tuo segnalibro a pagina 12 | posizione 180 | Aggiunto in data domenica 1 marzo 2020 10:00:00",
         "bookmark", 180, 180, "2020-03-01T10:00:00+00:00"),
        ("- 12ページ|位置No. 180-185のハイライト |作成日: 2020年3月1日日曜日 22:00:00",
         "highlight", 180, 185, "2020-03-01T22:00:00+00:00"),
        ("- 位置No. 185のメモ |作成日: 2020年3月1日日曜日 午後1:00:00", "note", 185, 185, "2020-03-01T13:00:00+00:00"),
        ("- Je markering op pagina 12 | Locatie 180-185 | Toegevoegd op zondag 1 maart 2020 10:00:00",
         "highlight", 180, 185, "2020-03-01T10:00:00+00:00"),
        ("- 您在位置 #180-185的标注 | 添加于 2020年3月1日星期日 下午10:00:00",
         "highlight", 180, 185, "2020-03-01T22:00:00+00:00"),
        ("- 您在位置 #185的笔记 | 添加于 2020年3月1日星期日 上午12:05:00",
         "note", 185, 185, "2020-03-01T00:05:00+00:00"),
        ("- Highlight Loc. 1234-38  | Added on Friday, January 6, 2012, 09:46 AM",
         "highlight", 1234, 1238, "2012-01-06T09:46:00+00:00"),
    ],
)  # fmt: skip
def test_metadata_lines_in_every_language(line, note_type, start, end, added):
    meta = parse_metadata(line)
    assert meta["note_type"] == note_type
    assert meta["location_start"] == start
    assert meta["location_end"] == end
    assert meta["added"] == datetime.datetime.fromisoformat(added)


@pytest.fixture
def kindle(catalogue, owner):
    return connect(owner, "kindle-highlights", config={"include_notes": True, "include_bookmarks": True})


def _write(tmp_path, text: str, name="My Clippings.txt") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_an_extended_highlight_replaces_the_shorter_one(kindle, tmp_path):
    job = import_files(kindle, [_write(tmp_path, CLIPPINGS)])

    assert job.status == "succeeded", job.error_message
    highlights = items(kindle, data__note_type="highlight", data__source_title="The Sample Book")
    assert highlights.count() == 1
    only = highlights.get()
    assert only.data["text"] == "Before. Short words and more after them."
    assert only.data["author"] == "Doe, Jane"
    assert only.data["position"] == "page 3, location 39-43"
    assert only.occurred_at == datetime.datetime(2020, 3, 2, 9, 0, tzinfo=datetime.UTC)
    assert items(kindle, data__note_type="note").get().data["text"] == "My own thought"
    assert items(kindle, data__note_type="bookmark").count() == 1
    assert items(kindle).count() == 4


def test_the_extension_in_a_later_file_updates_the_record_and_reimports_add_nothing(kindle, tmp_path):
    first_part = "".join(CLIPS[:3])
    import_files(kindle, [_write(tmp_path, first_part, "old.txt")])
    short = items(kindle, data__note_type="highlight").get()
    assert short.data["text"] == "Short words"

    newer = import_files(kindle, [_write(tmp_path, CLIPPINGS)])
    assert newer.created == 1  # only "Another Book"
    assert newer.updated == 1
    short.refresh_from_db()
    assert short.data["text"] == "Before. Short words and more after them."
    again = import_files(kindle, [_write(tmp_path, CLIPPINGS)])
    assert again.created == 0
    assert again.updated == 0


def test_notes_and_bookmarks_follow_the_settings(catalogue, owner, tmp_path):
    kindle = connect(owner, "kindle-highlights", config={"include_notes": False, "include_bookmarks": False})
    import_files(kindle, [_write(tmp_path, CLIPPINGS)])
    assert set(items(kindle).values_list("data__note_type", flat=True)) == {"highlight"}


def test_a_malformed_clipping_and_an_unknown_date_are_reported_and_the_rest_imported(kindle, tmp_path):
    text = (
        clip(BOOK, "- Something odd happened here", "lost")
        + clip(BOOK, "- Your Highlight on page 9 | Location 90-91 | Added on Stardate 41153.7", "Undated")
        + CLIPPINGS
    )
    job = import_files(kindle, [_write(tmp_path, text)])

    assert job.status == "partial"
    assert [e["error"] for e in job.item_errors] == [
        "My Clippings.txt line 1: clipping skipped, the line '- Something odd happened here' names no highlight, "
        "note or bookmark."
    ]
    assert "My Clippings.txt line 7: the date 'Added on Stardate 41153.7' is in a format" in job.remediation
    assert items(kindle, data__text="Undated").get().occurred_at is None
    assert items(kindle).count() == 5


def test_a_killed_import_resumes_with_the_exact_total(kindle, tmp_path, settings):
    settings.SYNC_BATCH_SIZE = 3
    text = (
        "".join(
            clip(
                f"Book {n} (A)",
                f"- Your Highlight on page 1 | Location {n}-{n + 1} | Added on Sunday, March 1, 2020 1:00:00 AM",
                f"Text {n}",
            )
            for n in range(20)
        )
        + CLIPPINGS
    )
    stored, job = import_killed_after_first_batch_then_resumed(kindle, [_write(tmp_path, text)])
    assert 0 < stored < 24
    assert job.status == "succeeded"
    assert items(kindle).count() == 24


def test_sniff(tmp_path):
    assert KindleHighlights.sniff([_write(tmp_path, CLIPPINGS)]).startswith("Kindle My Clippings file, ")
    other = _write(tmp_path, "!Type:Bank\nD01/02/2020\nT-1.00\n^\n", "money.qif")
    with pytest.raises(ConfigError, match=r"money.qif is a Quicken QIF file, not a Kindle My Clippings file"):
        KindleHighlights.sniff([other])
    empty = _write(tmp_path, "", "empty.txt")
    with pytest.raises(ConfigError, match=r"empty.txt is empty \(0 bytes\)"):
        KindleHighlights.sniff([empty])


@pytest.mark.parametrize("encoding", ["utf-16", "cp1252"])
def test_a_clippings_file_resaved_in_another_encoding_keeps_its_accents(kindle, tmp_path, encoding):
    """Notepad's "Unicode" (UTF-16 with a byte order mark) and "ANSI" (Windows-1252) re-saves."""
    text = clip("Les Misérables (Hugo, Victor)", CLIPS[0].split("\n")[1], "Déjà vu, à côté").replace("\n", "\r\n")
    path = tmp_path / "My Clippings.txt"
    path.write_bytes(text.encode(encoding))
    job = import_files(kindle, [str(path)])

    assert job.status == "succeeded", (job.error_message, job.item_errors)
    clipping = items(kindle).get()
    assert clipping.data["source_title"] == "Les Misérables"
    assert clipping.data["text"] == "Déjà vu, à côté"


def test_a_line_too_long_for_any_clippings_file_stops_the_file_with_its_line_named(kindle, tmp_path):
    """A file that looks like clippings at its start and then runs on without a line break (a
    forged or damaged upload) is not read into memory line-whole: the file stops there, named."""
    first = clip(BOOK, "- Your Highlight on page 3 | Location 40-41 | Added on Sunday, March 1, 2020", "Kept")
    path = tmp_path / "My Clippings.txt"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(first + "Next (Author)\n- Your Highlight on Location 50 | Added on Monday, March 2, 2020\n\n")
        for _ in range(40):
            handle.write("x" * (1024 * 1024))
    job = import_files(kindle, [str(path)])

    assert job.status == "partial", job.error_message
    assert [e["error"] for e in job.item_errors] == [
        "My Clippings.txt line 9 is longer than 32.0 MB without a line break, so the file is not read on: "
        "it is not a file the hub can read. The records before that line were imported."
    ]
    assert items(kindle).get().data["text"] == "Kept"


class _CountingText(str):
    """A clipping's text that counts how many earlier highlights were compared with it."""

    compared = 0

    def __contains__(self, other):
        type(self).compared += 1
        return super().__contains__(other)


def test_finding_the_extended_highlight_looks_only_at_its_neighbours():
    """A forged file of thousands of highlights at one location: each new clipping compares itself
    with a bounded number of them, not with every earlier one (quadratic: hours of a worker)."""
    from connectors.kindle import _Highlights

    book = _Highlights()
    for n in range(3000):
        book.add(f"crowd-{n}", 100, 101, f"crowded words {n}")
    for n in range(300):  # the rest of the book, spread out
        book.add(f"spread-{n}", 1000 + n * 40, 1002 + n * 40, f"spread words {n}")

    assert book.extended_by(100, 101, _CountingText("something new at the crowded place")) is None
    assert _CountingText.compared <= _Highlights.LOOK_AT
    # a real extension among the spread-out ones is still found, however many highlights the book has
    assert book.extended_by(4990, 5010, "before spread words 100 and after") == "spread-100"
    assert book.extended_by(4980, 5010, "further before spread words 100 and after") == "spread-100"
