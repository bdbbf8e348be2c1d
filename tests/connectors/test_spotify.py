"""Spotify end to end: connected through the real OAuth flow, synced with spotipy against the
Spotify Web API contract fake (tests/fakes/spotify.py), and merged with the account-data export
(tests/data/spotify/) by `manage.py import_spotify_export`."""

import datetime
import io
import json
import logging
import zipfile

import pytest
from django.core.management import call_command
from django.utils import timezone

from connectors.registry import registry
from integrations.models import Credential, IntegrationType, JobStatus, Status, SyncedItem
from integrations.sync.engine import run_job
from integrations.sync.jobs import queue_sync
from tests.connectors.helpers import DATA, live_items, sync
from tests.fakes.spotify import track
from tests.oauth.helpers import connect_with_oauth

pytestmark = pytest.mark.usefixtures("catalogue")
ALPHA = track("trackAAAAAAAAAAAAAAAAAA", "Alpha Song", "The Alphas", album="First")
BETA = track("trackBBBBBBBBBBBBBBBBBB", "Beta Song", "Béta Band", album="Second")
GAMMA = track("trackCCCCCCCCCCCCCCCCCC", "Gamma Song", "Gammas")


def _utc(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def spotify(spotify_api):
    spotify_api.play(
        "alice", ALPHA, _utc("2025-06-01T10:00:05.123Z"), context={"type": "playlist", "uri": "spotify:playlist:p1"}
    )
    spotify_api.play("alice", BETA, _utc("2025-06-01T10:04:00.500Z"))
    spotify_api.save("alice", ALPHA, "2025-05-01T09:00:00Z")
    spotify_api.save("alice", GAMMA, "2025-05-02T09:00:00Z")
    return spotify_api


@pytest.fixture
def integration(owner_client, oauth_server, spotify):
    return connect_with_oauth(owner_client, oauth_server, "spotify", spotify)


def _plays(integration):
    return {i.external_id: i for i in live_items(integration).filter(kind="play")}


def _export_zip(tmp_path, *names) -> str:
    path = tmp_path / "my_spotify_data.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name in names:
            archive.write(DATA / "spotify" / name, f"Spotify Extended Streaming History/{name}")
    return str(path)


def _no_first_sync(integration):
    """The first sync queued at connect time, cancelled (no worker runs in these tests)."""
    from integrations.sync.jobs import cancel

    for job in integration.sync_jobs.filter(status="queued"):
        cancel(job)


def _import(integration, *paths) -> str:
    out = io.StringIO()
    call_command("import_spotify_export", str(integration.pk), *paths, stdout=out)
    return out.getvalue()


def test_the_type_is_available_and_says_how_often_to_sync():
    itype = IntegrationType.objects.get(slug="spotify")
    assert itype.is_available
    assert registry.get(itype.handler).__name__ == "SpotifyConnector"
    assert "only returns your 50 most recent plays" in itype.details
    assert itype.sync_interval_default == 30


def test_sync_reads_recent_plays_and_saved_tracks_and_keeps_the_after_cursor(integration, spotify):
    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert integration.account_identity == "alice"
    plays = _plays(integration)
    alpha = plays["play:trackAAAAAAAAAAAAAAAAAA:2025-06-01T10:00:05Z"]
    assert alpha.title == "Alpha Song — The Alphas"
    assert alpha.occurred_at == _utc("2025-06-01T10:00:05.123Z")
    assert alpha.data["album"] == "First"
    assert alpha.data["context"] == {"type": "playlist", "uri": "spotify:playlist:p1"}
    assert alpha.source_url == "https://open.spotify.com/track/trackAAAAAAAAAAAAAAAAAA"
    assert len(plays) == 2
    saved = {i.title for i in live_items(integration).filter(kind="saved_track")}
    assert saved == {"Alpha Song — The Alphas", "Gamma Song — Gammas"}
    assert integration.sync_cursor["after"] == str(int(_utc("2025-06-01T10:04:00.500Z").timestamp() * 1000))
    assert spotify.requests_to(r"^/v1/me/?$")  # the identity check, through spotipy's "me/"

    spotify.play("alice", GAMMA, _utc("2025-06-01T11:00:00Z"))
    job = sync(integration)
    recent = spotify.requests_to(r"/recently-played$")[-1]
    assert recent.args["after"] == [integration.sync_cursor["after"]] or recent.args["after"]
    assert job.created == 1
    assert len(_plays(integration)) == 3


def test_more_than_50_plays_between_syncs_is_reported_on_the_job_with_how_to_fill_the_gap(integration, spotify, caplog):
    sync(integration)
    start = _utc("2025-06-02T00:00:00Z")
    for n in range(60):
        spotify.play("alice", BETA, start + datetime.timedelta(minutes=4 * n))
    with caplog.at_level(logging.WARNING, logger="connectors.spotify_music.connector"):
        job = sync(integration)

    assert job.created == 50  # Spotify only kept the last 50
    assert job.status == JobStatus.PARTIAL  # the user sees it on the job, not only the operator in the log
    assert (job.failed, job.item_errors) == (0, [])  # no record was unreadable: nothing "skipped"
    assert "could not be read" not in job.remediation
    # From the last play of the previous sync to the oldest play Spotify still had (the 11th).
    assert "between 2025-06-01 10:04 and 2025-06-02 00:40 UTC may be missing" in job.remediation
    assert "import_spotify_export" in job.remediation
    assert "may be missing" in caplog.text

    spotify.play("alice", GAMMA, start + datetime.timedelta(hours=5))
    assert sync(integration).status == JobStatus.SUCCEEDED  # a sync within the 50 has no gap


def test_saved_tracks_removed_at_spotify_become_tombstones_at_the_daily_full_listing(integration, spotify):
    sync(integration)
    spotify.unsave("alice", GAMMA["id"])
    sync(integration)
    assert live_items(integration).filter(external_id=f"saved:{GAMMA['id']}").exists()  # not listed in full yet

    integration.sync_cursor = {**integration.sync_cursor, "library_full_at": "2000-01-01T00:00:00+00:00"}
    integration.save()
    job = sync(integration)
    assert job.deleted == 1
    assert not live_items(integration).filter(external_id=f"saved:{GAMMA['id']}").exists()


def test_playlists_are_read_only_when_their_snapshot_changed(integration, spotify):
    integration.config = {**integration.config, "include_playlists": True}
    integration.save()
    spotify.add_playlist("alice", "pl1", "Road trip", [ALPHA, BETA])
    sync(integration)
    road = live_items(integration).get(external_id="playlist:pl1")
    assert road.title == "Road trip"
    assert [t["name"] for t in road.data["tracks"]] == ["Alpha Song", "Beta Song"]
    assert road.version == "s1"

    sync(integration)
    assert len(spotify.requests_to(r"/playlists/pl1/items$")) == 1  # unchanged snapshot: not read again
    spotify.add_playlist("alice", "pl1", "Road trip", [ALPHA, BETA, GAMMA], snapshot="s2")
    sync(integration)
    assert len(live_items(integration).get(external_id="playlist:pl1").data["tracks"]) == 3


def test_export_plays_merge_with_api_plays_without_duplicates(integration, spotify, tmp_path):
    sync(integration)
    archive = _export_zip(tmp_path, "Streaming_History_Audio_2025_0.json", "StreamingHistory_music_0.json")

    output = _import(integration, archive)

    plays = _plays(integration)
    assert sorted(plays) == sorted(
        [
            "play:trackAAAAAAAAAAAAAAAAAA:2025-06-01T10:00:05Z",  # API; the export's 10:00:06 is the same listen
            "play:trackBBBBBBBBBBBBBBBBBB:2025-06-01T10:04:00Z",  # API; export (same second) and old file skipped
            "play:trackCCCCCCCCCCCCCCCCCC:2025-05-30T08:00:41Z",  # export only; its minute-precision twin skipped
            next(k for k in plays if k.startswith("play:~")),  # Delta Song: only in the old file
        ]
    )
    alpha = plays["play:trackAAAAAAAAAAAAAAAAAA:2025-06-01T10:00:05Z"]
    assert alpha.data["source"] == "api"  # plays are never rewritten by another source
    gamma = plays["play:trackCCCCCCCCCCCCCCCCCC:2025-05-30T08:00:41Z"]
    assert gamma.data["source"] == "export"
    assert gamma.data["ms_played"] == 95000
    assert gamma.data["skipped"] is True
    assert gamma.data["extra"] == {"audio_quality": "very_high"}
    assert "203.0.113" not in json.dumps(gamma.data)  # IP addresses are not kept
    delta = next(p for k, p in plays.items() if k.startswith("play:~"))
    assert delta.data["precision"] == "minute"
    assert delta.title == "Delta Song — Delta Dawn"
    assert "partial" in output  # the one unreadable entry is reported, the rest imported
    job = integration.sync_jobs.first()
    assert job.failed == 1
    assert job.item_errors[0]["external_id"].endswith("Streaming_History_Audio_2025_0.json#5")
    assert "entry 5" in job.item_errors[0]["error"]

    again = io.StringIO()
    call_command("import_spotify_export", str(integration.pk), archive, stdout=again)
    assert len(_plays(integration)) == 4
    assert integration.sync_jobs.first().created == 0


def test_a_precise_play_replaces_its_minute_precision_twin_imported_earlier(integration, spotify, tmp_path):
    _no_first_sync(integration)
    legacy = tmp_path / "StreamingHistory0.json"
    legacy.write_text(
        json.dumps([{"endTime": "2025-04-01 09:15", "artistName": "Eps", "trackName": "E", "msPlayed": 1}])
    )
    _import(integration, str(legacy))
    assert [k for k in _plays(integration) if k.startswith("play:~")]

    extended = tmp_path / "Streaming_History_Audio_2025_1.json"
    entry = {
        "ts": "2025-04-01T09:15:30Z",
        "ms_played": 1,
        "spotify_track_uri": "spotify:track:trackEEEEEEEEEEEEEEEEEE",
        "master_metadata_track_name": "E",
        "master_metadata_album_artist_name": "Eps",
    }
    extended.write_text(json.dumps([entry]))
    _import(integration, str(extended))

    assert list(_plays(integration)) == ["play:trackEEEEEEEEEEEEEEEEEE:2025-04-01T09:15:30Z"]
    twin = SyncedItem.objects.get(integration=integration, external_id__startswith="play:~")
    assert twin.deleted_at is not None


def test_an_api_sync_after_the_export_keeps_export_plays_and_adds_no_duplicates(integration, spotify, tmp_path):
    _no_first_sync(integration)
    _import(integration, _export_zip(tmp_path, "Streaming_History_Audio_2025_0.json"))
    assert "play:trackAAAAAAAAAAAAAAAAAA:2025-06-01T10:00:06Z" in _plays(integration)

    job = sync(integration)

    plays = _plays(integration)
    assert "play:trackAAAAAAAAAAAAAAAAAA:2025-06-01T10:00:05Z" not in plays  # same listen, within 2 s
    assert plays["play:trackBBBBBBBBBBBBBBBBBB:2025-06-01T10:04:00Z"].data["source"] == "export"
    assert len(plays) == 3
    assert job.status == JobStatus.SUCCEEDED


def test_a_wrong_file_is_refused_with_a_clear_message(integration, tmp_path):
    from django.core.management.base import CommandError

    other = tmp_path / "notes.txt"
    other.write_text("hello")
    with pytest.raises(CommandError, match="neither a zip, a folder nor a JSON file"):
        _import(integration, str(other))
    integration.refresh_from_db()
    assert integration.status == Status.CONNECTED  # nothing was queued or touched


def test_a_truncated_export_file_is_refused_with_what_to_do(integration, tmp_path):
    from django.core.management.base import CommandError

    _no_first_sync(integration)
    cut = tmp_path / "StreamingHistory_music_1.json"
    cut.write_text('[{"endTime": "2025-05-01 12:00", "artistName": "A", "trac')
    with pytest.raises(CommandError, match="could not be read as JSON"):
        _import(integration, str(cut))


def test_rate_limits_wait_and_expired_tokens_are_refreshed(integration, spotify, oauth_server):
    spotify.fail(r"/recently-played$", *spotify.rate_limited(retry_after=1))
    old = Credential.objects.get(integration=integration).access_token
    oauth_server.expire_access_token(old)

    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert len(_plays(integration)) == 2
    assert Credential.objects.get(integration=integration).access_token != old


def test_a_retry_after_given_as_a_date_holds_the_sync_until_then(integration, spotify, settings):
    settings.SYNC_MAX_WAIT = 2  # a longer wait holds the job instead of a worker
    until = timezone.now() + datetime.timedelta(minutes=10)
    spotify.fail(r"/recently-played$", *spotify.rate_limited(retry_after=until), times=10)
    job = queue_sync(integration, enqueue=False)

    held = run_job(job.pk, sleep=lambda seconds: None)

    assert held.status == JobStatus.QUEUED, held.error_message
    assert len(spotify.requests_to(r"/recently-played$")) == 1
    assert abs((held.not_before - until).total_seconds()) < 5


def test_a_missing_permission_pauses_the_sync_and_asks_to_reauthenticate(owner_client, oauth_server, spotify):
    integration = connect_with_oauth(owner_client, oauth_server, "spotify", spotify, scope="user-library-read")
    job = sync(integration)
    assert job.error_class == "auth"
    assert integration.status == Status.NEEDS_REAUTH
    assert "Insufficient client scope" in integration.status_detail


# -- played_at is sometimes the start of the listen, the export's ts always its end -----------------


def _extended(tmp_path, *plays) -> str:
    """An extended streaming history file with (track, ts, ms_played) entries."""
    path = tmp_path / "Streaming_History_Audio_2025_7.json"
    entries = [
        {
            "ts": ts,
            "ms_played": ms,
            "spotify_track_uri": item["uri"],
            "master_metadata_track_name": item["name"],
            "master_metadata_album_artist_name": item["artists"][0]["name"],
            "reason_end": "trackdone",
        }
        for item, ts, ms in plays
    ]
    path.write_text(json.dumps(entries))
    return str(path)


REPEAT = track("trackRRRRRRRRRRRRRRRRRR", "On Repeat", "Loopers", duration_ms=201_000)


@pytest.fixture
def started_at(spotify_api):
    """An account whose API reports played_at as the moment each listen started: the same track
    twice in a row (10:00:05 to 10:03:26, then to 10:06:47), then a skip after 30 s."""
    spotify_api.play("alice", REPEAT, _utc("2025-07-01T10:00:05Z"))
    spotify_api.play("alice", REPEAT, _utc("2025-07-01T10:03:26Z"))
    spotify_api.play("alice", GAMMA, _utc("2025-07-01T10:06:50Z"))
    return [
        (REPEAT, "2025-07-01T10:03:26Z", 201_000),
        (REPEAT, "2025-07-01T10:06:47Z", 201_000),
        (GAMMA, "2025-07-01T10:07:20Z", 30_000),
    ]


def test_export_plays_match_api_plays_that_report_the_start_of_the_listen(
    owner_client, oauth_server, started_at, spotify_api, tmp_path
):
    integration = connect_with_oauth(owner_client, oauth_server, "spotify", spotify_api)
    sync(integration)
    assert len(_plays(integration)) == 3

    _import(integration, _extended(tmp_path, *started_at))

    plays = _plays(integration)
    assert len(plays) == 3  # two listens of the repeated track, one skip: nothing doubled
    assert {p.data["source"] for p in plays.values()} == {"api"}


def test_api_plays_that_report_the_start_match_the_export_imported_before(
    owner_client, oauth_server, started_at, spotify_api, tmp_path
):
    integration = connect_with_oauth(owner_client, oauth_server, "spotify", spotify_api)
    _no_first_sync(integration)
    _import(integration, _extended(tmp_path, *started_at))

    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    plays = _plays(integration)
    assert sorted(plays) == [
        "play:trackCCCCCCCCCCCCCCCCCC:2025-07-01T10:07:20Z",
        "play:trackRRRRRRRRRRRRRRRRRR:2025-07-01T10:03:26Z",
        "play:trackRRRRRRRRRRRRRRRRRR:2025-07-01T10:06:47Z",
    ]


def test_two_listens_of_a_track_an_hour_apart_stay_two_plays(integration, spotify, tmp_path):
    sync(integration)  # the API's Alpha listen at 10:00:05
    _import(integration, _extended(tmp_path, (ALPHA, "2025-06-01T11:00:00Z", 201_000)))
    assert len([k for k in _plays(integration) if k.startswith("play:trackAAAA")]) == 2


def test_a_track_removed_while_the_library_is_listed_does_not_shift_others_into_tombstones(integration, spotify):
    library = [track(f"track{n:018d}", f"Song {n}", "Band") for n in range(60)]
    for n, item in enumerate(library):
        spotify.save("alice", item, f"2025-01-{1 + n % 28:02d}T00:00:00Z")
    sync(integration)
    newest_first = [entry["track"]["id"] for entry in spotify.saved["alice"]]
    assert len(newest_first) > 50  # two pages
    assert live_items(integration).filter(external_id__startswith="saved:").count() == len(newest_first)

    # The daily full listing: between its two pages the person removes the 5th track, so the 51st
    # moves onto the first page, which was already read, and the second page never shows it.
    integration.sync_cursor = {**integration.sync_cursor, "library_full_at": "2000-01-01T00:00:00+00:00"}
    integration.save()
    spotify.after_saved_page = lambda: spotify.unsave("alice", newest_first[4])
    job = sync(integration)

    assert job.deleted == 0
    assert live_items(integration).filter(external_id=f"saved:{newest_first[50]}").exists()

    # The next listing is whole again: the removed track, and only it, goes.
    job = sync(integration)
    assert job.deleted == 1
    assert not live_items(integration).filter(external_id=f"saved:{newest_first[4]}").exists()
    assert live_items(integration).filter(external_id__startswith="saved:").count() == len(newest_first) - 1


def test_a_playlist_removed_while_playlists_are_listed_does_not_shift_others_into_tombstones(integration, spotify):
    integration.config = {**integration.config, "include_playlists": True}
    integration.save()
    for n in range(55):
        spotify.add_playlist("alice", f"pl{n:02d}", f"Mix {n}", [ALPHA])
    sync(integration)
    assert live_items(integration).filter(external_id__startswith="playlist:").count() == 55

    spotify.after_playlists_page = lambda: spotify.playlists["alice"].pop(3)  # pl50 moves onto page one
    job = sync(integration)

    assert job.deleted == 0
    assert live_items(integration).filter(external_id="playlist:pl50").exists()
    job = sync(integration)
    assert job.deleted == 1
    assert not live_items(integration).filter(external_id="playlist:pl03").exists()


def test_export_entries_of_the_wrong_shape_are_named_and_the_rest_imported(integration, tmp_path):
    from tests.connectors.archive_helpers import import_files

    _no_first_sync(integration)
    good = {"ts": "2025-05-30T08:00:41Z", "spotify_track_uri": "spotify:track:trackCCCCCCCCCCCCCCCCCC",
            "master_metadata_track_name": "Gamma Song", "ms_played": 95000}  # fmt: skip
    entries = [
        {**good, "ts": 1748592041},  # a number, not a time
        {**good, "spotify_track_uri": 42},
        {**good, "ms_played": "long"},
        {**good, "ts": "2025-05-30T09:00:41Z", "ms_played": 1e308},
        good,
    ]
    path = tmp_path / "Streaming_History_Audio_2025.json"
    path.write_text(json.dumps(entries))
    job = import_files(integration, [str(path)])

    assert job.status == "partial", job.error_message
    assert [e["external_id"] for e in job.item_errors] == [f"{path.name}#{n}" for n in (1, 2, 3, 4)]
    assert list(_plays(integration)) == ["play:trackCCCCCCCCCCCCCCCCCC:2025-05-30T08:00:41Z"]


def test_a_hostile_export_zip_is_refused_before_it_is_read(integration, tmp_path):
    from tests.connectors.archive_helpers import import_files

    _no_first_sync(integration)
    bomb = tmp_path / "my_spotify_data.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("../../Streaming_History_Audio_2025_0.json", "[]")
        archive.writestr("Streaming_History_Audio_2025_1.json", "[" + " " * (64 * 1024 * 1024) + "]")
    job = import_files(integration, [str(bomb)])

    assert job.status == "failed"
    assert "zip bomb" in job.error_message


def test_a_history_file_far_larger_than_spotify_writes_is_not_read_into_memory(tmp_path):
    from connectors.errors import ConfigError
    from connectors.spotify_music import export

    path = tmp_path / "Streaming_History_Audio_2025.json"
    with open(path, "wb") as handle:
        handle.write(b"[]")
        handle.truncate(65 * 1024 * 1024)  # sparse: only its size matters
    with pytest.raises(ConfigError, match=r"Streaming_History_Audio_2025.json was skipped: at 65.0 MB it is far"):
        export.describe([str(path)])
