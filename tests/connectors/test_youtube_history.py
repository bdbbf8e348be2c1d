"""YouTube watch history imports (connectors/google_takeout/youtube.py) through the engine: the JSON
and the default HTML of Takeout, English and German dates, ads, YouTube Music, bad input, re-imports
and resumes. Every file here is made up by the test."""

from __future__ import annotations

import datetime
import json

import pytest

from connectors.errors import ConfigError
from connectors.google_takeout.youtube import YouTubeHistory, parse_html_date
from tests.connectors.archive_helpers import import_files, import_killed_after_first_batch_then_resumed, items, zip_of
from tests.connectors.helpers import connect

CHANNEL = {"name": "Sample Channel", "url": "https://www.youtube.com/channel/UCsample"}


def watched(n: int, *, header="YouTube", time=None, details=None) -> dict:
    entry = {
        "header": header,
        "title": f"Watched Video number {n}",
        "titleUrl": f"https://www.youtube.com/watch?v=vid{n:05d}",
        "subtitles": [CHANNEL],
        "time": time or f"2021-01-05T10:{n % 60:02d}:00.{n:03d}Z",
        "products": ["YouTube"],
        "activityControls": ["YouTube watch history"],
    }
    if details:
        entry["details"] = [{"name": details}]
    return entry


REMOVED = {"header": "YouTube", "title": "Watched a video that has been removed", "time": "2021-01-04T09:00:00Z",
           "products": ["YouTube"]}  # fmt: skip

STYLE = "<style>" + ".mdl-card{x:y}" * 2000 + "</style>"  # Takeout's page starts with ~30 KB of CSS


def html_entry(title_html: str, when: str, header="YouTube", details="") -> str:
    caption = "<b>Products:</b><br>&emsp;YouTube<br>" + (f"<b>Details:</b><br>&emsp;{details}<br>" if details else "")
    return (
        '<div class="outer-cell mdl-cell mdl-cell--12-col mdl-shadow--2dp"><div class="mdl-grid">'
        f'<div class="header-cell mdl-cell mdl-cell--12-col"><p class="mdl-typography--title">{header}<br></p></div>'
        f'<div class="content-cell mdl-cell mdl-cell--6-col mdl-typography--body-1">{title_html}{when}<br></div>'
        '<div class="content-cell mdl-cell mdl-cell--6-col mdl-typography--body-1 mdl-typography--text-right"></div>'
        f'<div class="content-cell mdl-cell mdl-cell--12-col mdl-typography--caption">{caption}</div></div></div>'
    )


def video_html(word: str, vid: str, channel="Sample Channel") -> str:
    return (
        f'{word}&nbsp;<a href="https://www.youtube.com/watch?v={vid}">Title &amp; {vid}</a><br>'
        f'<a href="https://www.youtube.com/channel/UCsample">{channel}</a><br>'
    )


def html_page(entries: list[str]) -> str:
    # Takeout writes the whole page on one line.
    return (
        f'<html><head><meta charset="UTF-8"><title>Verlauf</title>{STYLE}</head><body>'
        f'<div class="mdl-grid">{"".join(entries)}</div></body></html>'
    )


@pytest.fixture
def youtube(catalogue, owner):
    return connect(owner, "youtube-history")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Jan 5, 2021, 10:15:30 PM CET", "2021-01-05T22:15:30+01:00"),
        ("Jan 5, 2021, 12:05:00\u202fAM PST", "2021-01-05T00:05:00-08:00"),
        ("Sep 30, 2023, 7:01:02 AM GMT+05:30", "2023-09-30T07:01:02+05:30"),
        ("05.01.2021, 22:15:30 MEZ", "2021-01-05T22:15:30+01:00"),
        ("5. Jan. 2021, 22:15:30 MEZ", "2021-01-05T22:15:30+01:00"),
        ("14. März 2021, 09:00:00 MESZ", "2021-03-14T09:00:00+02:00"),
        ("01.07.2022, 08:00:00 UTC", "2022-07-01T08:00:00+00:00"),
    ],
)
def test_html_dates_in_english_and_german(text, expected):
    assert parse_html_date(text) == datetime.datetime.fromisoformat(expected)


def test_json_watch_history(youtube, tmp_path):
    entries = [
        watched(1),
        watched(2),
        REMOVED,
        watched(3, details="From Google Ads"),
        watched(4, header="YouTube Music"),
    ]
    path = zip_of(tmp_path / "takeout-001.zip", {"Takeout/YouTube und YouTube Music/Verlauf/Wiedergabeverlauf.json":
                                                 json.dumps(entries, indent=2)})  # fmt: skip
    job = import_files(youtube, [path])

    assert job.status == "succeeded", job.error_message
    assert items(youtube).count() == 3  # the ad and the YouTube Music play are left out
    first = items(youtube, data__video_id="vid00001").get()
    assert first.kind == "article"
    assert first.title == "Video number 1"
    assert first.data["url"] == "https://www.youtube.com/watch?v=vid00001"
    assert first.data["channel"] == first.data["author"] == "Sample Channel"
    assert first.data["activityControls"] == ["YouTube watch history"]
    assert first.data["published"] == "2021-01-05T10:01:00.001000+00:00"
    assert first.occurred_at == datetime.datetime(2021, 1, 5, 10, 1, 0, 1000, tzinfo=datetime.UTC)
    removed = items(youtube, data__url="").get()
    assert removed.occurred_at == datetime.datetime(2021, 1, 4, 9, 0, tzinfo=datetime.UTC)

    again = import_files(youtube, [path])
    assert (again.created, again.updated) == (0, 0)


def test_youtube_music_when_asked(catalogue, owner, tmp_path):
    youtube = connect(owner, "youtube-history", config={"include_music": True})
    path = tmp_path / "watch-history.json"
    path.write_text(json.dumps([watched(1), watched(4, header="YouTube Music")]), encoding="utf-8")
    import_files(youtube, [path])
    assert items(youtube, data__music=True).count() == 1


def test_html_watch_history_english_and_german(youtube, tmp_path):
    english = html_page([
        html_entry(video_html("Watched", "en1"), "Jan 5, 2021, 10:15:30 PM CET"),
        html_entry("Watched a video that has been removed<br>", "Jan 4, 2021, 9:00:00 AM UTC"),
        html_entry(video_html("Watched", "ad1", "Ads"), "Jan 4, 2021, 8:00:00 AM UTC", details="From Google Ads"),
        html_entry('Searched for&nbsp;<a href="https://www.youtube.com/results?search_query=x">x</a><br>',
                   "Jan 4, 2021, 7:00:00 AM UTC"),
    ])  # fmt: skip
    german = html_page([
        html_entry(video_html("Angesehen:", "de1", "Kanal"), "5. Jan. 2021, 22:15:30 MEZ"),
        html_entry(video_html("Angesehen:", "de2"), "14.03.2021, 09:00:00 MESZ"),
    ])  # fmt: skip
    path = zip_of(tmp_path / "takeout-001.zip", {"Takeout/YouTube/history/watch-history.html": english,
                                                 "Takeout/YouTube/Verlauf/Wiedergabeverlauf.html": german})  # fmt: skip
    job = import_files(youtube, [path])

    assert job.status == "succeeded", job.error_message
    assert items(youtube).count() == 4
    en = items(youtube, data__video_id="en1").get()
    assert en.title == "Title & en1"
    assert en.data["channel"] == "Sample Channel"
    assert en.data["channel_url"] == "https://www.youtube.com/channel/UCsample"
    assert en.data["published"] == "2021-01-05T22:15:30+01:00"
    assert en.source_url == "https://www.youtube.com/watch?v=en1"
    de = items(youtube, data__video_id="de1").get()
    assert de.data["channel"] == "Kanal"
    assert de.occurred_at == datetime.datetime(2021, 1, 5, 21, 15, 30, tzinfo=datetime.UTC)
    removed = items(youtube, data__url="").get()
    assert removed.title == "a video that has been removed"
    assert removed.data["published"] == "2021-01-04T09:00:00+00:00"

    again = import_files(youtube, [path])
    assert (again.created, again.updated) == (0, 0)


def test_an_unknown_html_date_is_imported_without_time_and_named(youtube, tmp_path):
    page = html_page([
        html_entry(video_html("Watched", "ok1"), "Jan 5, 2021, 10:15:30 PM CET"),
        html_entry(video_html("Regardé", "fr1"), "5 janv. 2021, 22:15:30 UTC+1"),
    ])  # fmt: skip
    path = tmp_path / "watch-history.html"
    path.write_text(page, encoding="utf-8")
    job = import_files(youtube, [path])

    assert job.status == "partial"
    assert "watch-history.html entry 2: the date '5 janv. 2021, 22:15:30 UTC+1' is in a format" in job.remediation
    assert items(youtube, data__video_id="fr1").get().occurred_at is None
    assert items(youtube).count() == 2
    assert import_files(youtube, [path]).created == 0


def test_malformed_json_and_an_unknown_time_name_the_file_and_record(youtube, tmp_path):
    entries = [watched(1), watched(2, time="gestern"), watched(3)]
    text = json.dumps(entries)
    broken = text[: text.index('"Watched Video number 3"')] + "]]]"
    path = zip_of(tmp_path / "takeout-001.zip", {"Takeout/Y/watch-history.json": broken})
    job = import_files(youtube, [path])

    assert job.status == "partial"
    errors = [e["error"] for e in job.item_errors]
    assert errors[0] == ("takeout-001.zip: Takeout/Y/watch-history.json record 2: skipped, the time 'gestern' is not "
                         "a date the hub can read.")  # fmt: skip
    assert errors[1].startswith("takeout-001.zip: Takeout/Y/watch-history.json is not valid JSON after record 2")
    assert items(youtube).count() == 1


def test_a_killed_import_resumes_with_the_exact_total(youtube, tmp_path, settings):
    settings.SYNC_BATCH_SIZE = 4
    entries = [watched(n, time=f"2021-02-{1 + n // 60:02d}T10:{n % 60:02d}:00Z") for n in range(25)]
    page = html_page([html_entry(video_html("Watched", f"h{n}"), f"Feb {n + 1}, 2021, 1:00:00 PM UTC")
                      for n in range(9)])  # fmt: skip
    path = zip_of(tmp_path / "takeout-001.zip", {"Takeout/Y/watch-history.json": json.dumps(entries),
                                                 "Takeout/Y/watch-history.html": page})  # fmt: skip
    stored, job = import_killed_after_first_batch_then_resumed(youtube, [path])
    assert 0 < stored < 34
    assert job.status == "succeeded", job.error_message
    assert items(youtube).count() == 34


def test_sniff(tmp_path):
    path = tmp_path / "watch-history.html"
    path.write_text(html_page([html_entry(video_html("Watched", "a"), "Jan 5, 2021, 10:15:30 PM CET")]))
    assert YouTubeHistory.sniff([str(path)]).startswith("YouTube watch history export, ")
    search = tmp_path / "search-history.json"
    search.write_text(json.dumps([{"header": "YouTube", "title": "Searched for x", "time": "2021-01-01T00:00:00Z",
                                   "titleUrl": "https://www.youtube.com/results?search_query=x"}]))  # fmt: skip
    with pytest.raises(ConfigError, match=r"search-history.json does not look like a YouTube watch history export"):
        YouTubeHistory.sniff([str(search)])
    places = tmp_path / "Saved Places.json"
    places.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"properties": {"google_maps_url": "http://maps.google.com/?cid=1"}}]}))  # fmt: skip
    with pytest.raises(ConfigError, match=r"Saved Places.json is a Google Maps saved places export, not a YouTube"):
        YouTubeHistory.sniff([str(places)])
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    with pytest.raises(ConfigError, match=r"empty.json is empty \(0 bytes\)"):
        YouTubeHistory.sniff([str(empty)])


def test_json_entries_whose_fields_have_the_wrong_type_are_named_and_the_rest_imported(youtube, tmp_path):
    entries = [
        {**watched(1), "subtitles": "Sample Channel"},
        {**watched(2), "titleUrl": 42},
        {**watched(3), "header": ["YouTube"]},
        watched(4),
    ]
    path = tmp_path / "watch-history.json"
    path.write_text(json.dumps(entries), encoding="utf-8")
    job = import_files(youtube, [path])

    assert job.status == "partial", job.error_message
    assert [e["error"] for e in job.item_errors] == [
        f"watch-history.json record {n}: skipped, its fields are not shaped as Google writes them." for n in (1, 2, 3)
    ]
    assert list(items(youtube).values_list("data__video_id", flat=True)) == ["vid00004"]
