"""Forms and query strings carrying text no database can store (a lone UTF-16 surrogate, which a
multipart form or a query string declared as charset=utf-7 produces from "+2AA-") get a 400 that
names the field, never a 500. (Django itself refuses url-encoded forms that are not UTF-8.)"""

import pytest
from django.urls import reverse

from workflows.models import Workflow

BOUNDARY = "BoUnDaRy"
# Quoted, so that the test client sends the bytes as they are instead of re-encoding them as UTF-7.
UTF7_FORM = f'multipart/form-data; boundary={BOUNDARY}; charset="utf-7"'


def multipart(**fields) -> bytes:
    parts = [f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields.items()]
    return ("".join(parts) + f"--{BOUNDARY}--\r\n").encode("ascii")


def test_a_form_field_with_a_lone_surrogate_is_refused_by_name(owner, owner_client):
    response = owner_client.post(
        reverse("workflows:create"), multipart(name="Morning+2AA-", is_active="on"), content_type=UTF7_FORM
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "The field “name” contains a character that is not valid text" in page
    assert not Workflow.objects.filter(owner=owner).exists()


@pytest.mark.usefixtures("catalogue")
def test_every_form_is_covered_including_the_integration_settings(owner_client):
    response = owner_client.post(
        reverse("integrations:connect", args=["ical-feed"]),
        multipart(url="https://example.com/+2AA-"),
        content_type=UTF7_FORM,
    )
    assert response.status_code == 400
    assert "“url”" in response.content.decode()


def test_query_strings_are_covered_too(owner_client):
    response = owner_client.get(
        reverse("integrations:all_items"), {"q": "+2AA-"}, CONTENT_TYPE="text/plain; charset=utf-7"
    )
    assert response.status_code == 400
    assert "“q”" in response.content.decode()


def test_the_api_answers_json(owner_client):
    response = owner_client.get("/api/v1/integrations", {"x": "+2AA-"}, CONTENT_TYPE="text/plain; charset=utf-7")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "x"


def test_ordinary_utf8_forms_pass(owner, owner_client):
    response = owner_client.post(reverse("workflows:create"), {"name": "Café ☕", "is_active": "on"})
    assert response.status_code == 302
    assert Workflow.objects.get(owner=owner).name == "Café ☕"
