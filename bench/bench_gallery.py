"""Web UI: the median render time of the gallery (full catalogue) and of My integrations for a
user with 200 integrations, through the whole Django stack (middleware, session, templates)."""

import statistics
import time

from django.test import Client
from django.test.utils import override_settings

RENDERS = 30
INTEGRATIONS = 200


def _user_with_integrations():
    from django.contrib.auth import get_user_model

    from integrations.models import Integration, IntegrationType, Status

    user, _ = get_user_model().objects.get_or_create(username="bench-ui", defaults={"email": "bench-ui@example.com"})
    Integration.objects.filter(user=user).delete()
    types = list(IntegrationType.objects.all())
    Integration.objects.bulk_create(
        Integration(
            user=user,
            type=types[n % len(types)],
            name=f"Integration {n}",
            status=Status.NEEDS_REAUTH if n % 25 == 0 else Status.CONNECTED,
        )
        for n in range(INTEGRATIONS)
    )
    return user, len(types)


def _median_render(client, url) -> float:
    assert client.get(url).status_code == 200  # warm up: templates compiled, session loaded
    times = []
    for _ in range(RENDERS):
        start = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - start)
        assert response.status_code == 200
    return statistics.median(times)


def run(report):
    from django.urls import reverse

    user, type_count = _user_with_integrations()
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    # Rendering is what is measured: plain static URLs, no collectstatic manifest needed.
    with override_settings(
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
    ):
        gallery = _median_render(client, reverse("integrations:gallery"))
        mine = _median_render(client, reverse("integrations:mine"))
    report.add(
        scenario=f"Gallery render ({type_count} types, {INTEGRATIONS} integrations), median",
        ours=gallery,
        unit="s",
        note=f"median of {RENDERS} renders through the full stack (Django test client)",
    )
    report.add(scenario=f"My integrations render ({INTEGRATIONS} integrations), median", ours=mine, unit="s")
