"""Google Photos picking: the page that starts a Picker session and sends the user to Google.

POST creates the session (sessions.create) and queues an import job that polls it until the user
presses Done in Google Photos, then imports what was picked. The page shows the link to Google's
picker (it opens in a new tab) and the job's progress page.
https://developers.google.com/photos/picker/guides/get-started-picker
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from connectors.errors import ConnectorError
from integrations.models import Actor, Integration, JobKind, JobTrigger
from integrations.sync.context import build_context
from integrations.sync.jobs import SyncRefused, queue_sync


@login_required
@require_http_methods(["GET", "POST"])
def photos_pick(request, pk):
    integration = get_object_or_404(
        Integration.objects.for_user(request.user).select_related("type"), pk=pk, type__handler="google_photos"
    )
    if request.method == "GET":
        return render(request, "oauth/photos_pick.html", {"integration": integration})
    ctx = build_context(integration, purpose="start a Google Photos pick", actor=Actor.USER)
    connector = integration.type.connector_class()(ctx)
    try:
        session = connector.create_session()
        job = queue_sync(
            integration, kind=JobKind.BACKFILL, trigger=JobTrigger.MANUAL, options={"picker_session": session["id"]}
        )
    except ConnectorError as exc:
        messages.error(request, f"{exc.message} {exc.remediation}")
        return redirect(integration.get_absolute_url())
    except SyncRefused as exc:
        messages.error(request, str(exc))
        return redirect(integration.get_absolute_url())
    finally:
        connector.close()
        ctx.http.close()
    if job.options.get("picker_session") != session["id"]:
        messages.error(request, "Another import is still running for this integration; try again when it ends.")
        return redirect(integration.get_absolute_url())
    picker_uri = session["pickerUri"].rstrip("/") + "/autoclose"
    return render(request, "oauth/photos_pick.html", {"integration": integration, "picker_uri": picker_uri, "job": job})
