from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_safe

from integrations.lifecycle import delete_account as remove
from integrations.models import Integration, IntegrationType, SyncedItem
from workflows.models import Workflow


@require_safe
def home(request):
    if request.user.is_authenticated:
        return redirect("integrations:mine")
    from integrations.views.gallery import with_availability

    types = with_availability(IntegrationType.objects.order_by("sort_order", "display_name"))
    return render(request, "home.html", {"types": types})


def csrf_failure(request, reason: str = ""):
    """A form sent with a stale CSRF token (opened before a log-in or log-out in another tab, or left
    open too long): the hub's own page, in its layout and with the person's session, saying what
    happened and offering the page the form came from, instead of Django's bare technical page. The
    reason stays in the log: it names the check, which helps no one filling a form."""
    from django.middleware.csrf import REASON_NO_CSRF_COOKIE
    from django.utils.http import url_has_allowed_host_and_scheme

    referer = request.META.get("HTTP_REFERER", "")
    came_from = (
        referer
        if referer and url_has_allowed_host_and_scheme(referer, {request.get_host()}, require_https=request.is_secure())
        else ""
    )
    context = {"came_from": came_from, "no_cookie": reason == REASON_NO_CSRF_COOKIE}
    return render(request, "403_csrf.html", context, status=403)


@require_safe
def favicon(request):
    """Browsers and feed readers ask for /favicon.ico whatever a page's <link rel=icon> says."""
    from django.templatetags.static import static

    return redirect(static("icons/metacortex.svg"), permanent=True)


@require_safe
def healthz(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"ok": True})


@sensitive_post_parameters("password")
@login_required
def delete_account(request):
    """Delete one's own account and everything stored for it, after the password is confirmed."""
    user = request.user
    error = ""
    if request.method == "POST":
        if not user.check_password(request.POST.get("password", "")):
            error = "That password is not correct; nothing was deleted."
        else:
            email = user.email
            logout(request)
            count = remove(user)
            if count:
                held = f"{count} integration{'s' if count != 1 else ''}"
                messages.success(request, f"The account {email}, its {held} and what they synced were deleted.")
            else:
                messages.success(request, f"The account {email} was deleted.")
            return redirect("home")
    counts = {
        "integrations": Integration.objects.filter(user=user).count(),
        "items": SyncedItem.objects.filter(user=user).count(),
        "workflows": Workflow.objects.filter(owner=user).count(),
    }
    return render(request, "account/delete.html", {"counts": counts, "error": error}, status=400 if error else 200)
