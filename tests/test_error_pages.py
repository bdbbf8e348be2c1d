"""The pages Django shows on its own (a server error, a refused page) are the hub's: its layout, its
words and a way back, not Django's bare "Server Error (500)" with nothing to click. The 404 page and
a stale form's 403 are walked through in the browser (tests/browser/test_errors_phones_keyboard.py)."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.views.defaults import permission_denied, server_error


def test_a_server_error_is_the_hubs_own_page_with_a_way_back(rf):
    response = server_error(rf.get("/integrations/"))  # rendered without the request, as Django does
    body = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong on the hub" in body
    assert 'class="topbar"' in body  # the hub's layout, its stylesheet
    assert '<a class="btn btn-primary" href="/">Go to the start page</a>' in body


def test_a_refused_page_is_the_hubs_own_and_offers_to_log_in(rf, db):
    request = rf.get("/integrations/7/")
    request.user = AnonymousUser()
    response = permission_denied(request, PermissionDenied())
    body = response.content.decode()
    assert response.status_code == 403
    assert "You cannot open this page" in body
    assert "/accounts/login/?next=/integrations/7/" in body
