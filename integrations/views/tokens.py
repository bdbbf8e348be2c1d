"""Personal API tokens: created (shown once) and revoked in the UI.

Creating one redirects (a refresh must not create a second token); the new token rides in the
session to the next page, encrypted with the hub's Fernet key so the session table never holds a
usable token, and is popped as it is shown: it appears exactly once.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from integrations.fields import seal, unseal
from integrations.models import ApiToken

SESSION_KEY = "new_api_token"


def _remember_once(request, plain: str) -> None:
    request.session[SESSION_KEY] = seal(plain)


def _pop_remembered(request) -> str | None:
    sealed = request.session.pop(SESSION_KEY, None)
    # None when the keys changed in between: the token exists, only this display is lost.
    return unseal(sealed) if sealed else None


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request):
    error = ""
    if request.method == "POST":
        name = request.POST.get("name", "").strip()[:100]
        if name:
            _token, plain = ApiToken.issue(request.user, name)
            _remember_once(request, plain)
            return redirect("integrations:tokens")
        error = "Give the token a name, e.g. the script or machine that will use it."
    new_token = _pop_remembered(request) if request.method == "GET" else None
    context = {
        "tokens": ApiToken.objects.filter(user=request.user),
        "new_token": new_token,
        "error": error,
    }
    response = render(request, "integrations/tokens.html", context, status=400 if error else 200)
    if new_token:
        response["Cache-Control"] = "no-store"  # the one page that shows the token: never cached
    return response


@login_required
@require_POST
def revoke(request, token_pk):
    token = get_object_or_404(ApiToken.objects.filter(user=request.user), pk=token_pk)
    if token.revoked_at is None:
        token.revoke()
        messages.success(request, f"Revoked the token “{token.name}”: it no longer works.")
    return redirect("integrations:tokens")
