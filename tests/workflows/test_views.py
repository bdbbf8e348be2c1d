"""The workflow pages: owner-only (another user gets 404, a visitor the login page), CSRF on every
POST, schema-driven step forms, the template preview that never 500s, Run now and its polling."""

import pytest
from django.test import Client
from django.urls import reverse
from django_q.brokers import get_broker

from integrations.models import Status
from tests.workflows.helpers import add_output, add_source, make_workflow, output_integration, query_integration
from workflows import runner
from workflows.models import Card, Execution, ExecutionStatus, Workflow
from workflows.tasks import run_execution

pytestmark = pytest.mark.usefixtures("catalogue")


@pytest.fixture
def workflow(owner):
    workflow = make_workflow(owner, schedule="0 7 * * *")
    add_source(workflow, query_integration(owner, "https://search.example.com/api", name="Search"), {"q": "django"})
    add_output(workflow, output_integration(owner, "https://hooks.example.com/x", name="Team hook"))
    return workflow


def _urls(workflow):
    source, output = workflow.sources.get(), workflow.outputs.get()
    card = Card.objects.create(workflow=workflow, source=source, title="A card", content="- hi\n")
    run = Execution.objects.create(workflow=workflow, status="success")
    pk = workflow.pk
    return {
        "get": [
            reverse("workflows:detail", args=[pk]),
            reverse("workflows:edit", args=[pk]),
            reverse("workflows:delete", args=[pk]),
            reverse("workflows:runs_partial", args=[pk]),
            reverse("workflows:cards_partial", args=[pk]),
            reverse("workflows:stats_partial", args=[pk]),
            reverse("workflows:source_add", args=[pk]),
            reverse("workflows:source_edit", args=[pk, source.pk]),
            reverse("workflows:output_add", args=[pk]),
            reverse("workflows:output_edit", args=[pk, output.pk]),
            reverse("workflows:executions", args=[pk]),
            reverse("workflows:execution", args=[pk, run.pk]),
            reverse("workflows:cards", args=[pk]),
        ],
        "post": [
            reverse("workflows:run", args=[pk]),
            reverse("workflows:resume", args=[pk]),
            reverse("workflows:pause", args=[pk]),
            reverse("workflows:delete", args=[pk]),
            reverse("workflows:preview", args=[pk]),
            reverse("workflows:source_remove", args=[pk, source.pk]),
            reverse("workflows:output_remove", args=[pk, output.pk]),
            reverse("workflows:card_refresh", args=[pk, card.pk]),
            reverse("workflows:deliveries_retry", args=[pk]),
        ],
    }


def test_another_user_gets_404_everywhere_including_htmx_partials(workflow, other_client):
    urls = _urls(workflow)
    for url in urls["get"]:
        assert other_client.get(url).status_code == 404, url
        assert other_client.get(url, headers={"HX-Request": "true"}).status_code == 404, url
    for url in urls["post"]:
        assert other_client.post(url).status_code == 404, url
    assert Workflow.objects.filter(pk=workflow.pk, is_active=True).exists()
    assert not Execution.objects.filter(status="queued").exists()


def test_a_visitor_is_sent_to_log_in(workflow, client):
    urls = _urls(workflow)
    for url in [*urls["get"], reverse("workflows:list"), reverse("workflows:create")]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("account_login"))
    for url in urls["post"]:
        assert client.post(url).status_code == 302


def test_every_post_needs_the_csrf_token(workflow, owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    for url in _urls(workflow)["post"]:
        assert client.post(url).status_code == 403, url


def test_the_list_shows_status_schedule_next_run_and_last_run(workflow, owner, owner_client):
    Execution.objects.create(workflow=workflow, status=ExecutionStatus.PARTIAL)
    flagged = make_workflow(owner, name="Broken one", needs_attention=True, is_active=False,
                            attention_reason="“Old mail” needs you to sign in again.")  # fmt: skip

    page = owner_client.get(reverse("workflows:list")).content.decode()

    assert "Daily digest" in page
    assert "0 7 * * *" in page
    assert "Next:" in page
    assert "◐</span> Partial" in page
    assert "Needs attention" in page
    assert "“Old mail” needs you to sign in again." in page
    assert flagged.name in page


def test_others_workflows_are_not_listed(workflow, other_client):
    assert "Daily digest" not in other_client.get(reverse("workflows:list")).content.decode()


def test_create_validates_the_cron_expression_and_then_schedules(owner, owner_client):
    response = owner_client.post(
        reverse("workflows:create"), {"name": "Morning", "schedule": "7 * *", "is_active": "on"}
    )
    assert response.status_code == 200
    assert "Use five fields" in response.content.decode()

    response = owner_client.post(
        reverse("workflows:create"), {"name": "Morning", "schedule": "0  7 * * 1-5", "is_active": "on"}
    )
    workflow = Workflow.objects.get(owner=owner, name="Morning")
    assert response["Location"] == workflow.get_absolute_url()
    assert workflow.schedule == "0 7 * * 1-5"
    assert "Next run" in owner_client.get(workflow.get_absolute_url()).content.decode()


def test_a_schedule_that_never_fires_is_a_form_error_not_a_crash(owner, owner_client):
    preview = owner_client.get(reverse("workflows:cron_preview"), {"schedule": "0 0 31 2 *"})
    assert preview.status_code == 200
    assert "never fires" in preview.content.decode()

    response = owner_client.post(
        reverse("workflows:create"), {"name": "Leap", "schedule": "0 0 31 2 *", "is_active": "on"}
    )
    assert response.status_code == 200
    assert "never fires" in response.content.decode()
    assert not Workflow.objects.filter(owner=owner, name="Leap").exists()


def test_names_are_unique_per_owner(workflow, owner_client, other_user):
    response = owner_client.post(reverse("workflows:create"), {"name": "daily DIGEST", "is_active": "on"})
    assert "already have a workflow with that name" in response.content.decode()
    other_client = Client()
    other_client.force_login(other_user)
    other_client.post(reverse("workflows:create"), {"name": "Daily digest", "is_active": "on"})
    assert Workflow.objects.filter(name="Daily digest").count() == 2


def test_a_name_taken_between_the_check_and_the_save_is_a_form_error_not_a_500(owner, owner_client):
    """Save pressed twice (or two tabs): both requests pass the name check, the first stores it.
    Here the first one's row goes in between the second's check and its save (a pre_save receiver)."""
    from django.db.models.signals import pre_save

    def first_press_lands(sender, instance, **kwargs):
        if instance.pk is None and not Workflow.objects.filter(owner=owner, name="Weekly digest").exists():
            Workflow.objects.bulk_create([Workflow(owner=owner, name="Weekly digest")])  # sends no signals

    pre_save.connect(first_press_lands, sender=Workflow)
    try:
        response = owner_client.post(reverse("workflows:create"), {"name": "Weekly digest", "is_active": "on"})
    finally:
        pre_save.disconnect(first_press_lands, sender=Workflow)
    assert response.status_code == 200
    assert "already have a workflow with that name" in response.content.decode()
    assert 'value="Weekly digest"' in response.content.decode()  # what was typed is kept


def test_sources_are_picked_from_your_own_integrations_with_a_schema_driven_form(owner, owner_client, other_user):
    from tests.connectors.helpers import connect

    workflow = make_workflow(owner)
    feed = connect(owner, "rss", config={"url": "https://blog.example.com/feed"}, name="My blog")
    theirs = connect(other_user, "rss", config={"url": "https://x.example.com/feed"}, name="Their blog")
    url = reverse("workflows:source_add", args=[workflow.pk])

    picker = owner_client.get(url).content.decode()
    assert "My blog" in picker
    assert "Their blog" not in picker
    assert owner_client.get(url, {"integration": theirs.pk}).status_code == 404

    form = owner_client.get(url, {"integration": feed.pk}, headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in form  # the HTMX partial
    assert 'name="cfg-window"' in form
    assert "Sync before reading" in form

    bad = owner_client.post(url, {"integration": feed.pk, "cfg-window": "tomorrow", "cfg-limit": "0"})
    assert bad.status_code == 400
    assert "At most must be at least 1." in bad.content.decode()

    response = owner_client.post(
        url,
        {"integration": feed.pk, "cfg-window": "tomorrow", "cfg-limit": "5", "cfg-hours": "24", "tags": "News, am"},
    )
    assert response.status_code == 302
    source = workflow.sources.get()
    assert source.kind == "synced_items"
    assert source.config == {"window": "tomorrow", "hours": 24, "limit": 5, "sync_first": False}
    assert source.tags == ["news", "am"]
    assert owner_client.post(url, {"integration": theirs.pk}).status_code == 404


def test_a_direct_query_source_starts_from_the_integration_settings(owner, owner_client):
    workflow = make_workflow(owner)
    search = query_integration(owner, "https://search.example.com/api", name="Search")
    search.config["q"] = "is:open"
    search.save()

    page = owner_client.get(reverse("workflows:source_add", args=[workflow.pk]), {"integration": search.pk})

    assert 'value="is:open"' in page.content.decode()
    assert "Live query" in page.content.decode()


def test_outputs_refuse_a_broken_template_and_save_a_good_one(workflow, owner, owner_client):
    hook = output_integration(owner, "https://hooks.example.com/y", name="Second hook")
    url = reverse("workflows:output_add", args=[workflow.pk])
    data = {"integration": hook.pk, "bundle": "each", "template_format": "markdown", "cfg-channel": "#ops"}

    bad = owner_client.post(url, {**data, "template": "{{ card.title }"})
    assert bad.status_code == 400
    assert "Line 1: unexpected" in bad.content.decode()

    good = owner_client.post(url, {**data, "template": "**{{ card.title }}**", "filter_tags": "news"})
    assert good.status_code == 302
    output = workflow.outputs.get(integration=hook)
    assert output.config == {"channel": "#ops"}
    assert output.card_filter == {"tags": ["news"]}
    assert output.bundle == "each"


def test_the_live_preview_renders_the_last_cards_and_shows_errors_inline(workflow, owner_client):
    execution = Execution.objects.create(workflow=workflow, status="success", cards_made=1)
    Card.objects.create(
        workflow=workflow, execution=execution, title="Tech news", content="- [Django 6](https://djangoproject.com)\n"
    )
    url = reverse("workflows:preview", args=[workflow.pk])
    htmx = {"HX-Request": "true"}

    template = "{% for c in cards %}# {{ c.title }}\n{{ c.content }}{% endfor %}"
    ok = owner_client.post(url, {"bundle": "digest", "template": template}, headers=htmx)
    assert ok.status_code == 200
    assert "<h1>Tech news</h1>" in ok.content.decode()
    assert 'href="https://djangoproject.com"' in ok.content.decode()

    broken = owner_client.post(url, {"template": "{% for c in cards %}"}, headers=htmx)
    assert broken.status_code == 200
    assert "cannot be rendered" in broken.content.decode()

    escape = owner_client.post(url, {"template": "{{ cards.__class__.__mro__ }}"}, headers=htmx)
    assert escape.status_code == 200
    assert "Not allowed" in escape.content.decode()

    script = owner_client.post(url, {"template": "<script>alert(1)</script>", "template_format": "html"}, headers=htmx)
    assert "<script>" not in script.content.decode()


def test_the_preview_renders_every_cards_message_within_one_template_budget(workflow, owner_client, settings):
    # One message per card: each card's render got the whole budget again, so a template stopping
    # just short of the limit kept a web process busy 10 cards x (body + title) x the time limit.
    settings.WORKFLOW_TEMPLATE_MAX_ITERATIONS = 1000
    execution = Execution.objects.create(workflow=workflow, status="success", cards_made=2)
    for title in ("Tech news", "Build status"):
        Card.objects.create(workflow=workflow, execution=execution, title=title, content="- hi\n")
    url = reverse("workflows:preview", args=[workflow.pk])
    template = "{% for i in range(600) %}{% endfor %}[{{ card.title }}]"  # 600 of the 1,000 per card
    fields = {"bundle": "each", "template": template}

    preview = owner_client.post(url, fields, headers={"HX-Request": "true"}).content.decode()
    assert "loops too much" in preview

    output = workflow.outputs.get()
    saved = owner_client.post(reverse("workflows:output_edit", args=[workflow.pk, output.pk]), fields)
    assert saved.status_code == 400
    assert "loops too much" in saved.content.decode()

    fields["template"] = "{% for i in range(400) %}{% endfor %}[{{ card.title }}]"  # 800 in all: fine
    preview = owner_client.post(url, fields, headers={"HX-Request": "true"}).content.decode()
    assert "[Tech news]" in preview
    assert "[Build status]" in preview


def test_the_live_preview_shows_only_the_cards_the_output_would_send(workflow, owner_client):
    execution = Execution.objects.create(workflow=workflow, status="success", cards_made=2)
    source = workflow.sources.get()
    Card.objects.create(workflow=workflow, execution=execution, source=source, title="Tech news", tags=["news"])
    Card.objects.create(workflow=workflow, execution=execution, source=source, title="Build status", tags=["ci"])
    output = workflow.outputs.get()
    url = reverse("workflows:output_preview", args=[workflow.pk, output.pk])
    template = "{% for c in cards %}[{{ c.title }}]{% endfor %}"
    htmx = {"HX-Request": "true"}

    everything = owner_client.post(url, {"bundle": "digest", "template": template}, headers=htmx).content.decode()
    news_only = owner_client.post(
        url, {"bundle": "digest", "template": template, "filter_tags": "news"}, headers=htmx
    ).content.decode()
    nothing = owner_client.post(
        url, {"bundle": "digest", "template": template, "filter_tags": "sports"}, headers=htmx
    ).content.decode()
    other_source = owner_client.post(
        url, {"bundle": "digest", "template": template, "filter_sources": [str(source.pk + 1000)]}, headers=htmx
    ).content.decode()

    assert "[Tech news][Build status]" in everything
    assert "[Tech news]" in news_only
    assert "Build status" not in news_only
    assert "it would send nothing" in nothing
    assert "Tech news" not in nothing
    assert "[Tech news][Build status]" in other_source  # a source not in this workflow is no filter

    output.card_filter = {"tags": ["ci"]}
    output.save()
    page = owner_client.get(reverse("workflows:output_edit", args=[workflow.pk, output.pk])).content.decode()
    assert "Build status" in page
    assert "Tech news" not in page


def test_run_now_queues_a_task_and_the_page_polls_until_it_is_done(
    workflow, owner_client, django_capture_on_commit_callbacks, feed_server
):
    source = workflow.sources.get()
    source.integration.config["url"] = feed_server.url("/search")
    source.integration.save()
    feed_server.serve("/search", '{"items": [{"id": 1, "title": "Found it"}]}', content_type="application/json")
    output = workflow.outputs.get().integration
    from integrations.secrets import store_secrets

    store_secrets(output, {"url": feed_server.url("/hook")})
    feed_server.serve("/hook", "ok", content_type="text/plain")
    htmx = {"HX-Request": "true"}

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("workflows:run", args=[workflow.pk]), headers=htmx)

    execution = Execution.objects.get(workflow=workflow)
    assert execution.status == ExecutionStatus.QUEUED
    assert get_broker().queue_size() >= 1  # handed to the django-q2 broker (ORM or Redis)
    page = response.content.decode()
    assert 'hx-trigger="every 1s"' in page
    assert "Queued" in page

    again = owner_client.post(reverse("workflows:run", args=[workflow.pk]), headers=htmx)
    assert f"Run #{execution.pk} is already queued" in again.content.decode()

    assert run_execution(execution.pk) == {"execution": execution.pk, "ran": True, "status": "success"}

    done = owner_client.get(reverse("workflows:runs_partial", args=[workflow.pk]) + "?was_polling=1", headers=htmx)
    assert done["HX-Trigger"] == "workflow-ran"
    assert "every 1s" not in done.content.decode()
    assert "✔</span> Success" in done.content.decode()
    cards = owner_client.get(reverse("workflows:cards_partial", args=[workflow.pk]), headers=htmx).content.decode()
    assert "Search" in cards


def test_run_now_without_javascript_redirects_back(workflow, owner_client):
    response = owner_client.post(reverse("workflows:run", args=[workflow.pk]))
    assert response["Location"] == workflow.get_absolute_url()
    assert "queued" in owner_client.get(response["Location"]).content.decode()


def test_cards_are_rendered_sanitized(workflow, owner_client):
    Card.objects.create(
        workflow=workflow,
        title="<img src=x onerror=alert(1)>",
        content="- [x](javascript:alert(1)) <script>alert(2)</script>\n- **fine**\n",
        tags=["news"],
        is_partial=True,
        data={"failures": [{"text": "GitHub: token refused"}]},
    )
    page = owner_client.get(reverse("workflows:cards", args=[workflow.pk])).content.decode()
    assert "<script>alert" not in page
    assert "onerror=alert" not in page.replace("&lt;img src=x onerror=alert(1)&gt;", "")
    assert 'href="javascript' not in page
    assert "<strong>fine</strong>" in page
    assert "Not everything could be fetched: GitHub: token refused" in page


def test_the_execution_log_shows_errors_with_what_to_do(workflow, owner_client):
    run = Execution.objects.create(
        workflow=workflow,
        status=ExecutionStatus.PARTIAL,
        duration_ms=4200,
        cards_made=1,
        errors=[
            {
                "step": "source",
                "label": "GitHub",
                "error_class": "auth",
                "message": "The token was refused.",
                "remediation": "Create a new token and paste it in the integration's settings.",
            }
        ],
        steps=[
            {"step": "source", "step_id": 1, "label": "GitHub", "status": "failed", "detail": "The token was refused."}
        ],
    )
    log = owner_client.get(reverse("workflows:executions", args=[workflow.pk])).content.decode()
    assert "The token was refused." in log
    assert "Create a new token" in log
    assert "4.2 s" in log
    detail = owner_client.get(run.get_absolute_url()).content.decode()
    assert "What to do:" in detail
    assert "✖</span> Failed" in detail


def test_a_flagged_workflow_resumes_only_once_its_integration_is_fixed(workflow, owner_client):
    integration = workflow.sources.get().integration
    integration.set_status(Status.NEEDS_REAUTH, "Token revoked")
    Workflow.objects.filter(pk=workflow.pk).update(is_active=False, needs_attention=True, attention_reason="x")

    response = owner_client.post(reverse("workflows:resume", args=[workflow.pk]), follow=True)
    assert "cannot resume yet" in response.content.decode()
    assert "needs you to sign in again" in response.content.decode()
    edit = owner_client.post(
        reverse("workflows:edit", args=[workflow.pk]), {"name": workflow.name, "schedule": "", "is_active": "on"}
    )
    assert "It cannot run yet" in edit.content.decode()

    integration.set_status(Status.CONNECTED)
    owner_client.post(reverse("workflows:resume", args=[workflow.pk]))
    workflow.refresh_from_db()
    assert workflow.is_active
    assert not workflow.needs_attention


def test_run_now_on_a_broken_workflow_flags_it_instead_of_queueing(workflow, owner_client):
    workflow.outputs.get().integration.delete()
    response = owner_client.post(reverse("workflows:run", args=[workflow.pk]), follow=True)
    assert "was deleted" in response.content.decode()
    assert not Execution.objects.exists()
    workflow.refresh_from_db()
    assert workflow.needs_attention


def test_removing_steps_and_deleting_the_workflow(workflow, owner_client):
    source = workflow.sources.get()
    owner_client.post(reverse("workflows:source_remove", args=[workflow.pk, source.pk]))
    assert not workflow.sources.exists()
    response = owner_client.post(reverse("workflows:delete", args=[workflow.pk]))
    assert response["Location"] == reverse("workflows:list")
    assert not Workflow.objects.filter(pk=workflow.pk).exists()


def test_cron_preview_lists_the_next_runs(owner_client):
    page = owner_client.get(reverse("workflows:cron_preview"), {"schedule": "0 7 * * *"}).content.decode()
    assert page.count("07:00</time>") == 3
    assert (
        "Use five fields" in owner_client.get(reverse("workflows:cron_preview"), {"schedule": "0 7"}).content.decode()
    )


def test_the_last_run_that_failed_says_why_where_it_is_listed(owner, owner_client):
    """'Run #2 · Failed' beside Run now, and the reason only one click away on the run's page: the
    recent runs name the problem of the latest run and what to do."""
    empty = Workflow.objects.create(owner=owner, name="Nothing in it yet")
    execution, _ = runner.start_execution(empty, "manual")
    run_execution(execution.pk)
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.FAILURE
    page = owner_client.get(empty.get_absolute_url()).content.decode()
    runs = page.split('id="runs"', 1)[1].split("</section>", 1)[0]
    assert "This workflow has no sources." in runs
    assert "Add a source step, then run it again." in runs
