"""Notifications: integrations that need re-auth or keep failing, and workflows paused because of
a change to one of them, each with the link that fixes it."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from integrations import dependents
from integrations.models import Integration, JobStatus, SyncJob


@require_safe
@login_required
def notifications(request):
    user = request.user
    attention = list(Integration.objects.for_user(user).needing_attention().select_related("type"))
    failures = list(
        SyncJob.objects.filter(
            integration__in=Integration.objects.for_user(user),
            status=JobStatus.FAILED,
            finished_at__gte=timezone.now() - timedelta(days=7),
        )
        .select_related("integration")
        .order_by("-finished_at")[:10]
    )
    flagged = dependents.needing_attention(user)
    context = {"attention": attention, "failures": failures, "flagged_workflows": flagged}
    return render(request, "integrations/notifications.html", context)
