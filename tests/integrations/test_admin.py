"""Staff can manage everything in the admin, and no admin page ever shows a secret."""

import pytest
from django.urls import reverse

from integrations.models import Integration, JobStatus, Status, SyncJob
from tests.factories import make_integration, make_user

SECRET = "s3cret-admin-must-not-see"
TOKEN = "tok-admin-must-not-see"
REFRESH = "refresh-admin-must-not-see"


@pytest.fixture
def staff_client(client, db):
    staff = make_user("staff@example.com", is_staff=True, is_superuser=True)
    client.force_login(staff)
    return client


@pytest.fixture
def secret_integration(owner):
    integration = make_integration(owner, secrets={"password": SECRET, "api_key": SECRET + "-key"})
    credential = integration.credential
    credential.access_token, credential.refresh_token = TOKEN, REFRESH
    credential.save()
    SyncJob.objects.create(integration=integration, status=JobStatus.SUCCEEDED)
    return integration


def _admin_pages(integration):
    credential = integration.credential
    job = integration.sync_jobs.first()
    pages = []
    for model, obj in [
        ("integration", integration),
        ("credential", credential),
        ("syncjob", job),
        ("integrationtype", integration.type),
    ]:
        pages += [
            reverse(f"admin:integrations_{model}_changelist"),
            reverse(f"admin:integrations_{model}_change", args=[obj.pk]),
            reverse(f"admin:integrations_{model}_history", args=[obj.pk]),
            reverse(f"admin:integrations_{model}_delete", args=[obj.pk]),
        ]
    pages += [reverse("admin:integrations_integration_changelist") + "?q=" + SECRET[:6], reverse("admin:index")]
    return pages


def test_no_admin_page_shows_a_secret(staff_client, secret_integration):
    for url in _admin_pages(secret_integration):
        response = staff_client.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        for secret in (SECRET, TOKEN, REFRESH):
            assert secret not in body, f"{secret} leaked on {url}"


def test_integration_admin_says_secrets_exist_without_showing_them(staff_client, secret_integration):
    body = staff_client.get(reverse("admin:integrations_integration_change", args=[secret_integration.pk])).content
    assert b"form secret(s), access token, refresh token stored, encrypted; never displayed" in body


def test_admin_action_pauses_integrations(staff_client, secret_integration):
    response = staff_client.post(
        reverse("admin:integrations_integration_changelist"),
        {"action": "pause", "_selected_action": [secret_integration.pk]},
        follow=True,
    )
    assert response.status_code == 200
    secret_integration.refresh_from_db()
    assert secret_integration.status == Status.PAUSED


def test_admin_action_refuses_to_queue_sync_for_unavailable_types(staff_client, secret_integration):
    response = staff_client.post(
        reverse("admin:integrations_integration_changelist"),
        {"action": "queue_sync", "_selected_action": [secret_integration.pk]},
        follow=True,
    )
    assert "not available yet" in response.content.decode()
    assert not SyncJob.objects.filter(integration=secret_integration, status="queued").exists()


def test_handler_must_be_a_registered_key(staff_client, secret_integration):
    itype = secret_integration.type
    url = reverse("admin:integrations_integrationtype_change", args=[itype.pk])
    page = staff_client.get(url).content.decode()
    assert '<select name="handler"' in page
    Integration.objects.all().delete()
