"""Connecting a bank through Plaid's Hosted Link: no Plaid script on the hub's pages.

    POST /plaid/link/start/ (CSRF; optional integration = re-connect in update mode)
      -> /link/token/create with hosted_link.completion_redirect_uri = SITE_URL/plaid/link/return/
      -> redirect to Plaid's hosted_link_url; the person picks the bank and signs in there
    GET /plaid/link/return/ (Plaid sends the browser back)
      -> /link/token/get: the session's item_add_results hold the public token
      -> /item/public_token/exchange -> access token -> connections.connect (test, create, first sync)
      update mode: no new token; the integration is re-tested with its own token and syncs again.

The link token lives in the person's session only, so the return view acts for whoever started
the flow and nobody else. Docs: https://plaid.com/docs/link/hosted-link/,
https://plaid.com/docs/api/link/#linktokencreate, https://plaid.com/docs/api/link/#linktokenget,
https://plaid.com/docs/link/update-mode/, https://plaid.com/docs/api/items/#itempublic_tokenexchange.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from connectors.errors import ConnectorError
from integrations import connections
from integrations.models import Actor, Integration, IntegrationType
from integrations.plaid.client import call
from integrations.secrets import secrets_for

log = logging.getLogger(__name__)

SESSION_KEY = "plaid_link"
URL_LIFETIME = 30 * 60  # seconds the hosted page stays valid
HISTORY_DAYS = 365  # asked of the bank when the Item is created; a sync cannot ask for more later


def _site(name: str) -> str:
    return f"{settings.SITE_URL}{reverse(name)}"


def _failed(request, message: str, where: str):
    messages.error(request, message)
    return redirect(where)


@login_required
@require_POST
def start(request):
    itype = get_object_or_404(IntegrationType, slug="plaid")
    integration = None
    body = {
        "client_name": "MetaCortex",
        "language": "en",
        "country_codes": list(settings.PLAID_COUNTRY_CODES),
        # Plaid's user id must not be personal data: the account's number is enough.
        "user": {"client_user_id": f"user-{request.user.pk}"},
        "webhook": _site("plaid_webhook"),
        "hosted_link": {"completion_redirect_uri": _site("plaid_link_return"), "url_lifetime_seconds": URL_LIFETIME},
    }
    if request.POST.get("integration"):
        if not request.POST["integration"].isdigit():  # a form edited by hand: no such integration, not a 500
            raise Http404("No such integration.")
        integration = get_object_or_404(
            Integration.objects.for_user(request.user), pk=int(request.POST["integration"]), type=itype
        )
        body["access_token"] = secrets_for(integration, actor=Actor.USER).get("access_token", "")
        where = reverse("integrations:detail", args=[integration.pk])
    else:
        if problem := connections.connectable_problem(itype):
            return _failed(request, problem.message, reverse("integrations:gallery"))
        body["products"] = ["transactions"]
        body["transactions"] = {"days_requested": HISTORY_DAYS}
        where = reverse("integrations:gallery")
    try:
        answer = call("/link/token/create", body)
    except ConnectorError as exc:
        return _failed(request, f"Plaid could not start linking: {exc} {getattr(exc, 'remediation', '')}", where)
    url = str(answer.get("hosted_link_url") or "")
    if not url.startswith(("https://", "http://")) or not answer.get("link_token"):
        return _failed(request, "Plaid did not offer its hosted page. Try again later.", where)
    request.session[SESSION_KEY] = {
        "token": answer["link_token"],
        "integration": integration.pk if integration else None,
    }
    return HttpResponseRedirect(url)


@login_required
@require_GET
def finish(request):
    state = request.session.pop(SESSION_KEY, None)
    if not isinstance(state, dict) or not state.get("token"):
        return _failed(request, "No Plaid linking was under way. Start again from the gallery.", "integrations:gallery")
    integration = None
    if state.get("integration"):
        integration = Integration.objects.for_user(request.user).filter(pk=state["integration"]).first()
        if integration is None:
            return _failed(request, "That integration no longer exists.", "integrations:mine")
    where = reverse("integrations:detail", args=[integration.pk]) if integration else reverse("integrations:gallery")
    try:
        sessions = call("/link/token/get", {"link_token": state["token"]}).get("link_sessions") or []
    except ConnectorError as exc:
        return _failed(request, f"Plaid could not say how linking went: {exc}", where)
    finished = [s for s in sessions if s.get("finished_at") or s.get("results")]
    if not finished:
        return _failed(request, "Linking with Plaid was not finished. Nothing was changed.", where)
    if integration is not None:
        return _repaired(request, integration, where)
    public_tokens = [
        r.get("public_token")
        for s in finished
        for r in ((s.get("results") or {}).get("item_add_results") or [])
        if r.get("public_token")
    ]
    if not public_tokens:
        return _failed(request, "Plaid linked no bank. Nothing was changed.", where)
    itype = IntegrationType.objects.get(slug="plaid")
    created = []
    for public_token in public_tokens:
        try:
            access = call("/item/public_token/exchange", {"public_token": public_token}).get("access_token") or ""
            name = connections.default_name(request.user, itype)
            saved = connections.connect(request.user, itype, {"name": name, "access_token": access})
        except (ConnectorError, connections.Problem) as exc:
            messages.error(request, f"A bank could not be connected: {exc}")
            continue
        created.append(saved.integration)
    if not created:
        return redirect(where)
    messages.success(request, f"Connected {created[0].account_identity} through Plaid; the first sync has started.")
    return redirect("integrations:detail", pk=created[0].pk)


def _repaired(request, integration: Integration, where: str):
    """Update mode fixed the Item in place: re-test with the same token and sync again."""
    token = secrets_for(integration, actor=Actor.USER).get("access_token", "")
    try:
        connections.update(integration, {"access_token": token})
    except connections.Problem as exc:
        return _failed(request, f"Plaid still refuses this connection: {exc} {exc.remediation}".strip(), where)
    messages.success(request, "Re-connected with Plaid; syncing again.")
    return redirect(where)
