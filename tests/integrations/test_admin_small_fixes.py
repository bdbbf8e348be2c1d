"""Admin and site odds and ends a new user and staff tripped on (issue 12: 33)."""

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from integrations.models import Integration
from integrations.secrets import drop_credentials
from tests.factories import make_integration, make_user
from workflows.models import CardDelivery

pytestmark = pytest.mark.usefixtures("catalogue")


@pytest.fixture
def staff_client(db):
    client = Client()
    client.force_login(make_user("staff@example.com", is_staff=True, is_superuser=True))
    return client


def test_the_delivery_ledger_is_spelled_right_in_the_admin(staff_client):
    assert CardDelivery._meta.verbose_name_plural == "card deliveries"
    assert "Card deliveries" in staff_client.get(reverse("admin:index")).content.decode()


def test_staff_cannot_change_the_type_of_an_integration_holding_credentials(staff_client, owner):
    integration = make_integration(owner, secrets={"password": "hunter2-long-enough"})
    model_admin = admin.site._registry[Integration]
    request = staff_client.get("/").wsgi_request
    assert "type" in model_admin.get_readonly_fields(request, integration)
    page = staff_client.get(reverse("admin:integrations_integration_change", args=[integration.pk]))
    assert 'name="type"' not in page.content.decode()
    # Without credentials (disconnected) the type may be corrected.
    drop_credentials(integration)
    assert "type" not in model_admin.get_readonly_fields(request, integration)


def test_favicon_ico_is_served(client, db):
    from django.templatetags.static import static

    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response.url == static("icons/metacortex.svg")  # the hub's icon (served by whitenoise)
