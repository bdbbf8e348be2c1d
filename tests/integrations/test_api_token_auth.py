"""A token's check reads the token and its user from one row whose SQL is written once per process
(integrations.prepared): the user is the whole user, each request gets its own token's user, and a
revoked token or a deactivated user is refused at once."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from integrations.models import ApiToken, IntegrationType
from tests.factories import make_integration

pytestmark = pytest.mark.usefixtures("catalogue")


def bearer(plain: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {plain}")


def names(client) -> list[str]:
    response = client.get("/api/v1/integrations")
    assert response.status_code == 200, response.content[:300]
    return [i["name"] for i in response.json()["integrations"]]


def test_the_token_authenticates_its_whole_user(owner):
    _token, plain = ApiToken.issue(owner, "script")
    user = ApiToken.authenticate(plain)
    stored = get_user_model().objects.get(pk=owner.pk)
    assert user == stored
    for field in get_user_model()._meta.concrete_fields:
        assert getattr(user, field.attname) == getattr(stored, field.attname), field.attname
    assert user._state.adding is False
    assert user._state.db == "default"
    assert ApiToken.authenticate(plain + "x") is None
    assert ApiToken.authenticate("mc_nothing") is None


def test_two_users_tokens_in_turn_each_see_their_own(owner, other_user):
    ical = IntegrationType.objects.get(slug="ical-feed")
    make_integration(owner, ical, name="Owner's")
    make_integration(other_user, ical, name="Other's")
    mine, theirs = bearer(ApiToken.issue(owner, "a")[1]), bearer(ApiToken.issue(other_user, "b")[1])
    for _ in range(2):
        assert names(mine) == ["Owner's"]
        assert names(theirs) == ["Other's"]


def test_a_revoked_token_or_a_deactivated_user_is_refused_at_once(owner):
    token, plain = ApiToken.issue(owner, "script")
    api = bearer(plain)
    assert names(api) == []

    get_user_model().objects.filter(pk=owner.pk).update(is_active=False)
    assert api.get("/api/v1/integrations").status_code == 401
    get_user_model().objects.filter(pk=owner.pk).update(is_active=True)
    assert names(api) == []

    token.revoke()
    refused = api.get("/api/v1/integrations")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthenticated"
