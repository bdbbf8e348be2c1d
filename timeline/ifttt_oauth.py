"""Connecting IFTTT to a person's account: the OAuth2 authorization-code flow IFTTT's platform runs
(ifttt.com/docs/api_reference, "Authentication"). The access token it receives is a personal API
token named "IFTTT", listed on the API tokens page, where the person can revoke it.

- GET  /ifttt/oauth/authorize?client_id&redirect_uri&state&response_type=code: the signed-in person
  allows or denies; back to IFTTT's redirect URI with a one-time `code` (10 minutes) and the state.
- POST /ifttt/oauth/token (client id and secret, grant_type=authorization_code, code, redirect_uri):
  {"token_type": "Bearer", "access_token": "mc_…"}.
The client id and secret are the ones entered in the IFTTT Platform (IFTTT_CLIENT_ID,
IFTTT_CLIENT_SECRET); the redirect URI must be on ifttt.com over HTTPS.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.cache import cache
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from integrations.models import ApiToken

CODE_SECONDS = 600
SALT = "timeline.ifttt.oauth-code"
REDIRECT_HOST = "ifttt.com"


def _redirect_ok(uri: str) -> bool:
    parts = urlsplit(uri or "")
    return parts.scheme == "https" and parts.hostname == REDIRECT_HOST and "@" not in parts.netloc and not parts.port


def _same(given: str, expected: str) -> bool:
    return bool(expected) and hmac.compare_digest((given or "").encode(), expected.encode())


@login_required
@require_http_methods(["GET", "POST"])
def authorize(request):
    params = request.GET
    client_id, redirect_uri = params.get("client_id", ""), params.get("redirect_uri", "")
    state = params.get("state", "")
    if params.get("response_type") != "code" or not _same(client_id, settings.IFTTT_CLIENT_ID):
        return _refuse(request, "This link to connect IFTTT is not one this hub recognises: start again from IFTTT.")
    if not _redirect_ok(redirect_uri):
        return _refuse(request, "This link would send you somewhere other than IFTTT, so it was stopped.")
    if request.method == "GET":
        return render(request, "timeline/ifttt_authorize.html", {})
    if request.POST.get("decision") != "allow":
        return HttpResponseRedirect(_with_query(redirect_uri, {"error": "access_denied", "state": state}))
    code = signing.dumps({"u": request.user.pk, "r": redirect_uri}, salt=SALT, compress=True)
    return HttpResponseRedirect(_with_query(redirect_uri, {"code": code, "state": state}))


def _refuse(request, message: str):
    return render(request, "timeline/ifttt_authorize.html", {"problem": message}, status=400)


def _with_query(uri: str, values: dict) -> str:
    return uri + ("&" if urlsplit(uri).query else "?") + urlencode(values)


@csrf_exempt  # called by IFTTT's servers with the client secret, never by a browser
@require_POST
def token(request):
    values = _form(request)
    client_id, secret = values.get("client_id", ""), values.get("client_secret", "")
    basic = request.headers.get("Authorization", "")
    if basic.lower().startswith("basic "):
        try:
            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
        except (ValueError, UnicodeError):
            client_id = secret = ""
    if not (_same(client_id, settings.IFTTT_CLIENT_ID) and _same(secret, settings.IFTTT_CLIENT_SECRET)):
        return _oauth_error(401, "invalid_client", "The client id or secret is wrong.")
    if values.get("grant_type") != "authorization_code":
        return _oauth_error(400, "unsupported_grant_type", "Only the authorization_code grant is supported.")
    code = values.get("code", "")
    try:
        granted = signing.loads(code, salt=SALT, max_age=CODE_SECONDS)
    except signing.BadSignature:
        return _oauth_error(400, "invalid_grant", "The code is wrong or has expired: connect again.")
    if granted.get("r") != values.get("redirect_uri"):
        return _oauth_error(400, "invalid_grant", "The redirect URI is not the one the code was given for.")
    # One use only: a code seen before is refused (RFC 6749 section 4.1.2).
    if not cache.add("ifttt-code:" + hashlib.sha256(code.encode()).hexdigest(), 1, CODE_SECONDS + 60):
        return _oauth_error(400, "invalid_grant", "The code has already been used: connect again.")
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(pk=granted.get("u"), is_active=True).first()
    if user is None:
        return _oauth_error(400, "invalid_grant", "The account that allowed IFTTT is gone.")
    _, plain = ApiToken.issue(user, "IFTTT")
    response = JsonResponse({"token_type": "Bearer", "access_token": plain})
    response["Cache-Control"] = "no-store"
    return response


def _form(request) -> dict:
    if request.content_type == "application/json":
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return {}
        return {k: v for k, v in body.items() if isinstance(v, str)} if isinstance(body, dict) else {}
    return request.POST.dict()


def _oauth_error(status: int, error: str, description: str) -> JsonResponse:
    response = JsonResponse({"error": error, "error_description": description}, status=status)
    response["Cache-Control"] = "no-store"
    return response
