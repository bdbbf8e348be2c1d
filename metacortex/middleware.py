"""Site-wide middleware."""

import logging
import re
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import RequestDataTooBig
from django.shortcuts import render, resolve_url
from django_htmx.http import HttpResponseClientRedirect

logger = logging.getLogger(__name__)


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


def _invalid_text(text: str) -> bool:
    if "\x00" in text:  # PostgreSQL text cannot hold NUL: psycopg refuses it before sending (a 500)
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class RefuseInvalidTextMiddleware:
    """Form fields and query parameters must be text a database can store. A form posted with an
    exotic charset (charset=utf-7 turns "+2AA-" into a lone UTF-16 surrogate) would otherwise reach
    a model and end in a 500 (SQLite: UnicodeEncodeError); so would a NUL (%00) on PostgreSQL.
    Every form and query string passes through here, so no view needs its own check; the answer
    names the field. JSON bodies are checked where the API parses them (integrations.api.auth.json_body).

    Reading request.POST here is what CsrfViewMiddleware does for every POST anyway."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method == "POST" and request.path.startswith(("/api/", "/ifttt/v1/")):
            # The APIs read their bodies whole (request.body, as JSON). A form parsed from the stream
            # first (below, or by the session's CSRF check) leaves nothing for it to read, a 500 for
            # any client posting multipart/form-data; read whole first, the form is parsed from it.
            try:
                request.body  # noqa: B018
            except RequestDataTooBig:
                from integrations.api.auth import body_too_large

                return body_too_large()
        field = self._bad_field(request)
        if field is None:
            return self.get_response(request)
        message = (
            f"The field “{field}” contains a character that is not valid text (a NUL, or a lone UTF-16 "
            "surrogate). Send the form again as UTF-8, without NUL characters."
        )
        if request.path.startswith("/api/"):
            from integrations.api.auth import error

            return error(400, message, field=field)
        return render(request, "bad_request.html", {"message": message}, status=400)

    @staticmethod
    def _bad_field(request) -> str | None:
        sources = [request.GET]
        if request.method == "POST" and request.content_type in FORM_TYPES:
            sources.append(request.POST)
        for data in sources:
            for key, values in data.lists():
                if _invalid_text(key) or any(isinstance(v, str) and _invalid_text(v) for v in values):
                    return key.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")[:100]
        return None


FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}


# The explicit bidi controls, UTF-8 encoded: LRE RLE PDF LRO RLO (U+202A-U+202E) and LRI RLI FSI PDI
# (U+2066-U+2069).
BIDI_CONTROLS = re.compile(b"\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]")


class BidiControlsMiddleware:
    """No page shows text reordered by Unicode bidi controls. Synced text (a mail subject, an
    attachment's or a photo's file name, an event's location, a person's name) may carry them: with
    a right-to-left override "Invoice \u202efdp.exe" reads "Invoice exe.pdf", and an override left
    open also reverses the hub's own words after it on the same line (the "Trojan Source" trick,
    CVE-2021-42574). They are taken out of every HTML answer (pages, HTMX fragments, the admin), so
    text shows in the order it is stored; right-to-left scripts keep their direction, which comes
    from their letters. JSON answers keep the data as synced: programs read them, not eyes.

    Placed after CommonMiddleware, so the Content-Length it sets is the length of what is sent."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.streaming
            or not response.get("Content-Type", "").startswith("text/html")
            or response.charset.lower().replace("-", "") != "utf8"
        ):
            return response
        content = response.content
        if b"\xe2\x80" in content or b"\xe2\x81" in content:
            cleaned = BIDI_CONTROLS.sub(b"", content)
            if len(cleaned) != len(content):
                response.content = cleaned
                if response.has_header("Content-Length"):
                    response["Content-Length"] = str(len(cleaned))
        return response


class SecurityHeadersMiddleware:
    """Content-Security-Policy and Permissions-Policy on every response (HSTS is Django's
    SecurityMiddleware, from SECURE_HSTS_SECONDS).

    Scripts come from the hub's own files only: HTMX (vendored by django-htmx) and static/js/*.js,
    no inline <script>, no onclick="...", no eval (base.html tells HTMX so). Styles too come from
    our stylesheet; style attributes are allowed (style-src-attr) because two carry data (a type's
    brand colour, a progress bar's width) and cannot run code. Images from the hub itself only:
    synced content has its remote images replaced by placeholders (integrations.templatetags.hub)."""

    POLICY = "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "style-src-attr 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            # No form-action: the OAuth consent form redirects to the provider's sign-in page.
        ]
    )
    PERMISSIONS = ", ".join(
        f"{feature}=()"
        for feature in (
            "accelerometer", "autoplay", "camera", "display-capture", "geolocation", "gyroscope",
            "magnetometer", "microphone", "midi", "payment", "publickey-credentials-get", "usb",
            "browsing-topics", "interest-cohort",
        )
    )  # fmt: skip

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", self.POLICY)
        response.setdefault("Permissions-Policy", self.PERMISSIONS)
        return response


class UnreadableSecretMiddleware:
    """A stored secret the configured FERNET_KEYS cannot open (integrations.fields.UnreadableSecret):
    a 503 page saying so, and the operator's fix logged, instead of a bare server error. People are
    told nothing was lost; staff (the admin) are also told what the operator must do."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        from integrations.fields import UnreadableSecret

        if not isinstance(exception, UnreadableSecret):
            return None
        logger.error("%s (answered %s with 503)", exception, request.path)
        message = (
            "The hub cannot read the stored credentials right now: its encryption keys changed. Nothing was "
            "lost, and the operator has been told; try again later."
        )
        if request.path.startswith("/api/"):
            from integrations.api.auth import error

            return error(503, message)
        user = getattr(request, "user", None)
        detail = str(exception) if user is not None and user.is_authenticated and user.is_staff else ""
        return render(request, "unreadable_secret.html", {"message": message, "detail": detail}, status=503)
