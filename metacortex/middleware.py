"""Site-wide middleware."""

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import resolve_url
from django_htmx.http import HttpResponseClientRedirect


class HtmxLoginRedirectMiddleware:
    """An HTMX request (a progress bar polling, a live search, a preview) from a visitor whose
    session has expired gets HX-Redirect to the login page. HTMX follows a plain redirect inside
    the XHR and would swap the whole login page into the progress area. `next` is the page the
    user was on, not the partial's URL, so logging in brings them back to it.

    Placed after HtmxMiddleware and AuthenticationMiddleware."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.login_path = None

    def __call__(self, request):
        response = self.get_response(request)
        if not (request.htmx and response.status_code == 302 and not request.user.is_authenticated):
            return response
        if self.login_path is None:
            self.login_path = urlsplit(resolve_url(settings.LOGIN_URL)).path
        if urlsplit(response["Location"]).path != self.login_path:
            return response
        back_to = request.htmx.current_url_abs_path or request.get_full_path()
        return HttpResponseClientRedirect(redirect_to_login(back_to)["Location"])
