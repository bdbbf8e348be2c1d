"""My integrations builds its rows in Python (integrations/views/rows.py): the cells a finished sync
swaps in place (HTMX out-of-band) must stay the markup of their partials, in the person's zone,
and whatever a person typed is escaped."""

import re
from datetime import timedelta

import pytest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from integrations.models import IntegrationType, Status
from integrations.views.rows import item_count, last_synced
from tests.factories import make_integration

pytestmark = pytest.mark.usefixtures("catalogue")


@pytest.mark.parametrize("synced", [True, False], ids=["synced", "never synced"])
def test_the_last_sync_cell_is_the_partial_a_finished_sync_swaps_in(owner, synced):
    when = timezone.now() - timedelta(hours=2, minutes=30) if synced else None
    integration = make_integration(owner, IntegrationType.objects.get(slug="ical-feed"), last_synced_at=when)
    with timezone.override("Pacific/Auckland"):  # the title and the ISO time are in the person's zone
        partial = render_to_string("integrations/_last_synced.html", {"integration": integration})
        cell = last_synced(integration)
    assert cell == partial.strip()
    assert ("2\xa0hours ago" in cell) is synced


def test_the_item_count_cell_is_the_partial_a_finished_sync_swaps_in(owner):
    integration = make_integration(owner, IntegrationType.objects.get(slug="ical-feed"), item_count=1234567)
    partial = render_to_string("integrations/_item_count.html", {"integration": integration, "item_count": 1234567})
    assert item_count(integration) == partial.strip()
    assert ">1,234,567<" in item_count(integration)


def test_what_a_person_typed_is_escaped_in_the_list(owner_client, owner):
    make_integration(
        owner, IntegrationType.objects.get(slug="ical-feed"), name='<b>Mine</b> & "co"',
        account_identity="<i>me</i>@example.com", status=Status.ERROR, status_detail='Bad <url> "here"',
    )  # fmt: skip
    page = owner_client.get(reverse("integrations:mine")).content.decode()
    assert "<b>Mine</b>" not in page
    assert "<i>me</i>" not in page
    assert ">&lt;b&gt;Mine&lt;/b&gt; &amp; &quot;co&quot;</a>" in page
    assert 'Sync now<span class="visually-hidden">: &lt;b&gt;Mine&lt;/b&gt; &amp; &quot;co&quot;</span>' in page
    assert "&lt;i&gt;me&lt;/i&gt;@example.com" in page
    assert 'title="Bad &lt;url&gt; &quot;here&quot;"' in page


def test_pause_and_resume_without_javascript_come_back_to_the_same_list(owner_client, owner):
    itype = IntegrationType.objects.get(slug="ical-feed")
    running = make_integration(owner, itype, name="Running")
    paused = make_integration(owner, itype, name="Paused", status=Status.PAUSED)
    gone = make_integration(owner, itype, name="Gone", status=Status.DISCONNECTED)
    page = owner_client.get(reverse("integrations:mine") + "?a=1&b=2").content.decode()
    back = '<input type="hidden" name="next" value="/integrations/?a=1&amp;b=2">'
    rows = {
        integration.name: re.search(rf'<li class="card int-row" id="integration-{integration.pk}">.*?</li>', page, re.S)
        .group(0)
        for integration in (running, paused, gone)
    }  # fmt: skip
    assert f'action="{reverse("integrations:pause", args=[running.pk])}">' in rows["Running"]
    assert f'action="{reverse("integrations:resume", args=[paused.pk])}">' in rows["Paused"]
    assert back in rows["Running"]
    assert back in rows["Paused"]
    assert 'name="csrfmiddlewaretoken"' in rows["Running"]
    # A disconnected one can be neither paused nor resumed nor disconnected again, nor synced.
    assert back not in rows["Gone"]
    assert reverse("integrations:disconnect", args=[gone.pk]) not in rows["Gone"]
    assert reverse("integrations:sync_now", args=[gone.pk]) not in rows["Gone"]
    assert reverse("integrations:delete", args=[gone.pk]) in rows["Gone"]
