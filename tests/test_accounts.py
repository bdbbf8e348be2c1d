"""Sign up, log in, log out and reset a password through allauth's real views."""

import re

from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse

from tests.factories import PASSWORD, make_user


def test_sign_up_creates_an_account_and_logs_in(client, db):
    response = client.get(reverse("account_signup"))
    assert response.status_code == 200
    assert b"Sign Up" in response.content or b"Sign up" in response.content
    response = client.post(
        reverse("account_signup"),
        {"email": "new@example.com", "password1": PASSWORD, "password2": PASSWORD},
        follow=True,
    )
    assert response.status_code == 200
    user = get_user_model().objects.get(email="new@example.com")
    assert response.context["user"] == user
    assert user.check_password(PASSWORD)


def test_sign_up_rejects_weak_password_with_a_message(client, db):
    response = client.post(
        reverse("account_signup"), {"email": "weak@example.com", "password1": "123", "password2": "123"}
    )
    assert response.status_code == 200
    assert b"too short" in response.content
    assert not get_user_model().objects.filter(email="weak@example.com").exists()


def test_login_and_logout(client, db):
    make_user("me@example.com")
    response = client.post(reverse("account_login"), {"login": "me@example.com", "password": PASSWORD}, follow=True)
    assert response.context["user"].is_authenticated
    response = client.post(reverse("account_logout"), follow=True)
    assert not response.context["user"].is_authenticated


def test_wrong_password_is_refused(client, db):
    make_user("me@example.com")
    response = client.post(reverse("account_login"), {"login": "me@example.com", "password": "nope-nope-nope"})
    assert response.status_code == 200
    assert not response.context["user"].is_authenticated
    assert b"not correct" in response.content


def test_password_reset_mails_a_working_link(client, db):
    make_user("forgetful@example.com")
    client.post(reverse("account_reset_password"), {"email": "forgetful@example.com"})
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+)", mail.outbox[0].body).group(1)
    response = client.get(link, follow=True)
    assert response.status_code == 200
    form_url = response.redirect_chain[-1][0] if response.redirect_chain else link
    new_password = "a brand new passphrase 77"
    client.post(form_url, {"password1": new_password, "password2": new_password})
    assert get_user_model().objects.get(email="forgetful@example.com").check_password(new_password)


def test_pages_require_login(client, db):
    response = client.get(reverse("integrations:mine"))
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]


def test_a_user_can_delete_their_account_and_everything_with_it(client, db):
    from integrations.models import Credential, Integration
    from tests.factories import make_integration

    user = make_user("leaving@example.com")
    make_integration(user, secrets={"password": "hunter2"})
    client.force_login(user)
    page = client.get(reverse("delete_account"))
    assert b"1 integration" in page.content

    wrong = client.post(reverse("delete_account"), {"password": "not it"})
    assert wrong.status_code == 400
    assert b"nothing was deleted" in wrong.content
    assert get_user_model().objects.filter(email="leaving@example.com").exists()

    response = client.post(reverse("delete_account"), {"password": PASSWORD}, follow=True)
    assert "The account leaving@example.com, its 1 integration and what they synced were deleted." in (
        response.content.decode()
    )
    assert not response.context["user"].is_authenticated
    assert not get_user_model().objects.filter(email="leaving@example.com").exists()
    assert not Integration.objects.exists()
    assert not Credential.objects.exists()


def test_account_deletion_needs_login_and_csrf(db):
    from django.test import Client

    user = make_user("careful@example.com")
    anonymous = Client()
    assert anonymous.post(reverse("delete_account"), {"password": PASSWORD}).status_code == 302
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert strict.post(reverse("delete_account"), {"password": PASSWORD}).status_code == 403
    assert get_user_model().objects.filter(pk=user.pk).exists()
