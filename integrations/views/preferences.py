"""The person's preferences: the time zone every time in the hub is shown in."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from integrations.timezones import all_zones, set_zone, valid_zone, zone_name_for


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request):
    error = ""
    current = zone_name_for(request.user)
    if request.method == "POST":
        chosen = request.POST.get("time_zone", "")
        if valid_zone(chosen):
            set_zone(request.user, chosen, request)
            messages.success(request, f"Times are now shown in {chosen}.")
            return redirect("preferences")
        error = "Choose a time zone from the list (a city like Europe/Zurich)."
    context = {"zones": all_zones(), "current": current, "error": error}
    return render(request, "account/preferences.html", context, status=400 if error else 200)
