"""Cards an output could not take are not lost: they stay pending in the delivery ledger and the
next run delivers them, exactly once, under the same delivery key. With the real RSS connector
against the local feed peer ("new since the last run", so a later run finds nothing new), Slack's
contract fake, and the test-only output posting to the feed peer."""

import json
import time

import pytest
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from integrations.models import IntegrationType
from tests.connectors.helpers import connect
from tests.factories import make_integration
from tests.fakes.slack import SlackFake
from tests.peers.feeds import Reply
from tests.workflows.helpers import add_output, add_source, make_workflow, output_integration
from tests.workflows.test_synced_items import rss
from workflows import schedules
from workflows.delivery import MAX_ATTEMPTS
from workflows.models import CardDelivery, ExecutionStatus
from workflows.runner import run_workflow
from workflows.tasks import run_execution, run_scheduled

pytestmark = pytest.mark.usefixtures("catalogue")


class SlackDownOnce(SlackFake):
    """Slack answering one webhook post, the n-th, with its documented 500 rollup_error."""

    def __init__(self, fail_post: int):
        super().__init__()
        self.fail_post, self.posts = fail_post, 0

    def webhook(self, request, seen, **path):
        self.posts += 1
        if self.posts == self.fail_post:
            return self._text(500, "rollup_error")
        return super().webhook(request, seen, **path)


@pytest.fixture
def blog(owner, feed_server):
    feed_server.serve(
        "/blog.rss",
        rss(("p1", "Django 6.0 released", 2), ("p2", "Tips for HTMX", 3), ("p3", "Async views", 4)),
        content_type="application/rss+xml",
    )
    return connect(owner, "rss", config={"url": feed_server.url("/blog.rss")}, name="Tech blog")


def _slack(allow_host, settings, fail_post: int) -> SlackDownOnce:
    fake = SlackDownOnce(fail_post)
    allow_host(fake.host)
    settings.CONNECTOR_API_BASES = {"slack": f"{fake.url}/api", "slack_hooks": fake.url}
    return fake


def _headers(slack) -> list[str]:
    return [message["blocks"][0]["text"]["text"] for message in slack.messages]


def _hook_posts(feed_server) -> list[dict]:
    return [json.loads(seen.body) for seen in feed_server.requests_to("/hook")]


def _ledger(workflow) -> list[str]:
    return sorted(CardDelivery.objects.filter(output__workflow=workflow).values_list("status", flat=True))


def test_a_slack_5xx_part_way_is_made_good_by_the_next_run_once_per_card(owner, blog, allow_host, settings):
    slack = _slack(allow_host, settings, fail_post=2)
    try:
        team = make_integration(
            owner, IntegrationType.objects.get(slug="slack"), name="Team Slack", secrets={"url": slack.hook_url()}
        )
        workflow = make_workflow(owner)
        add_source(workflow, blog, {"window": "new"}, one_card_per_item=True)
        add_output(workflow, team, {"channel": "#news"}, bundle="each")

        first = run_workflow(workflow)

        assert first.status == ExecutionStatus.PARTIAL
        assert (first.cards_made, first.cards_sent) == (3, 1)  # the message Slack took is counted
        assert len(_headers(slack)) == 1
        (error,) = first.errors
        assert error["message"] == (
            "1 of 3 messages were delivered before this error: Slack had an error (HTTP 500 rollup_error)."
        )
        assert "The 2 card(s) not delivered stay pending: the next run delivers them" in error["remediation"]
        assert "scheduled sync" not in error["remediation"]
        assert _ledger(workflow) == ["pending", "pending", "sent"]

        second = run_workflow(workflow)  # the feed has nothing new: only what is owed goes out

        assert second.status == ExecutionStatus.SUCCESS, second.errors
        assert (second.cards_made, second.cards_sent) == (0, 2)
        assert "Included 2 card(s) an earlier run could not deliver." in second.steps[-1]["detail"]
        assert sorted(_headers(slack)) == ["Async views", "Django 6.0 released", "Tips for HTMX"]  # each once
        assert _ledger(workflow) == ["sent", "sent", "sent"]

        third = run_workflow(workflow)

        assert third.status == ExecutionStatus.SUCCESS
        assert third.cards_sent == 0
        assert third.steps[-1]["status"] == "skipped"
        assert len(slack.messages) == 3
    finally:
        slack.stop()


def test_a_digest_that_failed_is_sent_by_the_next_run_with_its_first_key(owner, blog, feed_server):
    feed_server.sequence("/hook", [Reply(503, b"down"), Reply(200, b"ok")])
    workflow = make_workflow(owner)
    add_source(workflow, blog, {"window": "new"})
    add_output(workflow, output_integration(owner, feed_server.url("/hook")))

    first = run_workflow(workflow)
    second = run_workflow(workflow)

    assert first.status == ExecutionStatus.FAILURE
    assert first.cards_sent == 0
    assert second.status == ExecutionStatus.SUCCESS, second.errors
    failed, delivered = _hook_posts(feed_server)
    output = workflow.outputs.get()
    assert delivered["key"] == failed["key"] == f"workflow-{workflow.pk}-run-{first.pk}-output-{output.pk}"
    assert "Async views" in delivered["markdown"]
    assert run_workflow(workflow).cards_sent == 0
    assert len(_hook_posts(feed_server)) == 2  # no duplicate


def test_a_rate_limit_longer_than_the_hub_waits_defers_the_cards_until_asked(owner, blog, feed_server, settings):
    settings.SYNC_MAX_WAIT = 1
    feed_server.sequence("/hook", [Reply(429, b"slow down", {"Retry-After": "2"}), Reply(200, b"ok")])
    workflow = make_workflow(owner)
    add_source(workflow, blog, {"window": "new"})
    add_output(workflow, output_integration(owner, feed_server.url("/hook")))

    first = run_workflow(workflow)

    (error,) = first.errors
    assert error["error_class"] == "rate_limit"
    assert "stay pending and go out after" in error["remediation"]
    (row,) = CardDelivery.objects.filter(output__workflow=workflow)
    assert row.status == "pending"
    assert row.not_before > timezone.now()
    retry = Schedule.objects.get(name=schedules.retry_schedule_name(workflow.pk))
    assert retry.schedule_type == Schedule.ONCE
    assert retry.next_run == row.not_before  # a one-off run, though the workflow has no schedule

    early = run_workflow(workflow)  # Run now before the time the receiver asked for

    assert early.steps[-1]["status"] == "waiting"
    assert len(feed_server.requests_to("/hook")) == 1  # nothing was sent to it meanwhile

    time.sleep(max(0.0, (row.not_before - timezone.now()).total_seconds()) + 0.1)
    result = run_scheduled(workflow.pk, trigger="retry")  # what the one-off schedule runs

    assert result["status"] == ExecutionStatus.SUCCESS
    first_try, delivered = _hook_posts(feed_server)
    assert delivered["key"] == first_try["key"]
    assert _ledger(workflow) == ["sent"]


def test_a_delivery_refused_every_time_fails_and_can_be_retried_from_the_execution_log(
    owner, owner_client, blog, feed_server
):
    feed_server.sequence("/hook", [Reply(400, b"bad payload")] * MAX_ATTEMPTS + [Reply(200, b"ok")])
    workflow = make_workflow(owner)
    add_source(workflow, blog, {"window": "new"})
    add_output(workflow, output_integration(owner, feed_server.url("/hook"), name="Hook"))

    runs = [run_workflow(workflow) for _ in range(MAX_ATTEMPTS)]

    assert "The 1 card(s) not delivered stay pending" in runs[0].errors[0]["remediation"]
    assert f"Gave up on 1 card(s) after {MAX_ATTEMPTS} attempts" in runs[-1].errors[0]["remediation"]
    assert _ledger(workflow) == ["failed"]
    assert run_workflow(workflow).steps[-1]["status"] == "skipped"  # given up: not retried on its own
    assert len(feed_server.requests_to("/hook")) == MAX_ATTEMPTS

    log = owner_client.get(reverse("workflows:executions", args=[workflow.pk])).content.decode()
    assert "Not delivered yet" in log
    assert "New from Tech blog" in log
    assert "✖</span> Failed" in log
    assert "The service answered HTTP 400 (bad payload)." in log
    detail = owner_client.get(workflow.get_absolute_url()).content.decode()
    assert "1 card delivery failed." in detail
    first_run = owner_client.get(runs[0].get_absolute_url()).content.decode()
    assert "Deliveries of this run's cards" in first_run
    assert "The next run sends it." not in first_run  # it has failed for good since
    assert "Retry it from the execution log" in first_run

    response = owner_client.post(reverse("workflows:deliveries_retry", args=[workflow.pk]))

    assert response["Location"] == reverse("workflows:executions", args=[workflow.pk])
    queued = workflow.executions.first()
    assert run_execution(queued.pk)["status"] == ExecutionStatus.SUCCESS
    assert _ledger(workflow) == ["sent"]
    assert len(feed_server.requests_to("/hook")) == MAX_ATTEMPTS + 1
    log = owner_client.get(reverse("workflows:executions", args=[workflow.pk])).content.decode()
    assert "Not delivered yet" not in log
