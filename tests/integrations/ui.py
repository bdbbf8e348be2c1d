"""Helpers for the web UI and API tests: real forms posted through the test client."""

from __future__ import annotations

from django.urls import reverse

from integrations.models import Integration
from tests.connectors.helpers import data_text

# A private calendar link carries its token in the path and the query, like Google's secret address.
TOKEN = "s3cr3t-t0ken-9f2c"
FEED_PATH = f"/calendar/ical/private-{TOKEN}/basic.ics"
MISSING_PATH = f"/calendar/ical/private-{TOKEN}/nope.ics"
WIDE = {"window_past_days": "400", "window_future_days": "400"}


def serve_calendar(feed_server) -> str:
    feed_server.serve(FEED_PATH, data_text("ical/awkward.ics"))
    return feed_server.url(FEED_PATH) + f"?auth={TOKEN}"


def ical_form(url: str, name: str = "Family calendar", **extra) -> dict:
    return {"name": name, "url": url, **WIDE, "sync_interval_minutes": "30", **extra}


def connect_ical(client, url: str, name: str = "Family calendar", **extra):
    return client.post(reverse("integrations:connect", args=["ical-feed"]), ical_form(url, name, **extra))


def the_only_integration(user) -> Integration:
    return Integration.objects.for_user(user).get()


def text(response) -> str:
    return response.content.decode()
