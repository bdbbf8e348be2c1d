"""Connect and edit: one view, one form generated from the blueprint, tested before saving."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from connectors.errors import AUTH, CONFIG, TRANSIENT
from integrations import connections, schema
from integrations.connections import Problem
from integrations.forms import IntegrationForm
from integrations.models import AuthKind, CardState, IntegrationType
from integrations.uploads import imports
from integrations.views import uploads
from integrations.views.common import owned

ADDRESS_TYPES = {"url", "secret_url", "host"}
ADDRESS_NAMES = ("url", "host", "server_url", "server", "address")


def _address_field(itype) -> str | None:
    """The field holding the server's address: the first url/host field of the blueprint."""
    return next(
        (s["name"] for s in itype.settings_schema if s["type"] in ADDRESS_TYPES or s["name"] in ADDRESS_NAMES), None
    )


def _on_a_field(itype, problem: Problem) -> Problem:
    """A connection error that names no field (an SSRF refusal, an unknown host, a timeout; or
    refused credentials) goes under the field to fix, so the form highlights something."""
    if problem.errors or problem.kind not in (CONFIG, TRANSIENT, AUTH):
        return problem
    if problem.kind == AUTH:
        field = next((s["name"] for s in itype.auth_schema if s["type"] in schema.SECRET_TYPES), None)
    else:
        field = _address_field(itype)
    if field:
        problem.field = field
        problem.errors = {field: problem.message}
    return problem


def _coming_soon(request, itype, problem: Problem):
    return render(request, "integrations/unavailable.html", {"itype": itype, "problem": problem}, status=404)


def _target(request, slug=None, pk=None):
    """(integration type, integration or None) for the add form (slug) or the edit form (pk)."""
    if pk is not None:
        integration = owned(request, pk)
        return integration.type, integration
    return get_object_or_404(IntegrationType, slug=slug), None


@sensitive_post_parameters()  # credentials: never in an error report (metacortex.debug)
@login_required
@require_http_methods(["GET", "POST"])
def settings_form(request, slug=None, pk=None):
    """GET shows the form; POST tests the connection first, then saves (or shows the error)."""
    itype, integration = _target(request, slug, pk)
    if integration is None:
        if itype.auth_kind == AuthKind.OAUTH2 and itype.is_available:
            return redirect("oauth:consent", itype.slug)
        if itype.card_state == CardState.SERVICE and request.method == "GET":
            return redirect(itype.service_url)  # Zapier, IFTTT: the page with the values to paste
        if itype.auth_kind == AuthKind.ARCHIVE and imports.accepts_archives(itype):
            return uploads.connect_page(request, itype)  # upload the export, then import it
        if problem := connections.connectable_problem(itype):
            return _coming_soon(request, itype, problem)
    form = IntegrationForm(itype, user=request.user, integration=integration, data=request.POST or None)
    if request.method == "POST":
        try:
            if integration is None:
                saved = connections.connect(request.user, itype, form.raw_values())
                started = " The first sync has started." if saved.sync_job else ""
                messages.success(request, f"Connected {saved.integration.name}: {saved.test_result}.{started}")
            else:
                saved = connections.update(integration, form.raw_values())
                resync = " A full sync has started, to read everything with the new settings." if saved.sync_job else ""
                if saved.reconnected:
                    messages.success(request, f"Reconnected {saved.integration.name}: {saved.test_result}.{resync}")
                elif saved.changed:
                    detail = " Connection tested." if saved.tested else ""
                    messages.success(request, f"Saved the settings of {saved.integration.name}.{detail}{resync}")
                else:
                    messages.info(request, "Nothing changed.")
            return redirect(saved.integration)
        except Problem as problem:
            form.apply(_on_a_field(itype, problem))
            if integration is not None:
                integration.refresh_from_db()  # the page shows what is stored, not the rejected edit
    context = {"itype": itype, "integration": integration, "form": form}
    return render(request, "integrations/settings_form.html", context, status=400 if form.problem else 200)


@sensitive_post_parameters()
@login_required
@require_POST
def check_connection(request, slug=None, pk=None):
    """The "Test connection" button: a partial with the account identity or the error. Saves nothing."""
    itype, integration = _target(request, slug, pk)
    if integration is None and (problem := connections.connectable_problem(itype)):
        if not request.htmx:
            return _coming_soon(request, itype, problem)
        return render(request, "integrations/_test_result.html", {"problem": problem, "field_errors": {}})
    form = IntegrationForm(itype, user=request.user, integration=integration, data=request.POST)
    identity, problem = "", None
    try:
        identity = connections.check(request.user, itype, form.raw_values(), integration=integration)
    except Problem as exc:
        problem = _on_a_field(itype, exc)
    context = {"identity": identity, "problem": problem, "field_errors": form.field_errors_for_test(problem)}
    if request.htmx:
        return render(request, "integrations/_test_result.html", context)
    # Without JavaScript the button posts here: show the whole form again with the outcome.
    if problem:
        form.apply(problem)
    else:
        form.keep_typed_secrets()  # it works: Connect or Save comes next, with nothing to type again
    context.update({"itype": itype, "integration": integration, "form": form, "tested_identity": identity})
    return render(request, "integrations/settings_form.html", context, status=400 if problem else 200)
