"""Notifications (banner on every page, list page) and personal API tokens in the UI."""

import re

import pytest
from django.urls import reverse

from integrations.models import ApiToken, IntegrationType, Status, SyncJob
from tests.factories import make_integration
from tests.integrations.ui import text

pytestmark = pytest.mark.usefixtures("catalogue")


@pytest.fixture
def troubles(owner):
    ical = IntegrationType.objects.get(slug="ical-feed")
    reauth = make_integration(
        owner, ical, name="Old password", status=Status.NEEDS_REAUTH,
        status_detail="The service refused our credentials (HTTP 401). Re-authenticate the integration.",
    )  # fmt: skip
    failing = make_integration(
        owner, ical, name="Flaky feed", status=Status.ERROR, consecutive_failures=4,
        last_error="Nothing was found at https://cal.example.com/private-abc123/basic.ics (HTTP 404).",
    )  # fmt: skip
    make_integration(owner, ical, name="Fine")
    make_integration(owner, ical, name="Paused and failing", status=Status.PAUSED, consecutive_failures=9)
    return reauth, failing


def test_the_banner_on_every_page_links_to_the_fix(owner_client, troubles):
    reauth, failing = troubles
    for url in (reverse("integrations:mine"), reverse("integrations:gallery"), reverse("integrations:tokens")):
        page = text(owner_client.get(url))
        assert '<span class="nav-count"' in page
        page = re.search(r'<div class="banner banner-warning banner-wide".*?</div>\s*</div>', page, re.S).group(0)
        assert "2 integrations need your attention:" in page
        assert f'<a href="{reverse("integrations:edit", args=[reauth.pk])}#auth">Old password</a>' in page
        assert f'<a href="{failing.get_absolute_url()}">Flaky feed</a>' in page
        assert "Paused and failing" not in page


def test_the_banner_costs_one_query(owner_client, troubles):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        owner_client.get(reverse("integrations:tokens"))
    attention = [q for q in captured.captured_queries if "consecutive_failures" in q["sql"]]
    assert len(attention) == 1


def test_workflows_paused_because_of_a_change_are_in_the_banner_and_the_count(owner_client, owner, other_user):
    from workflows.models import Workflow

    flagged = Workflow.objects.create(
        owner=owner, name="Morning briefing", is_active=False, needs_attention=True,
        attention_reason="It uses Family, which was deleted.",
    )  # fmt: skip
    Workflow.objects.create(owner=owner, name="Fine workflow")
    Workflow.objects.create(owner=other_user, name="Someone else's", is_active=False, needs_attention=True)
    page = text(owner_client.get(reverse("integrations:mine")))
    banner = re.search(r'<div class="banner banner-warning banner-wide".*?</div>\s*</div>', page, re.S).group(0)
    assert "1 workflow was paused and needs attention:" in banner
    assert f'<a href="{reverse("workflows:detail", args=[flagged.pk])}">Morning briefing</a>' in banner
    assert "Someone else" not in page
    assert "Fine workflow" not in banner
    assert '<span class="nav-count" aria-label="1 needs attention">1</span>' in page


def test_the_nav_count_adds_integrations_and_workflows(owner_client, owner, troubles):
    from workflows.models import Workflow

    Workflow.objects.create(owner=owner, name="Digest", is_active=False, needs_attention=True)
    page = text(owner_client.get(reverse("integrations:gallery")))
    assert '<span class="nav-count" aria-label="3 need attention">3</span>' in page
    assert "2 integrations need your attention:" in page


def test_the_workflow_part_of_the_banner_costs_one_query(owner_client, owner):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        owner_client.get(reverse("integrations:tokens"))
    flagged = [q for q in captured.captured_queries if "needs_attention" in q["sql"]]
    assert len(flagged) == 1


def test_no_banner_when_all_is_well(owner_client, owner):
    make_integration(owner, IntegrationType.objects.get(slug="ical-feed"), name="Fine")
    page = text(owner_client.get(reverse("integrations:mine")))
    assert "need your attention" not in page
    assert "needs your attention" not in page


def test_the_notifications_page_explains_and_links(owner_client, troubles):
    _reauth, failing = troubles
    SyncJob.objects.create(integration=failing, status="failed", error_message="Nothing was found (HTTP 404).",
                           remediation="Check the address.", finished_at=failing.created_at)  # fmt: skip
    page = text(owner_client.get(reverse("integrations:notifications")))
    assert "The service refused its credentials, so syncing is paused." in page
    assert ">Re-authenticate</a>" in page
    assert "The last 4 syncs failed" in page
    assert ">Fix it</a>" in page
    assert "https://cal.example.com/…" in page
    assert "private-abc123" not in page  # links shown masked
    assert "Failed syncs this week" in page
    assert "Check the address." in page


def test_an_oauth_integration_is_re_authenticated_on_its_consent_page(owner_client, owner):
    gmail = IntegrationType.objects.get(slug="gmail")
    integration = make_integration(owner, gmail, name="Mail", status=Status.NEEDS_REAUTH)
    page = text(owner_client.get(reverse("integrations:notifications")))
    assert f"{reverse('oauth:consent', args=['gmail'])}?integration={integration.pk}" in page


def test_all_good(owner_client):
    assert "Nothing needs your attention." in text(owner_client.get(reverse("integrations:notifications")))


# -- API tokens -------------------------------------------------------------------------------------


def _plain_token(page: str) -> str:
    return next(word for word in page.replace('"', " ").split() if word.startswith("mc_") and len(word) > 20)


def test_create_a_token_shown_once_then_revoke_it(owner_client, owner):
    response = owner_client.post(reverse("integrations:tokens"), {"name": "backup script"})
    assert response.status_code == 302  # redirect after POST: a refresh cannot create a second token
    assert response.url == reverse("integrations:tokens")
    shown = owner_client.get(response.url)
    token = ApiToken.objects.get(user=owner)
    plain = _plain_token(text(shown))
    assert ApiToken.authenticate(plain) == owner
    assert shown["Cache-Control"] == "no-store"
    later = text(owner_client.get(reverse("integrations:tokens")))  # the refresh
    assert plain not in later  # shown once only
    assert ApiToken.objects.filter(user=owner).count() == 1
    assert f"{token.prefix}…" in later
    assert "backup script" in later
    owner_client.post(reverse("integrations:revoke_token", args=[token.pk]))
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert ApiToken.authenticate(plain) is None
    assert "Revoked" in text(owner_client.get(reverse("integrations:tokens")))


def test_the_new_token_never_sits_readable_in_the_session(owner_client, owner):
    from django.contrib.sessions.models import Session

    owner_client.post(reverse("integrations:tokens"), {"name": "ci"})
    stored = " ".join(str(s.get_decoded()) + s.session_data for s in Session.objects.all())
    plain = _plain_token(text(owner_client.get(reverse("integrations:tokens"))))
    assert plain not in stored  # kept encrypted between the POST and the page that shows it
    assert plain[3:] not in stored


def test_a_token_needs_a_name(owner_client):
    response = owner_client.post(reverse("integrations:tokens"), {"name": "  "})
    assert response.status_code == 400
    assert "Give the token a name" in text(response)
    assert not ApiToken.objects.exists()


def test_another_users_token_cannot_be_revoked(other_client, owner):
    token, _plain = ApiToken.issue(owner, "mine")
    assert other_client.post(reverse("integrations:revoke_token", args=[token.pk])).status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
