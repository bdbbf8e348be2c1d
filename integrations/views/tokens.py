"""Personal API tokens: created (shown once) and revoked in the UI."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from integrations.models import ApiToken


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request):
    new_token, error = None, ""
    if request.method == "POST":
        name = request.POST.get("name", "").strip()[:100]
        if not name:
            error = "Give the token a name, e.g. the script or machine that will use it."
        else:
            _token, new_token = ApiToken.issue(request.user, name)
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
