"""The upload page: an archive type's connect page, and "Import an export" on an integration that
takes archives. The files travel in chunks through the JSON API's upload routes
(static/js/upload.js, with the session's CSRF token); this page then starts the import job."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from connectors import archives
from integrations.connections import Problem
from integrations.forms import IntegrationForm
from integrations.models import AuthKind, IntegrationType, JobTrigger, Upload, UploadStatus
from integrations.uploads import imports, receive, storage
from integrations.uploads.problems import UploadProblem
from integrations.views.common import owned

CLIENT_CHUNK = 8 * 1024 * 1024


def _expected_file(itype) -> str:
    """What to choose, in words ("a Kindle My Clippings file"), where the type's connector names its
    export; the file field's label said only the ten extensions every archive type accepts."""
    export = getattr(imports.archive_connector(itype), "EXPORT", "")
    return archives.EXPORTS.get(export, "") if isinstance(export, str) else ""


def archive_page(request, itype, integration=None):
    """GET: the upload page. POST: start the import of the uploaded files (creating the
    integration first when it is new)."""
    if not imports.accepts_archives(itype):
        raise Http404("This type does not import archives.")
    form = None
    if integration is None:
        form = IntegrationForm(itype, user=request.user, data=request.POST or None)
    problem = None
    if request.method == "POST":
        try:
            job = imports.start_import(
                request.user,
                request.POST.getlist("upload"),
                integration=integration,
                itype=itype,
                settings_data=form.raw_values() if form is not None else None,
                keep_archive=request.POST.get("keep_archive") == "on",
                trigger=JobTrigger.UPLOAD,
            )
        except UploadProblem as exc:
            problem = exc
        except Problem as exc:
            form.apply(exc)
            problem = UploadProblem(exc.message, remediation=exc.remediation)
        else:
            messages.success(
                request, f"Importing into {job.integration.name}: the progress shows below. Nothing is counted twice."
            )
            return redirect(job)
    context = {
        "itype": itype,
        "integration": integration,
        "form": form,
        "problem": problem,
        "uploads": list(imports.pending_uploads(request.user, itype, integration)),
        "chunk_size": min(CLIENT_CHUNK, settings.UPLOAD_CHUNK_MAX_BYTES),
        "max_bytes": settings.UPLOAD_MAX_BYTES,
        "extensions": ",".join(f".{ext}" for ext in storage.ARCHIVE_EXTENSIONS),
        "expected_file": _expected_file(itype),
    }
    return render(request, "integrations/upload.html", context, status=400 if problem else 200)


@login_required
@require_http_methods(["GET", "POST"])
def import_export(request, pk):
    integration = owned(request, pk)
    return archive_page(request, integration.type, integration)


def connect_page(request, itype):
    """The connect page of an archive type (called by connect.settings_form)."""
    if itype.auth_kind != AuthKind.ARCHIVE:
        raise Http404("This type connects another way.")
    return archive_page(request, itype)


@login_required
@require_POST
def plain_upload(request, slug=None, pk=None):
    """The upload form without JavaScript: the whole file in one multipart POST. A body larger
    than the cap is refused from its Content-Length, before Django reads it."""
    if pk is not None:
        integration = owned(request, pk)
        itype, back = integration.type, redirect("integrations:import_export", pk)
    else:
        integration, itype = None, get_object_or_404(IntegrationType, slug=slug, auth_kind=AuthKind.ARCHIVE)
        back = redirect("integrations:connect", slug)
    if not imports.accepts_archives(itype):
        raise Http404("This type does not import archives.")
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.UPLOAD_MAX_BYTES + 64 * 1024:  # the file plus the form's few fields
        messages.error(request, f"The file is larger than this hub accepts ({settings.UPLOAD_MAX_BYTES:,} bytes).")
        return back
    files = request.FILES.getlist("files")
    if not files:
        messages.error(request, "Choose the export file first.")
        return back
    for uploaded in files:
        try:
            upload = imports.check_complete_upload(
                receive.receive_whole_file(request.user, itype, uploaded, integration=integration)
            )
        except UploadProblem as problem:
            messages.error(request, " ".join(filter(None, [problem.message, problem.remediation])))
            continue
        if upload.status == UploadStatus.REJECTED:
            messages.error(request, upload.detail)
        else:
            messages.success(request, f"Uploaded {upload.filename}: {upload.detail or 'ready to import'}.")
    return back


@login_required
@require_POST
def remove(request, upload_id):
    upload = get_object_or_404(Upload.objects.for_user(request.user).select_related("type"), pk=upload_id)
    try:
        imports.cancel(upload)
        messages.success(request, f"Removed {upload.filename} and its stored bytes.")
    except UploadProblem as problem:
        messages.error(request, problem.message)
    if upload.integration_id:
        return redirect("integrations:import_export", upload.integration_id)
    return redirect("integrations:connect", upload.type.slug)
