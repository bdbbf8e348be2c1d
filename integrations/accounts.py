"""Sign-up additions (allauth's ACCOUNT_SIGNUP_FORM_CLASS): the person's time zone, which the
browser fills into a hidden field (static/js/timezone.js); a form sent before the script ran takes
the zone the script left in its cookie on an earlier page, and without either the account takes
the browser's zone on its next page (integrations.timezones.adopt_browser_zone). Without JavaScript
the hub's zone is used until they choose one on the preferences page."""

from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import urlsplit

from allauth.account.adapter import DefaultAccountAdapter
from django import forms
from django.conf import settings

from integrations.timezones import browser_zone, set_zone, valid_zone


class SignupExtras(forms.Form):
    time_zone = forms.CharField(
        required=False, max_length=64, widget=forms.HiddenInput(attrs={"data-browser-zone": ""})
    )

    def signup(self, request, user):
        sent = valid_zone(self.cleaned_data.get("time_zone", ""))
        set_zone(user, sent or browser_zone(request), request)


class AccountAdapter(DefaultAccountAdapter):
    """Account mails name SITE_URL's host and link to SITE_URL: the address people can reach, not
    the host name a request happened to come in by, nor the Site row written at the first migrate."""

    def send_mail(self, template_prefix, email, context):
        site = urlsplit(settings.SITE_URL)
        context = {key: _on_site(value) for key, value in context.items()}
        context["current_site"] = SimpleNamespace(domain=site.netloc, name="MetaCortex")
        return super().send_mail(template_prefix, email, context)


def _on_site(value):
    """An absolute http(s) link moved onto SITE_URL (same path and query); anything else as is."""
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        return value
    parts = urlsplit(value)
    return settings.SITE_URL + parts.path + (f"?{parts.query}" if parts.query else "")
