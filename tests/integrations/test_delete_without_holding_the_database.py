"""Deleting an integration revokes its grant at the provider before opening a transaction: while
the provider answers, other requests and workers can still write (on SQLite one held transaction
is a database-wide lock, and they would fail with "database is locked")."""

import json

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from integrations.models import ApiToken, AuditEvent, Integration
from tests.factories import make_user
from tests.integrations.revocation import REFRESH_TOKEN, RevocationEndpoint, oauth_integration
from workflows.models import Workflow, WorkflowSource

pytestmark = [
    pytest.mark.usefixtures("catalogue"),
    pytest.mark.skipif(
        connection.vendor != "sqlite", reason="probes SQLite's database-wide write lock; PostgreSQL locks rows"
    ),
]


@pytest.fixture
def revocation(transactional_db, allow_host):
    endpoint = RevocationEndpoint()
    endpoint.probe_database()
    allow_host(endpoint.host)
    yield endpoint
    endpoint.stop()


@pytest.fixture
def integration(owner, revocation):
    integration = oauth_integration(owner, revocation)
    workflow = Workflow.objects.create(owner=owner, name="Agenda")
    WorkflowSource.objects.create(workflow=workflow, integration=integration)  # paused by the delete
    return integration


def _deleted_while_others_could_write(revocation, integration):
    assert not Integration.objects.filter(pk=integration.pk).exists()
    assert revocation.revoked == [REFRESH_TOKEN]
    assert revocation.database_writable == [True]
    assert AuditEvent.objects.filter(action="delete", detail__revocation__revoked=True).exists()


def test_the_delete_page(owner_client, revocation, integration):
    response = owner_client.post(reverse("integrations:delete", args=[integration.pk]), {"proceed": "1"})
    assert response.status_code == 302
    _deleted_while_others_could_write(revocation, integration)
    assert Workflow.objects.get().needs_attention


def test_the_api(owner, revocation, integration):
    _token, plain = ApiToken.issue(owner, "script")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {plain}")
    response = api.delete(f"/api/v1/integrations/{integration.pk}")
    assert response.status_code == 200
    assert json.loads(response.content)["paused_workflows"] == [{"id": Workflow.objects.get().pk, "name": "Agenda"}]
    _deleted_while_others_could_write(revocation, integration)


def test_the_admin(client, revocation, integration):
    client.force_login(make_user("staff@example.com", is_staff=True, is_superuser=True))
    client.post(reverse("admin:integrations_integration_delete", args=[integration.pk]), {"post": "yes"})
    _deleted_while_others_could_write(revocation, integration)
