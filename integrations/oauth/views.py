"""OAuth pages: the consent page, the redirect to the provider, the callback, and the question
asked when a re-authentication signs in as a different account. Thin: the work is in flow.py."""

from __future__ import annotations

import logging
from urllib.parse import urlencode, urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from connectors.errors import ConnectorError
from integrations import connections
from integrations.models import AuthKind, Integration, IntegrationType
from integrations.oauth import clients, flow

log = logging.getLogger(__name__)


def _oauth_type(slug: str) -> IntegrationType:
    return get_object_or_404(IntegrationType, slug=slug, auth_kind=AuthKind.OAUTH2)


def _own_integration(request, itype, raw_id) -> Integration | None:
    if not raw_id:
        return None
    if not str(raw_id).isdigit():
        raise Http404("No such integration.")
    return get_object_or_404(Integration.objects.for_user(request.user), pk=int(raw_id), type=itype)


def _consent_url(slug: str, integration_id: int | None = None) -> str:
    url = reverse("oauth:consent", args=[slug])
    return f"{url}?{urlencode({'integration': integration_id})}" if integration_id else url


def _page(request, itype, integration, *, name: str = "", error: str = "", status: int = 200):
    client = clients.resolve(itype)
    authorize_url = client.authorize_url if client else itype.oauth_authorize_url
    env_id, env_secret = clients.env_names(itype.slug)
    context = {
        "itype": itype,
        "integration": integration,
        "configured": client is not None,
        "available": itype.is_available and bool(itype.handler),
        "provider_host": urlsplit(authorize_url).hostname or "",
        "env_id": env_id,
        "env_secret": env_secret,
        "redirect_uri": flow.redirect_uri(),
        "name": name or (integration.name if integration else connections.default_name(request.user, itype)),
        "error": error,
    }
    return render(request, "oauth/consent.html", context, status=status)


@login_required
@require_GET
def consent(request, slug):
    itype = _oauth_type(slug)
    integration = _own_integration(request, itype, request.GET.get("integration"))
    return _page(request, itype, integration)


@login_required
@require_POST
def start(request, slug):
    itype = _oauth_type(slug)
    integration = _own_integration(request, itype, request.POST.get("integration"))
    if not (itype.is_available and itype.handler):
        messages.error(request, f"{itype.display_name} cannot be connected yet.")
        return redirect(_consent_url(slug))
    name = ""
    if integration is None:
        name = (request.POST.get("name") or "").strip()
        try:
            connections.prepare(request.user, itype, {"name": name})
        except connections.Problem as exc:
            return _page(request, itype, None, name=name, error=exc.errors.get("name") or exc.message, status=400)
    try:
        url = flow.begin(request, itype, name=name, integration=integration)
    except ConnectorError as exc:
        messages.error(request, f"{exc.message} {exc.remediation}")
        return redirect(_consent_url(slug, integration.pk if integration else None))
    return redirect(url)


@login_required
@require_GET
def callback(request):
    try:
        outcome = flow.complete(request)
    except flow.FlowError as exc:
        messages.error(request, exc.message)
        if exc.slug:
            return redirect(_consent_url(exc.slug, exc.integration_id))
        return redirect("integrations:gallery")
    if outcome.needs_confirmation:
        return redirect("oauth:confirm_account")
    _report(request, outcome)
    return redirect(outcome.integration.get_absolute_url())


def _report(request, outcome: flow.Outcome):
    integration = outcome.integration
    who = f" as {outcome.identity}" if outcome.identity else ""
    if outcome.created:
        messages.success(request, f"{integration.name} is connected{who}. The first sync has been queued.")
    elif outcome.replaced:
        messages.success(
            request,
            f"{integration.name} now reads {outcome.identity}'s data. The records synced from {outcome.replaced} "
            f"were marked as removed; the next sync reads {outcome.identity}'s data from the start.",
        )
    else:
        messages.success(request, f"{integration.name} is re-authenticated{who}; its settings and data are unchanged.")
    if outcome.missing:
        lost = "; ".join(m["purpose"].rstrip(".") for m in outcome.missing)
        messages.warning(
            request,
            f"{integration.type.display_name} did not grant every permission, so this will not work: {lost}. "
            "Re-authenticate and allow them to fix it (the integration's page keeps saying so until then).",
        )


@login_required
@require_http_methods(["GET", "POST"])
def confirm_account(request):
    pending = flow.pending_switch(request)
    if pending is None:
        messages.info(request, "Nothing is waiting for confirmation.")
        return redirect("integrations:mine")
    integration = get_object_or_404(Integration.objects.for_user(request.user), pk=pending["integration_id"])
    if request.method == "GET":
        context = {
            "integration": integration,
            "new_identity": pending["identity"],
            "records": flow.live_records(integration),
        }
        return render(request, "oauth/confirm_account.html", context)
    # "switch" answers the other-account question, "same" the unreadable-account one.
    accept = request.POST.get("choice") == ("switch" if pending["identity"] else "same")
    try:
        outcome = flow.confirm_switch(request, accept=accept)
    except flow.FlowError as exc:
        messages.error(request, exc.message)
        return redirect(integration.get_absolute_url())
    if accept:
        _report(request, outcome)
    else:
        messages.info(request, f"Kept {integration.name} connected as {integration.account_identity}; nothing changed.")
    return redirect(integration.get_absolute_url())
