"""Outlook Calendar end to end: tokens from the (local stand-in of the) Microsoft identity
platform through the real OAuth flow, events from the Microsoft Graph contract fake
(tests/fakes/microsoft_graph.py): calendarView delta, deltaLink rounds, 410 resync."""

import datetime

import pytest
from django.utils import timezone

from connectors.registry import registry
from integrations.models import IntegrationType, JobStatus, Status, SyncedItem
from integrations.sync.engine import run_job
from integrations.sync.jobs import queue_sync
from tests.connectors.helpers import live_items, sync
from tests.oauth.helpers import connect_with_oauth

pytestmark = pytest.mark.usefixtures("catalogue")
ALICE = "alice@example.com"
SLUG = "outlook-calendar"


def _at(days: int, hour: int) -> dict:
    moment = datetime.datetime.now(datetime.UTC).replace(hour=hour, minute=0, second=0, microsecond=0)
    moment += datetime.timedelta(days=days)
    return {"dateTime": moment.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"}


@pytest.fixture
def graph(graph_api):
    graph_api.put_event(ALICE, {"id": "ev1", "subject": "Board meeting", "bodyPreview": "Agenda attached",
                                "start": _at(1, 9), "end": _at(1, 10), "location": {"displayName": "HQ"},
                                "attendees": [{"emailAddress": {"address": "bob@example.com"}, "type": "required"}],
                                "onlineMeeting": {"joinUrl": "https://teams.example/x"}})  # fmt: skip
    graph_api.put_event(
        ALICE, {"id": "ev2", "subject": "Offsite", "isAllDay": True, "start": _at(3, 0), "end": _at(4, 0)}
    )
    graph_api.put_event(ALICE, {"id": "ev3", "subject": "1:1", "start": _at(-2, 14), "end": _at(-2, 15)})
    graph_api.put_event(ALICE, {"id": "old", "subject": "Last decade", "start": _at(-4000, 9), "end": _at(-4000, 10)})
    return graph_api


@pytest.fixture
def integration(owner_client, oauth_server, graph):
    return connect_with_oauth(owner_client, oauth_server, SLUG, graph)


def test_the_type_is_available_and_registered():
    itype = IntegrationType.objects.get(slug=SLUG)
    assert itype.is_available
    assert registry.get(itype.handler).__name__ == "OutlookCalendarConnector"


def test_full_round_follows_next_links_and_keeps_the_delta_link(integration, graph):
    graph.max_page = 2
    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert integration.account_identity == ALICE
    items = {i.external_id.split(":", 1)[1]: i for i in live_items(integration)}
    assert set(items) == {"ev1", "ev2", "ev3"}  # the old one is outside the window
    board = items["ev1"]
    assert board.title == "Board meeting"
    assert board.summary == "Agenda attached"
    assert board.occurred_at.hour == 9
    assert board.occurred_at.tzinfo is not None
    assert board.data["attendees"] == ["bob@example.com"]
    assert board.data["location"] == "HQ"
    assert board.data["extra"]["onlineMeeting"] == {"joinUrl": "https://teams.example/x"}
    assert items["ev2"].data["all_day"] is True
    calls = graph.requests_to(r"/calendarView/delta$")
    assert len(calls) == 2
    assert calls[0].args["startDateTime"]
    assert "$skiptoken" in calls[1].args
    assert "odata.maxpagesize=100" in calls[0].headers["Prefer"]
    assert "$deltatoken" in integration.sync_cursor["delta"]["default"]


def test_the_next_round_calls_the_delta_link_and_applies_changes_and_removals(integration, graph):
    sync(integration)
    graph.put_event(ALICE, {**graph.calendar(ALICE).events["ev3"], "subject": "1:1 (moved)"})
    graph.delete_event(ALICE, "ev2")
    graph.put_event(ALICE, {"id": "ev4", "subject": "Dinner", "start": _at(2, 19), "end": _at(2, 21)})

    job = sync(integration)

    assert (job.created, job.updated, job.deleted) == (1, 1, 1)
    assert "$deltatoken" in graph.requests_to(r"/calendarView/delta$")[-1].args
    titles = {i.title for i in live_items(integration)}
    assert titles == {"Board meeting", "1:1 (moved)", "Dinner"}
    assert SyncedItem.objects.get(integration=integration, title="Offsite").deleted_at is not None


# Graph answers an expired delta token with 410 Gone, or with 400 syncStateNotFound / resyncRequired.
@pytest.mark.parametrize(("status", "code"), [(410, ""), (400, "syncStateNotFound"), (400, "resyncRequired")])
def test_an_expired_delta_token_restarts_the_round_and_tombstones_what_is_gone(integration, graph, status, code):
    sync(integration)
    del graph.calendar(ALICE).events["ev3"]  # gone without a trace in the new round
    graph.expire_delta(ALICE, status=status, code=code)

    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    last_two = graph.requests_to(r"/calendarView/delta$")[-2:]
    assert "$deltatoken" in last_two[0].args
    assert "startDateTime" in last_two[1].args
    assert job.deleted == 1
    assert {i.title for i in live_items(integration)} == {"Board meeting", "Offsite"}
    integration.refresh_from_db()
    assert "$deltatoken" in integration.sync_cursor["delta"]["default"]


def test_a_new_round_after_an_expired_delta_that_fails_midway_still_tombstones_what_is_gone(integration, graph):
    """Graph's new round failed on its second page (a 503): the job resumes from the checkpoint's
    next link, and the round it completes still removes what was deleted while the token was dead."""
    sync(integration)
    del graph.calendar(ALICE).events["ev3"]
    graph.expire_delta(ALICE, status=410, code="")
    graph.max_page = 1
    graph.fail(r"/calendarView/delta$", 503, {"error": {"code": "ServiceUnavailable", "message": "Try later"}},
               when=lambda q: "$skiptoken" in q)  # fmt: skip

    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert len([s for s in graph.requests_to(r"/calendarView/delta$") if "$skiptoken" in s.args]) >= 2  # resumed
    assert job.deleted == 1
    assert {i.title for i in live_items(integration)} == {"Board meeting", "Offsite"}


def test_a_wider_window_starts_a_new_round_after_the_delta_round(integration, graph):
    graph.put_event(ALICE, {"id": "far", "subject": "Far ahead", "start": _at(400, 9), "end": _at(400, 10)})
    sync(integration)
    assert not live_items(integration).filter(title="Far ahead").exists()

    integration.config = {**integration.config, "window_future_days": 500}
    integration.save()
    job = sync(integration)

    assert job.deleted == 0
    assert live_items(integration).filter(title="Far ahead").exists()
    last_two = graph.requests_to(r"/calendarView/delta$")[-2:]
    assert "$deltatoken" in last_two[0].args
    assert "startDateTime" in last_two[1].args
    assert sync(integration).seen == 0


def test_named_calendars_are_read_and_unknown_names_are_a_settings_error(integration, graph):
    graph.put_event(
        ALICE, {"id": "fam1", "subject": "School play", "start": _at(6, 18), "end": _at(6, 19)}, calendar="Family"
    )
    integration.config = {**integration.config, "calendars": ["Family"]}
    integration.save()
    job = sync(integration)
    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert [i.title for i in live_items(integration)] == ["School play"]

    integration.config = {**integration.config, "calendars": ["Family", "Work"]}
    integration.save()
    job = sync(integration)
    assert job.status == JobStatus.FAILED
    assert "No Outlook calendar named 'Work'" in job.error_message


def test_throttling_429_waits_and_an_expired_token_401_is_refreshed(integration, graph, oauth_server):
    from integrations.models import Credential

    graph.fail(r"/calendarView/delta$", *graph.throttled(retry_after=1))
    old = Credential.objects.get(integration=integration).access_token
    oauth_server.expire_access_token(old)

    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert live_items(integration).count() == 3
    assert Credential.objects.get(integration=integration).access_token != old


def test_a_503_with_retry_after_is_waited_out_as_asked_instead_of_retried_at_once(integration, graph, settings):
    """Graph's error guide: 503 Service Unavailable (maintenance, overload) may say in Retry-After how
    long to wait. The sync waits that long (here longer than a worker waits: the job is held and
    resumes by itself) instead of retrying on a seconds-long backoff until it gives up."""
    settings.SYNC_MAX_WAIT = 2
    busy = {"error": {"code": "ServiceUnavailable", "message": "The service is temporarily unavailable."}}
    graph.fail(r"/calendarView/delta$", 503, busy, {"Retry-After": "600"}, times=10)
    job = queue_sync(integration, enqueue=False)
    waits = []

    held = run_job(job.pk, sleep=waits.append)

    assert held.status == JobStatus.QUEUED, held.error_message
    assert waits == []
    assert len(graph.requests_to(r"/calendarView/delta$")) == 1
    assert 590 < (held.not_before - timezone.now()).total_seconds() <= 600


def test_access_denied_403_needs_reauth(owner_client, oauth_server, graph):
    integration = connect_with_oauth(owner_client, oauth_server, SLUG, graph, scope="offline_access User.Read")
    job = sync(integration)
    assert job.error_class == "auth"
    assert integration.status == Status.NEEDS_REAUTH


def test_another_bad_request_fails_with_graphs_reason_instead_of_resyncing(integration, graph):
    sync(integration)
    graph.fail(r"/calendarView/delta$", 400, {"error": {"code": "ErrorInvalidParameter", "message": "Bad window."}})

    job = sync(integration)

    assert job.status == JobStatus.FAILED
    assert job.error_class == "config"
    assert "ErrorInvalidParameter" in job.error_message
    assert "Bad window." in job.error_message
    assert len(graph.requests_to(r"/calendarView/delta$")) == 2  # no new round was started


def test_a_new_round_over_a_narrower_window_tombstones_nothing_outside_it(integration, graph):
    graph.put_event(ALICE, {"id": "past", "subject": "Three weeks ago", "start": _at(-20, 9), "end": _at(-20, 10)})
    sync(integration)
    assert live_items(integration).filter(title="Three weeks ago").exists()

    # Ten days of the past now, and a new round (as after an expired token): the old event is not
    # in it because of the window, not because it was deleted.
    integration.config = {**integration.config, "window_past_days": 10}
    integration.save()
    del graph.calendar(ALICE).events["ev2"]  # really gone, inside the window
    job = sync(integration, kind="full")

    assert job.status == JobStatus.SUCCEEDED, job.error_message
    assert "startDateTime" in graph.requests_to(r"/calendarView/delta$")[-1].args
    assert job.deleted == 1
    assert live_items(integration).filter(title="Three weeks ago").exists()
    assert not live_items(integration).filter(title="Offsite").exists()


def test_a_round_without_its_delta_link_tombstones_nothing(integration, graph):
    sync(integration)
    del graph.calendar(ALICE).events["ev3"]
    graph.drop_delta_link = True  # the round ends, but nothing says it is complete

    job = sync(integration, kind="full")

    assert job.deleted == 0
    assert live_items(integration).count() == 3
    assert job.status == JobStatus.PARTIAL
    assert "may be incomplete: nothing was deleted" in job.remediation


def test_occurrences_carry_their_series_ical_uid_read_once_per_series(integration, graph):
    graph.put_series_master(ALICE, {"id": "series-1", "iCalUId": "SERIES-UID-1", "subject": "Standup"})
    for day in (1, 2):
        graph.put_event(ALICE, {"id": f"occ-{day}", "subject": "Standup", "type": "occurrence",
                                "seriesMasterId": "series-1", "start": _at(day, 9), "end": _at(day, 10)})  # fmt: skip
    graph.put_event(ALICE, {"id": "orphan", "subject": "Lost series", "type": "occurrence",
                            "seriesMasterId": "gone", "start": _at(3, 9), "end": _at(3, 10)})  # fmt: skip

    assert sync(integration).status == JobStatus.SUCCEEDED

    stored = {i.data["event_id"]: i.data for i in live_items(integration)}
    assert stored["occ-1"]["series_uid"] == stored["occ-2"]["series_uid"] == "SERIES-UID-1"
    assert stored["orphan"]["series_uid"] == ""  # its master answers 404: no UID rather than a wrong one
    assert stored["ev1"]["series_uid"] == ""  # a single instance has its own iCalUId
    masters = graph.requests_to(r"/me/events/")
    assert sorted(r.path.rsplit("/", 1)[-1] for r in masters) == ["gone", "series-1"]
    assert all(r.args.get("$select") == ["iCalUId"] for r in masters)
