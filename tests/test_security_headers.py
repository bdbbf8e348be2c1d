"""Every answer carries a strict Content-Security-Policy (scripts only from the hub's own files) and
a Permissions-Policy; HSTS when the hub is served over https; no template holds an inline script,
an inline event handler or anything else the policy would block; and error reports, even the DEBUG
page, never show an API body or token."""

import json
import re
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import RequestFactory
from django.urls import reverse
from django.views.debug import ExceptionReporter

from integrations.api.auth import api_view, json_body

TEMPLATE_DIRS = [Path(d) for d in settings.TEMPLATES[0]["DIRS"]]
# Style attributes that carry data (the policy allows style attributes, never <style> or script).
DATA_STYLES = {"integrations/_type_card.html", "integrations/_job_progress.html"}


def _policy(response) -> dict[str, str]:
    directives = [d.strip() for d in response["Content-Security-Policy"].split(";")]
    return {d.split(" ", 1)[0]: d.split(" ", 1)[1] if " " in d else "" for d in directives if d}


@pytest.mark.usefixtures("catalogue")
@pytest.mark.parametrize("path", ["/", "/accounts/login/", "/integrations/gallery/", "/api/v1/integrations"])
def test_pages_and_the_api_send_a_strict_csp_and_a_permissions_policy(owner_client, path):
    response = owner_client.get(path, follow=True)
    assert response.status_code == 200
    policy = _policy(response)
    assert policy["script-src"] == "'self'"
    assert policy["default-src"] == "'self'"
    assert policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe" not in policy["script-src"] + policy["style-src"] + policy["default-src"]
    permissions = response["Permissions-Policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()"):
        assert feature in permissions


def test_error_pages_get_the_headers_too(db, client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "script-src 'self'" in response["Content-Security-Policy"]


def _templates():
    for directory in TEMPLATE_DIRS:
        for path in sorted(directory.rglob("*.html")):
            yield path.relative_to(directory).as_posix(), path.read_text()


def test_the_template_scan_finds_every_template():
    names = [name for name, _ in _templates()]
    assert "base.html" in names
    assert "workflows/edit.html" in names
    assert len(names) > 40


@pytest.mark.parametrize(("name", "text"), list(_templates()), ids=lambda v: v if v.endswith(".html") else "")
def test_no_template_has_inline_script_or_anything_else_the_policy_blocks(name, text):
    for tag in re.findall(r"<script\b[^>]*>", text, re.I):
        assert "src=" in tag or 'type="application/json"' in tag, f"inline script in {name}: {tag}"
    assert not re.search(r"<style\b", text, re.I), f"<style> in {name}"
    handlers = re.findall(r"""\son[a-z]+\s*=\s*["']""", text, re.I)
    assert not handlers, f"inline event handler in {name}: {handlers}"
    assert "javascript:" not in text.lower(), f"javascript: URL in {name}"
    assert "hx-on" not in text, f"hx-on (inline script) in {name}"
    assert "js:" not in "".join(re.findall(r'hx-vals=["\'][^"\']*', text)), f"hx-vals js: in {name}"
    for trigger in re.findall(r'hx-trigger="([^"]*)"', text):
        # HTMX evaluates [expressions] with eval, which the policy forbids: use target:(selector).
        assert not re.search(r"(^|[\s,])[a-z-]+\[", trigger), f"hx-trigger filter expression in {name}: {trigger}"
    if name not in DATA_STYLES:
        assert not re.search(r"\sstyle\s*=", text), f"style attribute in {name}"


def test_hsts_is_sent_on_https_requests_when_the_site_is_https(db, client, settings):
    settings.SECURE_HSTS_SECONDS = 31_536_000
    secure = client.get("/", secure=True)
    assert secure["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in client.get("/")  # plain http: browsers ignore it anyway


def test_hsts_defaults_follow_site_url(tmp_path):
    import subprocess

    def seconds(site_url: str) -> str:
        code = (
            "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'metacortex.settings'; django.setup(); "
            "from django.conf import settings; print(settings.SECURE_HSTS_SECONDS)"
        )
        env = {"SITE_URL": site_url, "SECRET_KEY": "s" * 50, "PATH": "/usr/bin:/bin"}
        env["FERNET_KEYS"] = "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s="
        env["METACORTEX_ENV_FILE"] = str(tmp_path / "missing.env")
        env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'x.sqlite3'}"
        result = subprocess.run(
            [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(settings.BASE_DIR)!r}); {code}"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    assert seconds("https://hub.example.com") == "31536000"
    assert seconds("http://127.0.0.1:8000") == "0"


BODY_SECRET = "caldav-pa55word-9d8c7b"
TOKEN = "mc_debugpage_token_1234567890"


@api_view("POST")
def _failing_view(request):
    body = json_body(request)
    password = body["credentials"]["password"]
    raise RuntimeError(f"boom while using {len(password)} characters")


def _report(request) -> tuple[str, str]:
    """The DEBUG page and the text report of an exception raised under an API view (the traceback
    starts here, so only this frame and the view's are in it)."""
    try:
        _failing_view(request)
    except RuntimeError:
        reporter = ExceptionReporter(request, *sys.exc_info())
        return reporter.get_traceback_html(), reporter.get_traceback_text()
    raise AssertionError("the view did not fail")


@pytest.mark.parametrize("debug", [True, False])
def test_error_reports_never_show_an_api_body_or_the_token(owner, settings, debug):
    """The DEBUG page lists each frame's local variables and the request: the body's password and
    the bearer token must be in none of them (Django hides them only with DEBUG off, by default)."""
    from integrations.models import ApiToken

    settings.DEBUG = debug
    plain = ApiToken.issue(owner, "debug page")[1]
    request = RequestFactory().post(
        reverse("api:integrations"),
        json.dumps({"credentials": {"password": BODY_SECRET}}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {plain}",
    )
    html, text = _report(request)
    assert "boom while using" in html  # it is the real report
    assert "HTTP_AUTHORIZATION" in html
    for secret in (BODY_SECRET, plain):
        assert secret not in html
        assert secret not in text


@pytest.mark.usefixtures("catalogue")
def test_error_reports_never_show_the_credentials_of_the_settings_form(owner, settings):
    """The integration settings form posts passwords and secret addresses."""
    from django.views.debug import get_exception_reporter_filter

    from integrations.views.connect import settings_form

    settings.DEBUG = True
    request = RequestFactory().post("/integrations/connect/ical-feed/", {"url": BODY_SECRET, "name": "Cal"})
    request.user = owner
    request._dont_enforce_csrf_checks = True
    settings_form(request, slug="ical-feed")  # the form refuses the address; the request is marked
    cleaned = get_exception_reporter_filter(request).get_post_parameters(request)
    assert cleaned["url"] != BODY_SECRET
    assert cleaned["name"] != "Cal"  # every field: which ones are secret depends on the type
