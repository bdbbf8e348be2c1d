"""IFTTT's OAuth2 authorization-code flow replayed against the hub: the person allows IFTTT, IFTTT
swaps the code for an access token (a personal API token named "IFTTT") and calls user/info with it."""

import base64
from urllib.parse import parse_qs, urlsplit

import pytest

from integrations.models import ApiToken

REDIRECT = "https://ifttt.com/channels/metacortex/authorize"


@pytest.fixture(autouse=True)
def _client_settings(settings):
    settings.IFTTT_CLIENT_ID = "ifttt-client"
    settings.IFTTT_CLIENT_SECRET = "ifttt-secret"
    settings.IFTTT_SERVICE_KEY = "service-key"


def authorize_url(**overrides):
    query = {"client_id": "ifttt-client", "response_type": "code", "redirect_uri": REDIRECT, "state": "s1"}
    query.update(overrides)
    return "/ifttt/oauth/authorize?" + "&".join(f"{k}={v}" for k, v in query.items())


def allow(owner_client) -> str:
    page = owner_client.get(authorize_url())
    assert page.status_code == 200
    assert b"Allow IFTTT" in page.content
    answer = owner_client.post(authorize_url(), {"decision": "allow"})
    assert answer.status_code == 302
    back = urlsplit(answer["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == REDIRECT
    query = parse_qs(back.query)
    assert query["state"] == ["s1"]
    return query["code"][0]


def exchange(client, code, **overrides):
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    body.update({"client_id": "ifttt-client", "client_secret": "ifttt-secret", **overrides})
    return client.post("/ifttt/oauth/token", body)


def test_allow_then_exchange_the_code_for_a_token_that_works_once(owner_client, client, owner):
    code = allow(owner_client)
    owner_client.logout()
    answer = exchange(client, code)
    assert answer.status_code == 200
    token = answer.json()["access_token"]
    assert answer.json()["token_type"] == "Bearer"
    assert ApiToken.objects.get(user=owner, name="IFTTT")
    info = client.get("/ifttt/v1/user/info", HTTP_IFTTT_SERVICE_KEY="service-key", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert info.json()["data"]["id"] == str(owner.pk)
    again = exchange(client, code)
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")  # one use only


def test_http_basic_client_credentials_are_accepted(owner_client):
    from django.test import Client

    code, client = allow(owner_client), Client()
    basic = base64.b64encode(b"ifttt-client:ifttt-secret").decode()
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    answer = client.post("/ifttt/oauth/token", body, HTTP_AUTHORIZATION=f"Basic {basic}")
    assert answer.status_code == 200


def test_deny_wrong_client_and_foreign_redirect(owner_client):
    from django.test import Client

    client = Client()
    denied = owner_client.post(authorize_url(), {"decision": "deny"})
    assert parse_qs(urlsplit(denied["Location"]).query)["error"] == ["access_denied"]
    assert owner_client.get(authorize_url(client_id="other")).status_code == 400
    assert owner_client.get(authorize_url(redirect_uri="https://evil.example/cb")).status_code == 400
    assert owner_client.get(authorize_url(redirect_uri="http://ifttt.com/cb")).status_code == 400
    code = allow(owner_client)
    assert exchange(client, code, client_secret="wrong").status_code == 401
    assert exchange(client, code, redirect_uri="https://ifttt.com/other").json()["error"] == "invalid_grant"
    assert exchange(client, "forged").json()["error"] == "invalid_grant"
    assert exchange(client, code, grant_type="password").json()["error"] == "unsupported_grant_type"
    assert exchange(client, code).status_code == 200  # the refusals above did not use it up


def test_authorize_needs_a_sign_in_and_unset_client_refuses(owner_client, settings):
    from django.test import Client

    assert Client().get(authorize_url()).status_code == 302  # to the sign-in page
    settings.IFTTT_CLIENT_ID = ""
    assert owner_client.get(authorize_url(client_id="")).status_code == 400
