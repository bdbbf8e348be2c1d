"""Todoist (API v1) against its contract fake over real HTTP: projects, tasks and comments
synced incrementally through sync_token, tasks created (idempotently) and completed as workflow
outputs, and each error class with its own fix."""

import datetime
from urllib.parse import parse_qs

import pytest

from connectors.base import OutgoingCard
from connectors.errors import AuthError, ConfigError, RateLimited, TransientError
from integrations.models import IntegrationType, JobStatus
from tests.connectors.helpers import live_items, sync
from tests.fakes.contract import open_connector, seed_owner, step_config
from tests.fakes.todoist import INBOX_ID, TOKEN, WORK_ID, TodoistFake


@pytest.fixture
def owner(db):
    return seed_owner("todoist")


@pytest.fixture
def todoist(allow_host, settings):
    fake = TodoistFake()
    allow_host(fake.host)
    settings.CONNECTOR_API_BASES = {"todoist": f"{fake.url}/api/v1"}
    yield fake
    fake.stop()


def _todoist(owner, token=TOKEN, **config):
    return open_connector(owner, "todoist", secrets={"token": token}, config=config)


def _step(**values):
    return step_config("todoist", "output", **values)


def test_todoist_is_available_as_source_and_output(owner):
    itype = IntegrationType.objects.get(slug="todoist")
    assert (itype.is_available, itype.handler, itype.category) == (True, "todoist", "both")
    assert (itype.burst_limit, itype.burst_window_seconds) == (450, 900)


def test_a_first_sync_reads_projects_tasks_and_comments_typed(owner, todoist):
    todoist.add_task(
        "t1", "Write report", WORK_ID, priority=4, labels=["deep"], description="Q4 numbers",
        due={"date": "2026-12-10T15:00:00", "string": "dec 10 3pm", "is_recurring": False, "timezone": None},
    )  # fmt: skip
    todoist.add_task("t2", "Buy milk", due={"date": "2026-12-09", "string": "tomorrow", "is_recurring": False})
    todoist.add_comment("n1", "t1", "Use the new template")
    integration = _todoist(owner).ctx.integration
    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED
    items = {i.external_id: i for i in live_items(integration)}
    assert set(items) == {f"project:{INBOX_ID}", f"project:{WORK_ID}", "task:t1", "task:t2", "comment:n1"}
    task = items["task:t1"]
    assert task.kind == "task"
    assert {k: task.data[k] for k in ("due", "completed", "completed_at", "project", "priority", "labels", "url")} == {
        "due": "2026-12-10T15:00:00+00:00",  # floating: the person's zone (none set: the hub's, UTC)
        "completed": False,
        "completed_at": None,
        "project": "Work",
        "priority": 4,
        "labels": ["deep"],
        "url": "https://app.todoist.com/app/task/t1",
    }
    assert task.occurred_at == datetime.datetime(2026, 12, 10, 15, tzinfo=datetime.UTC)
    assert items["task:t2"].data["due"] == "2026-12-09"
    note = items["comment:n1"]
    assert note.kind == "note"
    assert (note.data["text"], note.data["note_type"], note.data["source_title"]) == (
        "Use the new template", "note", "Write report",
    )  # fmt: skip
    assert items[f"project:{WORK_ID}"].kind == "todoist_project"
    sent = todoist.requests("POST", r"/sync$")[0]
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"


def test_the_next_sync_sends_the_sync_token_and_applies_completions_and_deletions(owner, todoist):
    todoist.add_task("t1", "Write report", WORK_ID)
    todoist.add_task("t2", "Buy milk")
    integration = _todoist(owner).ctx.integration
    sync(integration)
    token = integration.sync_cursor["sync_token"]
    todoist.update_task("t1", checked=True, completed_at="2026-12-02T10:00:00.000000Z")
    todoist.update_task("t2", is_deleted=True)
    todoist.add_task("t3", "Call Ana", WORK_ID)
    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED
    assert (job.created, job.updated, job.deleted) == (1, 1, 1)
    assert todoist.requests("POST", r"/sync$")[-1].body.decode().count(f"sync_token={token}") == 1
    tasks = {i.external_id: i.data for i in live_items(integration).filter(kind="task")}
    assert set(tasks) == {"task:t1", "task:t3"}
    assert (tasks["task:t1"]["completed"], tasks["task:t1"]["completed_at"]) == (True, "2026-12-02T10:00:00+00:00")
    assert tasks["task:t3"]["project"] == "Work"  # the project was not in this answer: its name came from the cursor


def test_a_sync_token_todoist_forgot_starts_again_from_a_full_read(owner, todoist):
    todoist.add_task("t1", "Write report", WORK_ID)
    integration = _todoist(owner).ctx.integration
    sync(integration)
    first_token = integration.sync_cursor["sync_token"]
    todoist.tokens.clear()  # Todoist no longer knows the stored token
    todoist.add_task("t2", "New task")
    job = sync(integration)

    assert job.status == JobStatus.PARTIAL
    assert "read again" in job.remediation
    assert job.created == 1
    tokens = [parse_qs(s.body.decode())["sync_token"][0] for s in todoist.requests("POST", r"/sync$")]
    assert tokens[1:] == [first_token, "*"]


def test_a_project_filter_keeps_only_those_projects_and_drops_tasks_moved_out(owner, todoist):
    todoist.add_task("t1", "Write report", WORK_ID)
    todoist.add_task("t2", "Buy milk")
    integration = _todoist(owner, projects=["work"]).ctx.integration
    sync(integration)
    assert set(live_items(integration).values_list("external_id", flat=True)) == {f"project:{WORK_ID}", "task:t1"}
    todoist.update_task("t1", project_id=INBOX_ID)
    sync(integration)
    assert set(live_items(integration).values_list("external_id", flat=True)) == {f"project:{WORK_ID}"}


def test_a_workflow_creates_tasks_once_even_when_retried(owner, todoist):
    card = OutgoingCard(
        title="Review PR", markdown="Please look", url="https://example.com/pr/1", tags=["review"],
        due=datetime.date(2026, 12, 12), key="workflow-1-card-2-output-3",
    )  # fmt: skip
    connector = _todoist(owner)
    step = _step(project_id=WORK_ID, labels=["hub"], priority=3)
    first = connector.send([card], step)
    again = connector.send([card], step)

    created = [t for t in todoist.items.values() if t["content"] == "Review PR"]
    assert len(created) == 1  # the same X-Request-Id: Todoist answered the first task
    assert first.external_ids == again.external_ids == [created[0]["id"]]
    body = todoist.requests("POST", r"/tasks$")[0].json
    assert body == {
        "content": "Review PR",
        "description": "Please look\n\nhttps://example.com/pr/1",
        "priority": 3,
        "project_id": WORK_ID,
        "labels": ["hub", "review"],
        "due_date": "2026-12-12",
    }
    assert first.detail == "1 task created in Todoist."


def test_a_due_time_is_sent_in_utc(owner, todoist):
    due = datetime.datetime(2026, 12, 12, 9, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    _todoist(owner).send([OutgoingCard(title="Standup", due=due)], _step())
    assert todoist.requests("POST", r"/tasks$")[0].json["due_datetime"] == "2026-12-12T07:30:00Z"


def test_a_workflow_completes_the_todoist_tasks_it_was_given(owner, todoist):
    todoist.add_task("t1", "Write report", WORK_ID)
    integration = _todoist(owner).ctx.integration
    sync(integration)
    entry = {"external_id": "task:t1", "kind": "task", "data": live_items(integration).get(external_id="task:t1").data}
    card = OutgoingCard(title="Done", data={"entries": [entry]})
    delivery = _todoist(owner).send([card], _step(action="complete"))

    assert delivery.detail == "1 task completed in Todoist."
    assert todoist.items["t1"]["checked"] is True
    assert [s.path for s in todoist.requests("POST", r"/close$")] == ["/api/v1/tasks/t1/close"]


def test_completing_without_todoist_tasks_says_why(owner, todoist):
    with pytest.raises(ConfigError, match="None of these items is a Todoist task") as exc:
        _todoist(owner).send([OutgoingCard(title="x")], _step(action="complete"))
    assert exc.value.field == "action"


def test_test_connection_names_the_account(owner, todoist):
    assert _todoist(owner).test_connection() == "me@example.com"


def test_401_asks_for_the_token_again(owner, todoist):
    with pytest.raises(AuthError) as exc:
        _todoist(owner, token="wrong").test_connection()
    assert exc.value.field == "token"
    assert "API token again" in exc.value.remediation


def test_403_is_about_access(owner, todoist):
    todoist.fail("POST", r"/tasks$", 403, {"error": "Forbidden", "error_tag": "FORBIDDEN", "http_code": 403})
    with pytest.raises(AuthError, match="denied access") as exc:
        _todoist(owner).send([OutgoingCard(title="x")], _step())
    assert "shared projects" in exc.value.remediation


def test_404_names_the_project_field(owner, todoist):
    with pytest.raises(ConfigError, match="no such project") as exc:
        _todoist(owner).send([OutgoingCard(title="x")], _step(project_id="nope"))
    assert exc.value.field == "project_id"


def test_410_from_the_retired_rest_api_is_explained(owner, todoist, settings):
    settings.CONNECTOR_API_BASES = {"todoist": f"{todoist.url}/rest/v2"}
    with pytest.raises(ConfigError, match="no longer offers the API") as exc:
        _todoist(owner).send([OutgoingCard(title="x")], _step())
    assert "api/v1" in exc.value.remediation


def test_429_is_waited_out_then_reported_with_todoists_wait(owner, todoist, fast_backoff, settings):
    body = {"error": "Too many requests", "error_tag": "LIMITS_REACHED", "error_extra": {"retry_after": 7}}
    todoist.fail("POST", r"/sync$", 429, body)
    assert _todoist(owner).test_connection() == "me@example.com"  # one 429, then the retry went through
    settings.SYNC_MAX_TRANSIENT_RETRIES = 0
    todoist.fail("POST", r"/sync$", 429, body)
    with pytest.raises(RateLimited) as exc:
        _todoist(owner).test_connection()
    assert exc.value.retry_after == 7


def test_5xx_is_transient(owner, todoist):
    todoist.fail("POST", r"/sync$", 503, "Service Unavailable", times=10)
    with pytest.raises(TransientError):
        _todoist(owner).test_connection()


def test_a_project_renamed_out_of_or_into_the_filter_takes_its_tasks_along(owner, todoist):
    """Only the project changes when it is renamed; its tasks do not come back in the next
    incremental answer. Renamed away from the chosen names, its tasks stayed here forever; renamed
    to one, its existing tasks never arrived. A change of which projects are kept now reads
    everything once more, so the tasks follow their project."""
    todoist.add_task("t1", "Write report", WORK_ID)
    todoist.add_task("t2", "Buy milk")
    integration = _todoist(owner, projects=["work"]).ctx.integration
    sync(integration)
    assert set(live_items(integration).values_list("external_id", flat=True)) == {f"project:{WORK_ID}", "task:t1"}

    todoist.rename_project(WORK_ID, "Old work")
    sync(integration)
    assert set(live_items(integration).values_list("external_id", flat=True)) == set()

    todoist.rename_project(WORK_ID, "Work")
    sync(integration)
    assert set(live_items(integration).values_list("external_id", flat=True)) == {f"project:{WORK_ID}", "task:t1"}


def test_a_floating_due_time_is_the_persons_own_time_not_utc(owner, todoist):
    """Todoist sends a due time without a zone ("2026-12-10T15:00:00", timezone null) for a task due
    at 3 pm wherever the person is. It was read as 15:00 UTC, so a person in New York saw the task
    due at 10:00; it is now read in the person's own zone, as floating calendar times are. A due time
    Todoist sends in UTC ("...Z") stays that instant."""
    from integrations.models import UserPreferences

    UserPreferences.objects.update_or_create(user=owner, defaults={"time_zone": "America/New_York"})
    floating = {"date": "2026-12-10T15:00:00", "string": "dec 10 3pm", "is_recurring": False, "timezone": None}
    fixed = {"date": "2026-12-10T15:00:00Z", "string": "dec 10 3pm", "is_recurring": False, "timezone": "Europe/Rome"}
    todoist.add_task("t1", "Call the bank", due=floating)
    todoist.add_task("t2", "Call Rome", due=fixed)
    integration = _todoist(owner).ctx.integration
    sync(integration)

    items = {i.external_id: i for i in live_items(integration)}
    assert items["task:t1"].data["due"] == "2026-12-10T15:00:00-05:00"
    assert items["task:t1"].occurred_at == datetime.datetime(2026, 12, 10, 20, tzinfo=datetime.UTC)
    assert items["task:t2"].occurred_at == datetime.datetime(2026, 12, 10, 15, tzinfo=datetime.UTC)


def test_a_due_time_without_a_zone_is_sent_as_the_persons_hour(owner, todoist):
    from integrations.models import UserPreferences

    UserPreferences.objects.update_or_create(user=owner, defaults={"time_zone": "America/New_York"})
    _todoist(owner).send([OutgoingCard(title="Dentist", due=datetime.datetime(2026, 7, 2, 15, 30))], _step())
    assert todoist.requests("POST", r"/tasks$")[0].json["due_datetime"] == "2026-07-02T19:30:00Z"  # 15:30 EDT


def test_the_comments_of_a_deleted_task_leave_with_it(owner, todoist):
    """Deleting a task in Todoist deletes its comments there; the sync answer names the task as
    deleted, not each comment, so the hub removes the task's comments with it."""
    todoist.add_task("t1", "Write report", WORK_ID)
    todoist.add_task("t2", "Buy milk")
    todoist.add_comment("n1", "t1", "Draft in the shared folder")
    todoist.add_comment("n2", "t2", "Oat milk")
    integration = _todoist(owner).ctx.integration
    sync(integration)
    assert live_items(integration).filter(kind="note").count() == 2

    todoist.update_task("t1", is_deleted=True)
    job = sync(integration)

    assert job.status == JobStatus.SUCCEEDED
    assert set(live_items(integration).filter(kind="note").values_list("external_id", flat=True)) == {"comment:n2"}


def test_a_project_filter_keeps_only_the_comments_of_the_tasks_it_keeps(owner, todoist):
    todoist.add_task("t1", "Write report", WORK_ID)
    todoist.add_task("t2", "Buy milk")
    todoist.add_comment("n1", "t1", "Draft in the shared folder")
    todoist.add_comment("n2", "t2", "Oat milk")
    integration = _todoist(owner, projects=["work"]).ctx.integration
    sync(integration)
    assert set(live_items(integration).filter(kind="note").values_list("external_id", flat=True)) == {"comment:n1"}

    todoist.add_comment("n3", "t2", "Or soy")  # on a task outside the filter, in a later answer
    todoist.update_task("t1", project_id=INBOX_ID)  # moved out: its comment goes with it
    sync(integration)
    assert not live_items(integration).filter(kind="note").exists()
