"""The page that explains how to use the hub from Zapier and IFTTT, with the values to paste."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_safe

from connectors.kinds import KINDS
from integrations.models import Integration


@login_required
@require_safe
def automate(request):
    from workflows.models import Workflow

    return render(
        request,
        "timeline/automate.html",
        {
            "site": settings.SITE_URL,
            "api": settings.SITE_URL + "/api/v1",
            "ifttt_ready": bool(settings.IFTTT_SERVICE_KEY),
            "kinds": list(KINDS.values()),
            "integrations": Integration.objects.filter(user=request.user).order_by("name").only("pk", "name"),
            "workflows": Workflow.objects.filter(owner=request.user).order_by("name").only("pk", "name"),
        },
    )
