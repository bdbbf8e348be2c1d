"""The workflow runner over real HTTP: a direct-query source and an output, both small test-only
connectors talking to the local `feed_server` through the hub's HttpClient (rate limiter, 429
handling, SSRF guard), so what is tested is the real engine path."""

import itertools
import json
import threading

import pytest
from django.db import connection

from integrations.models import Status
from tests.peers.feeds import Reply
from tests.waiting import wait_for
from tests.workflows.helpers import (
    add_output,
    add_source,
    make_workflow,
    output_integration,
    query_integration,
)
from workflows.models import Card, Execution, ExecutionStatus, Workflow
from workflows.runner import refresh_card, run_workflow, start_execution


def _results(*titles, prefix="r"):
    items = [
        {"id": f"{prefix}{i}", "title": t, "summary": f"About {t}", "url": f"https://example.com/{prefix}{i}"}
        for i, t in enumerate(titles)
    ]
    return json.dumps({"items": items})


def _posted(feed_server, path="/hook"):
    return [json.loads(seen.body) for seen in feed_server.requests_to(path)]


@pytest.fixture
def digest(owner, feed_server):
    """Two sources (news, jobs) -> one output, over the local HTTP peer."""
    feed_server.serve("/news", _results("Release 2.0", "Security fix"), content_type="application/json")
    feed_server.serve("/jobs", _results("Build green", prefix="j"), content_type="application/json")
    feed_server.serve("/hook", "ok", content_type="text/plain")
    workflow = make_workflow(owner)
    news = add_source(workflow, query_integration(owner, feed_server.url("/news"), name="News"), {"q": "py"})
    news.tags = ["news"]
    news.save()
    add_source(workflow, query_integration(owner, feed_server.url("/jobs"), name="CI"), tags=["ci"])
    add_output(workflow, output_integration(owner, feed_server.url("/hook")), {"channel": "#digest"})
    return workflow


def test_sources_make_cards_and_the_output_gets_one_rendered_digest(digest, feed_server):
    execution = run_workflow(digest)

    assert execution.status == ExecutionStatus.SUCCESS, execution.errors
    assert (execution.cards_made, execution.cards_sent) == (2, 1)
    assert execution.duration_ms is not None
    news = Card.objects.get(execution=execution, title="News")
    assert news.tags == ["news"]
    assert [e["title"] for e in news.data["entries"]] == ["Release 2.0", "Security fix"]
    assert "[Release 2.0](https://example.com/r0)" in news.content
    assert news.request["config"] == {"q": "py"}  # what produced it, for refresh
    assert feed_server.requests_to("/news")[0].path.endswith("?q=py")

    (message,) = _posted(feed_server)
    assert message["title"].startswith("Daily digest · ")
    assert "### News" in message["markdown"]
    assert "### CI" in message["markdown"]
    assert '<a href="https://example.com/r0" rel="noopener noreferrer nofollow">Release 2.0</a>' in message["html"]
    assert message["config"] == {"channel": "#digest"}
    assert message["key"] == f"workflow-{digest.pk}-run-{execution.pk}-output-{digest.outputs.get().pk}"
    assert [c["title"] for c in message["data"]["cards"]] == ["News", "CI"]
    digest.refresh_from_db()
    assert digest.last_run_at == execution.started_at
    assert [s["status"] for s in execution.steps] == ["ok", "ok", "ok"]


def test_a_failing_source_makes_the_others_cards_partial_with_the_failure_summarised(digest, feed_server, fast_backoff):
    feed_server.sequence("/jobs", [Reply(503, b"down")])

    execution = run_workflow(digest)

    assert execution.status == ExecutionStatus.PARTIAL
    (card,) = Card.objects.filter(execution=execution)
    assert card.title == "News"
    assert card.is_partial
    assert card.data["failures"] == [
        {
            "source": "CI (Wf Json)",
            "message": "The service had an error (HTTP 503).",
            "text": "CI (Wf Json): The service had an error (HTTP 503).",
        }
    ]
    (error,) = execution.errors
    assert error["label"] == "CI (Wf Json)"
    assert error["error_class"] == "transient"
    assert error["remediation"]  # what to do, for the execution log
    (message,) = _posted(feed_server)
    assert "Not everything could be fetched: CI (Wf Json): The service had an error (HTTP 503)." in message["markdown"]


def test_when_every_source_fails_nothing_is_sent_and_the_run_fails(digest, feed_server, fast_backoff):
    feed_server.sequence("/news", [Reply(500, b"x")])
    feed_server.sequence("/jobs", [Reply(404, b"gone")])

    execution = run_workflow(digest)

    assert execution.status == ExecutionStatus.FAILURE
    assert execution.cards_made == 0
    assert _posted(feed_server) == []
    assert {e["error_class"] for e in execution.errors} == {"transient", "config"}
    assert any("Check the address" in e["remediation"] for e in execution.errors)


def test_a_failing_output_is_recorded_and_the_other_output_still_delivers(digest, owner, feed_server):
    feed_server.sequence("/broken", [Reply(500, b"oops")])
    add_output(digest, output_integration(owner, feed_server.url("/broken"), name="Broken"))

    execution = run_workflow(digest)

    assert execution.status == ExecutionStatus.PARTIAL
    assert execution.cards_sent == 1
    assert len(_posted(feed_server)) == 1
    assert len(feed_server.requests_to("/broken")) == 1  # a POST is not replayed on a 5xx
    (error,) = execution.errors
    assert error["step"] == "output"
    assert error["label"] == "Broken (Wf Out)"
    assert error["message"] == "The service had an error (HTTP 500)."


def test_several_cards_to_a_rate_limited_output_are_spaced_out(owner, feed_server):
    """Slack-like pace: one message per second per integration, from the blueprint's burst window."""
    feed_server.serve("/news", _results("A", "B", "C"), content_type="application/json")
    feed_server.serve("/hook", "ok", content_type="text/plain")
    workflow = make_workflow(owner)
    add_source(workflow, query_integration(owner, feed_server.url("/news")), one_card_per_item=True)
    hook = output_integration(owner, feed_server.url("/hook"), rate_limit_per_minute=60, burst_limit=1)
    hook.type.burst_window_seconds = 1
    hook.type.save()
    add_output(workflow, hook, bundle="each")

    execution = run_workflow(workflow)

    assert execution.status == ExecutionStatus.SUCCESS
    assert execution.cards_sent == 3
    arrivals = [seen.at for seen in feed_server.requests_to("/hook")]
    assert len(arrivals) == 3
    assert all(later - earlier >= 0.9 for earlier, later in itertools.pairwise(arrivals))
    assert [m["title"] for m in _posted(feed_server)] == ["A", "B", "C"]


def test_a_429_from_an_output_is_waited_out_never_dropped(digest, feed_server):
    feed_server.sequence("/hook", [Reply(429, b"slow down", {"Retry-After": "1"}), Reply(200, b"ok")])

    execution = run_workflow(digest)

    assert execution.status == ExecutionStatus.SUCCESS
    assert execution.cards_sent == 1
    first, second = feed_server.requests_to("/hook")
    assert second.at - first.at >= 0.95
    assert first.body == second.body


def test_an_integration_needing_reauth_pauses_and_flags_the_workflow_without_trying(digest, owner, feed_server):
    source = digest.sources.get(integration__name="CI").integration
    source.set_status(Status.NEEDS_REAUTH, "Token revoked")

    execution = run_workflow(digest)

    digest.refresh_from_db()
    assert execution.status == ExecutionStatus.FAILURE
    assert not digest.is_active
    assert digest.needs_attention
    assert "“CI” (Wf Json) needs you to sign in again: re-authenticate it" in digest.attention_reason
    assert feed_server.log == []  # nothing was fetched or sent
    assert "re-authenticate" in execution.errors[0]["message"]


def test_a_deleted_integration_flags_the_workflow(digest, feed_server):
    digest.outputs.get().integration.delete()  # SET_NULL leaves the step, without its integration

    execution = run_workflow(digest)

    digest.refresh_from_db()
    assert execution.status == ExecutionStatus.FAILURE
    assert digest.needs_attention
    assert not digest.is_active
    assert "was deleted" in digest.attention_reason
    assert feed_server.log == []


def test_an_output_refusing_its_credentials_needs_reauth_and_pauses_the_workflow(digest, feed_server):
    feed_server.sequence("/hook", [Reply(401, b"bad token")])

    execution = run_workflow(digest)

    digest.refresh_from_db()
    output = digest.outputs.get().integration
    output.refresh_from_db()
    assert output.status == Status.NEEDS_REAUTH
    assert execution.status == ExecutionStatus.FAILURE
    assert digest.needs_attention
    assert "“Hook” (Wf Out) needs you to sign in again" in digest.attention_reason


def test_one_execution_at_a_time_per_workflow(digest):
    first, created = start_execution(digest)
    again, created_again = start_execution(digest, "schedule")
    assert created
    assert not created_again
    assert again.pk == first.pk
    assert run_workflow(digest) is None  # a schedule firing meanwhile does not run it twice
    assert Execution.objects.filter(workflow=digest).count() == 1


def test_outputs_pick_cards_by_tag_and_source(digest, owner, feed_server):
    feed_server.serve("/ci-only", "ok", content_type="text/plain")
    ci_source = digest.sources.get(integration__name="CI")
    add_output(
        digest, output_integration(owner, feed_server.url("/ci-only"), name="CI hook"), card_filter={"tags": ["ci"]}
    )
    add_output(
        digest,
        output_integration(owner, feed_server.url("/none"), name="Nobody"),
        card_filter={"sources": [ci_source.pk], "tags": ["news"]},
    )

    execution = run_workflow(digest)

    (ci_message,) = _posted(feed_server, "/ci-only")
    assert [c["title"] for c in ci_message["data"]["cards"]] == ["CI"]
    assert feed_server.requests_to("/none") == []
    assert {"step": "output", "status": "skipped"}.items() <= execution.steps[-1].items()


def test_a_template_error_fails_that_output_with_what_to_fix(digest, feed_server):
    output = digest.outputs.get()
    output.template = "{% for card in cards %}{{ card.title }\n{% endfor %}"
    output.save()

    execution = run_workflow(digest)

    assert execution.status == ExecutionStatus.FAILURE
    assert _posted(feed_server) == []
    (error,) = execution.errors
    assert error["message"].startswith("The template could not be rendered: Line 1:")
    assert "template" in error["remediation"]


def test_each_card_message_has_a_stable_key_per_card_and_output(digest, feed_server):
    output = digest.outputs.get()
    output.bundle = "each"
    output.title = "{{ card.source }}: {{ card.count }} new"
    output.save()

    execution = run_workflow(digest)

    messages = _posted(feed_server)
    cards = list(Card.objects.filter(execution=execution).order_by("pk"))
    assert [m["key"] for m in messages] == [f"workflow-{digest.pk}-card-{c.pk}-output-{output.pk}" for c in cards]
    assert [m["title"] for m in messages] == ["News (Wf Json): 2 new", "CI (Wf Json): 1 new"]


def test_refresh_reruns_just_that_source_with_its_stored_request(digest, feed_server):
    execution = run_workflow(digest)
    card = Card.objects.get(execution=execution, title="News")
    feed_server.serve("/news", _results("Release 2.1"), content_type="application/json")
    before_jobs = len(feed_server.requests_to("/jobs"))

    refresh_card(card)

    card.refresh_from_db()
    assert [e["title"] for e in card.data["entries"]] == ["Release 2.1"]
    assert card.refreshed_at is not None
    assert feed_server.requests_to("/news")[-1].path.endswith("?q=py")
    assert len(feed_server.requests_to("/jobs")) == before_jobs


def test_deleting_a_workflow_while_it_runs_ends_the_run_quietly(owner, feed_server, transactional_db):
    fetched = threading.Event()
    feed_server.sequence(
        "/news", [Reply(200, _results("Release 2.0").encode(), {"Content-Type": "application/json"}, hold=fetched)]
    )
    feed_server.serve("/hook", "ok", content_type="text/plain")
    workflow = make_workflow(owner)
    add_source(workflow, query_integration(owner, feed_server.url("/news"), name="News"), {"q": "py"})
    add_output(workflow, output_integration(owner, feed_server.url("/hook")), {"channel": "#digest"})
    outcome = {}

    def run():  # the worker, with its own database connection
        try:
            outcome["execution"] = run_workflow(Workflow.objects.get(pk=workflow.pk))
        except Exception as exc:  # noqa: BLE001 - what the worker would have logged as a crash
            outcome["error"] = exc
        finally:
            connection.close()

    worker = threading.Thread(target=run)
    worker.start()
    wait_for(lambda: feed_server.requests_to("/news"), seconds=60)  # the source is fetching
    Workflow.objects.filter(pk=workflow.pk).delete()  # the owner deletes it meanwhile
    fetched.set()
    worker.join(60)

    assert not worker.is_alive()
    assert outcome == {"execution": None}  # no crash (an IntegrityError, then "no rows updated", before)
    assert feed_server.requests_to("/hook") == []  # nothing delivered for a deleted workflow
    assert not Card.objects.exists()
    assert not Execution.objects.exists()


def test_a_message_title_is_one_line_even_when_the_title_template_renders_nothing(digest, feed_server):
    # A feed's title with line breaks: a mail subject cannot hold them (Python's email refuses the
    # header, so the card never went out), and a chat message's title shows them as they are.
    feed_server.serve("/news", _results("Release\r\n2.0\nBcc: x@example.com"), content_type="application/json")
    news = digest.sources.first()
    news.one_card_per_item = True
    news.save()
    output = digest.outputs.get()
    output.bundle = "each"
    output.title = "{{ card.nothing_here }}"  # renders empty: the card's own title is used
    output.save()

    run_workflow(digest)

    titles = [m["title"] for m in _posted(feed_server)]
    assert "Release 2.0 Bcc: x@example.com" in titles
    assert all("\n" not in title and "\r" not in title for title in titles)


def test_an_entry_address_with_spaces_or_an_odd_parenthesis_is_still_a_link(digest, feed_server):
    # A feed's address with a space (or a lone parenthesis) ended the markdown link early: the card,
    # the chat message and the mail showed "[Episode 12](https://example.com/ep 12.mp3)" as text.
    items = [
        {"id": "a", "title": "Episode 12", "url": "https://example.com/ep 12.mp3"},
        {"id": "b", "title": "Odd", "url": "https://example.com/a(b"},
        {"id": "c", "title": "Python", "url": "https://en.wikipedia.org/wiki/Python_(language)"},
    ]
    feed_server.serve("/news", json.dumps({"items": items}), content_type="application/json")

    run_workflow(digest)

    [message] = _posted(feed_server)
    html = message["html"]
    assert '<a href="https://example.com/ep%2012.mp3" rel="noopener noreferrer nofollow">Episode 12</a>' in html
    assert '<a href="https://example.com/a%28b" rel="noopener noreferrer nofollow">Odd</a>' in html
    assert 'href="https://en.wikipedia.org/wiki/Python_(language)"' in html
    assert "](" not in html
